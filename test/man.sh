#!/bin/sh
# Man pages: mandoc -Tlint must report no warning, every key of the recipe
# key table is in pofa-recipe(5), and every command in an
# EXAMPLES section's literal blocks must run with status 0. The examples run
# as written, in a scratch folder that holds a small slice of the data at
# gen/data and the recipes; their /tmp/pofa-* paths are moved into it.
. test/fixture.sh
command -v mandoc >/dev/null 2>&1 || { echo "FAIL mandoc is not installed (make deps installs it)"; exit 1; }
data_slice "$tmp/gen/data"
cp -r recipes "$tmp/recipes"
for page in man/*.[135]; do
	lint=$(mandoc -Tlint -W warning "$page" 2>&1)
	if [ -n "$lint" ]; then
		echo "FAIL $page: mandoc -Tlint:"; echo "$lint"; fails=$((fails + 1))
	fi
	awk '/^\.Sh EXAMPLES/ { ex = 1; next } /^\.Sh / { ex = 0 }
	     ex && /^\.Bd -literal/ { lit = 1; next } /^\.Ed/ { lit = 0; next }
	     ex && lit && /^pofa / { print }' "$page" > "$tmp/examples"
	while IFS= read -r cmd; do
		rest=$(printf '%s\n' "${cmd#pofa }" | sed "s|/tmp/pofa-|$tmp/pofa-|g")
		# shellcheck disable=SC2086
		if (cd "$tmp" && sh -c "\"$POFA\" $rest") >"$tmp/out" 2>&1; then
			echo "ok   $page: $cmd"
		else
			echo "FAIL $page example: $cmd"; tail -5 "$tmp/out"; fails=$((fails + 1))
		fi
	done < "$tmp/examples"
done
# every key the recipe loader takes (its key table) is documented
"$POFA" recipe --keys > "$tmp/keys" 2>&1 || { cat "$tmp/keys"; bad "pofa recipe --keys"; }
nk=0
for k in $(awk '/^  [a-z_]+ /{ print $1 }' "$tmp/keys" | sort -u); do
	nk=$((nk + 1))
	grep -q "Cm $k\b" man/pofa-recipe.5 || bad "pofa-recipe(5) does not document the key $k"
done
[ "$nk" -ge 50 ] && ok "pofa-recipe(5) documents all $nk keys of pofa recipe --keys" || bad "only $nk keys listed"
# the shipped recipes' comments sit above what they describe: a comment
# paragraph (after a blank line) is followed by a [section] or a blank
# line, never by a key that belongs to the section above it
for r in recipes/*.ini; do
	where=$(awk '/^[ \t]*$/ { blank = 1; incom = 0; next }
	             /^[;#]/ { if (blank) incom = 1; blank = 0; next }
	             /^\[/ { incom = 0; blank = 0; next }
	             { if (incom) { print FILENAME ":" NR ": " $0; exit } blank = 0 }' "$r")
	[ -z "$where" ] && ok "$r: each comment above its own section" \
		|| bad "$r: a key under a comment paragraph, in the section above it: $where"
done
[ "$fails" -eq 0 ]
