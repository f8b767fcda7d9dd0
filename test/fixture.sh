# fixture.sh - what the shell tests share; sourced by them, not run.
#   POFA   the program under test, as an absolute path
#   tmp    a private scratch folder (mktemp), removed at exit unless KEEP is set
#   ok WHAT / bad WHAT   a check's line; bad counts into $fails
#   data_slice DIR       a small slice of the data, from Debian packages
#   slow   how many times longer a bounded wait may take: 10 for a
#          ThreadSanitizer build, 3 for ASan, else 1
POFA=${POFA:-bin/pofa}
case "$POFA" in /*) ;; *) POFA=$(pwd)/$POFA ;; esac
case "$POFA" in */tsan/*) slow=10 ;; */asan/*) slow=3 ;; *) slow=1 ;; esac
tmp=$(mktemp -d)
fails=0
fixture_cleanup() { [ -n "$KEEP" ] || rm -rf "$tmp"; }
trap fixture_cleanup EXIT
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
data_slice() {
	"$POFA" data build --out "$1" --max-entries 400 --vocab-size 800 > "$tmp/build.log" 2>&1 \
		|| { cat "$tmp/build.log"; exit 1; }
}
# use_shim: $shim, the fault injector (test/faultshim.c) that make check
# builds, or the test fails saying so
use_shim() {
	shim=$(pwd)/${BUILD:-build}/test/faultshim.so
	[ -f "$shim" ] || { echo "FAIL $shim is not built (make check builds it)"; exit 1; }
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
}
# kill_at_checkpoint RECIPE OUT CHECKPOINT: RECIPE run into OUT and killed
# with -9 just after the file commit that makes state.json name CHECKPOINT
# (a basic regex, e.g. p/checkpoint-0*4-); the commits tried one by one.
# 0 when such a kill was made.
kill_at_checkpoint() {
	n=1
	while [ $n -lt 100 ]; do
		rm -rf "$2"
		LD_PRELOAD="$shim" POFA_KILL_AT=$n "$POFA" run --headless "$1" --out "$2" >/dev/null 2>&1
		grep -q "\"checkpoint\":[[:space:]]*\"$3" "$2/state.json" 2>/dev/null && return 0
		n=$((n + 1))
	done
	return 1
}
