#!/bin/sh
# Man pages: mandoc -Tlint must report no warning, and every command in an
# EXAMPLES section's literal blocks must run with status 0.
POFA=${POFA:-bin/pofa}
fails=0
# the examples write under /tmp/pofa-*: start clean
rm -rf /tmp/pofa-demo /tmp/pofa-data /tmp/pofa-run
for page in man/*.[15]; do
	if ! command -v mandoc >/dev/null 2>&1; then
		echo "FAIL mandoc is not installed (make deps installs it)"; exit 1
	fi
	lint=$(mandoc -Tlint -W warning "$page" 2>&1)
	if [ -n "$lint" ]; then
		echo "FAIL $page: mandoc -Tlint:"; echo "$lint"; fails=$((fails + 1))
	fi
	awk '/^\.Sh EXAMPLES/ { ex = 1; next } /^\.Sh / { ex = 0 }
	     ex && /^\.Bd -literal/ { lit = 1; next } /^\.Ed/ { lit = 0; next }
	     ex && lit && /^pofa / { print }' "$page" > "$page.examples.tmp"
	while IFS= read -r cmd; do
		rest=${cmd#pofa }
		# shellcheck disable=SC2086
		if sh -c "\"$POFA\" $rest" >/dev/null 2>&1; then
			echo "ok   $page: $cmd"
		else
			echo "FAIL $page example: $cmd"; fails=$((fails + 1))
		fi
	done < "$page.examples.tmp"
	rm -f "$page.examples.tmp"
done
[ "$fails" -eq 0 ]
