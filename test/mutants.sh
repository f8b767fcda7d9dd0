#!/bin/sh
# Mutation testing, as SQLite tests its own test suite: each mutation of
# test/mutants.txt (a small plausible bug: an exact text of a file and what
# replaces it) is applied alone to a scratch copy of the tree, the copy is
# rebuilt, and the narrowest test that should catch it runs. A mutation
# the test fails on is killed; one it passes survived, and is a gap in the
# tests. Mutations marked equivalent cannot change behaviour (one line
# says why) and are not run. Prints a table and the kill rate.
# usage: test/mutants.sh [ID...]   (make mutants; not part of make check)
set -u
root=$(pwd)
list="$root/test/mutants.txt"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
want=" $* "

# the scratch tree: the tracked files, built once
git ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$scratch") || exit 1
[ -d "$root/gen" ] && cp -r "$root/gen" "$scratch/gen"
cd "$scratch" || exit 1
echo "building the scratch tree ..."
make -s all build/test/faultshim.so > build.log 2>&1 || { tail -20 build.log; echo "the scratch tree does not build"; exit 1; }
for t in $(sed -n 's/^test: *\(test_[a-z_]*\).*/\1/p' "$list" | sort -u); do
	make -s "build/test/$t" >> build.log 2>&1 || { tail -20 build.log; echo "build/test/$t does not build"; exit 1; }
done

# run TEST: 0 when it passes (called with stdin from /dev/null: the loop
# reads its records on stdin, which a test's commands would eat)
run_test() {
	case "$1" in
	test_*) timeout 900 "build/test/$1" > test.log 2>&1 ;;
	*.sh) BUILD=build POFA=bin/pofa timeout 1800 sh "test/$1" > test.log 2>&1 ;;
	*) echo "unknown test $1" > test.log; return 2 ;;
	esac
}

# rebuild what TEST needs after a change
rebuild() {
	case "$1" in
	test_*) make -s "build/test/$1" > build.log 2>&1 ;;
	*) make -s all build/test/faultshim.so > build.log 2>&1 ;;
	esac
}

killed=0 survived=0 equiv=0 broken=0 n=0
printf '%-4s %-14s %-62s %s\n' id layer mutation result
# the records: "## ID LAYER: what", then file:, test:, find:, repl: and
# optionally equiv: lines; a blank line ends a record
awk '
	/^## / { if (id) print rec; id = $2; layer = $3; sub(/:$/, "", layer); what = $0; sub(/^## [^ ]+ [^ ]+ /, "", what);
	         file = test = find = repl = eq = ""; next }
	/^file: / { file = substr($0, 7) }
	/^test: / { test = substr($0, 7) }
	/^find: / { find = substr($0, 7) }
	/^repl: / { repl = substr($0, 7) }
	/^equiv: / { eq = substr($0, 8) }
	{ rec = id "\037" layer "\037" what "\037" file "\037" test "\037" find "\037" repl "\037" eq }
	END { if (id) print rec }
' "$list" > records
while IFS=$(printf '\037') read -r id layer what file test find repl eq; do
	case "$want" in "  ") ;; *" $id "*) ;; *) continue ;; esac
	n=$((n + 1))
	if [ -n "$eq" ]; then
		printf '%-4s %-14s %-62.62s equivalent: %s\n' "$id" "$layer" "$what" "$eq"
		equiv=$((equiv + 1))
		continue
	fi
	cp "$file" mutant.orig
	# the exact text, once: perl takes it literally (\Q...\E)
	FIND="$find" REPL="$repl" perl -0pi -e 'BEGIN { $f = $ENV{FIND}; $r = $ENV{REPL}; $r =~ s/\\n/\n/g; $f =~ s/\\n/\n/g; }
		$n = () = /\Q$f\E/g; die "found $n times\n" if $n != 1; s/\Q$f\E/$r/;' "$file" 2> apply.log
	if [ $? -ne 0 ]; then
		printf '%-4s %-14s %-62.62s NOT APPLIED (%s)\n' "$id" "$layer" "$what" "$(head -1 apply.log)"
		broken=$((broken + 1))
		cp mutant.orig "$file"
		continue
	fi
	if ! rebuild "$test" < /dev/null; then
		printf '%-4s %-14s %-62.62s killed by the build (%s)\n' "$id" "$layer" "$what" "$(grep -m1 error build.log)"
		killed=$((killed + 1))
	elif run_test "$test" < /dev/null; then
		printf '%-4s %-14s %-62.62s SURVIVED %s\n' "$id" "$layer" "$what" "$test"
		survived=$((survived + 1))
	else
		msg=$(grep -m1 -E 'ERROR|FAIL|expected' test.log | cut -c1-70)
		printf '%-4s %-14s %-62.62s killed by %s: %s\n' "$id" "$layer" "$what" "$test" "$msg"
		killed=$((killed + 1))
	fi
	cp mutant.orig "$file"
	touch "$file"
done < records
rebuild all > /dev/null 2>&1
run=$((killed + survived))
echo
echo "mutants: $n ($equiv equivalent, $broken not applied); of $run run, $killed killed, $survived survived:" \
	"kill rate $(awk -v k=$killed -v r=$run 'BEGIN { printf "%.1f%%", r ? 100 * k / r : 0 }')"
echo "$killed passed, $((survived + broken)) failed"
[ $survived -eq 0 ] && [ $broken -eq 0 ]
