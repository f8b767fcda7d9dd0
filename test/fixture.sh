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
