#!/bin/sh
# Runs every test program under BUILD/test and (with --all) the shell tests
# in test/, then prints one closing line: "check: N passed, N failed".
# usage: test/run.sh --unit|--all BUILD BIN
mode=$1
build=$2
bin=$3
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$build"/test/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.d) continue ;; esac
	"$t" >"$log" 2>&1
	status=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$status" -ne 0 ] && [ -z "$f" ]; then
		echo "$t: exited with status $status"
		failed=$((failed + 1))
	fi
done
[ "$mode" = --all ] && shells=$(ls test/*.sh) || shells=
for t in $shells; do
	case "$t" in test/run.sh|test/fixture.sh|test/mutants.sh) continue ;; esac
	[ -f "$t" ] || continue
	if BUILD="$build" POFA="$bin" sh "$t" >"$log" 2>&1; then
		echo "[       OK ] $t"
		passed=$((passed + 1))
	else
		cat "$log"
		echo "[  FAILED  ] $t"
		failed=$((failed + 1))
	fi
done
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
