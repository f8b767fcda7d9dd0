#!/bin/sh
# Crash consistency, as SQLite tests its own: a small run of every stage
# kind is killed (SIGKILL) just before each of its file commits in turn,
# and separately meets a full disk (ENOSPC) at each of its file writes in
# turn; after each, `pofa run --resume` must give exactly the uninterrupted
# run's metrics, sparsity and evaluations, or refuse with exit status 2 and
# a message. Never exit 0 with different numbers. BUILD names the build
# that holds faultshim.so.
. test/fixture.sh
BUILD=${BUILD:-build}
shim=$(pwd)/$BUILD/test/faultshim.so
[ -f "$shim" ] || { echo "FAIL $shim is not built (make check builds it)"; exit 1; }
data_slice "$tmp/data"
cat > "$tmp/r.ini" <<INI
[run]
name = faults
seed = 5
threads = 2
log_interval = 2
checkpoint_interval = 4
[model]
preset = bert-tiny
max_position = 32
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 6
batch = 4
seq = 16
lr = 1e-3
[stage p]
kind = prune
from = pre
teacher = pre
steps = 8
batch = 4
seq = 16
lr = 1e-3
final_sparsity = 0.5
end = 0.5
every = 2
freeze = 0.75
[stage ft]
kind = finetune
from = p
task = wn-sense
lock = yes
steps = 4
batch = 4
seq = 16
[stage q]
kind = qat
from = ft
task = wn-sense
steps = 4
batch = 4
seq = 16
[stage ev]
kind = eval
models = ft, q
task = wn-sense
seq = 16
INI
# what a run's numbers are: its CSV rows without wall-clock columns
numbers() {
	cut -d, -f2-11,13 "$1/metrics.csv"
	cat "$1/sparsity.csv"
	cut -d, -f2-9 "$1/eval.csv"
}
# LD_PRELOAD with the sanitizers' runtimes: let them not insist on being first
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
LD_PRELOAD="$shim" POFA_COUNT_FILE="$tmp/count" "$POFA" run --headless "$tmp/r.ini" --out "$tmp/ref" \
	> "$tmp/ref.log" 2>&1 || { cat "$tmp/ref.log"; bad "the uninterrupted run"; exit 1; }
numbers "$tmp/ref" > "$tmp/ref.numbers"
read renames writes < "$tmp/count"
ok "the uninterrupted run: $renames file commits, $writes file writes"
# durability a kill cannot show (the page cache survives it): every file
# renamed into place was fsync'ed first, and every folder renamed into
# fsync'ed after
LD_PRELOAD="$shim" POFA_FSYNC_LOG="$tmp/fsync.log" "$POFA" run --headless "$tmp/r.ini" --out "$tmp/fs" \
	> "$tmp/fs.log" 2>&1 || { cat "$tmp/fs.log"; bad "the run under the fsync check"; }
[ ! -s "$tmp/fsync.log" ] && ok "every commit fsync'ed: the file before its rename, the folder after" \
	|| { head -5 "$tmp/fsync.log"; bad "$(wc -l < "$tmp/fsync.log") commits without their fsync"; }
rm -rf "$tmp/fs"

# check WHAT DIR: resume DIR to its end and compare with the reference
same=0 refused=0
check() {
	"$POFA" run --headless --resume "$2" > "$tmp/resume.log" 2>&1
	st=$?
	if [ $st -eq 2 ] && grep -q "pofa: " "$tmp/resume.log"; then
		refused=$((refused + 1))
	elif [ $st -ne 0 ]; then
		bad "$1: resume exited $st"; tail -3 "$tmp/resume.log"
	elif numbers "$2" | cmp -s - "$tmp/ref.numbers"; then
		same=$((same + 1))
	else
		bad "$1: resumed with exit 0 but different numbers"
		numbers "$2" | diff "$tmp/ref.numbers" - | head -6
	fi
	rm -rf "$2"
}

# at every kill point, the checkpoint state.json names is whole: its folder
# and manifest in place (state.json is committed after them, never before)
ckpt_whole() {
	c=$(sed -n 's/.*"checkpoint":[[:space:]]*"\([^"]*\)".*/\1/p' "$1/state.json" 2>/dev/null)
	[ -z "$c" ] || [ -s "$1/$c/manifest.json" ]
}
n=1 broken=0
: > "$tmp/refusals"
while [ $n -le "$renames" ]; do
	LD_PRELOAD="$shim" POFA_KILL_AT=$n "$POFA" run --headless "$tmp/r.ini" --out "$tmp/k" > "$tmp/kill.log" 2>&1
	st=$?
	[ $st -eq 137 ] || { bad "kill before commit $n: exit $st, not killed"; tail -3 "$tmp/kill.log"; }
	ckpt_whole "$tmp/k" || { broken=$((broken + 1)); echo "commit $n: state.json names a checkpoint not in place"; }
	r0=$refused
	[ -e "$tmp/k/state.json" ] && has_state=1 || has_state=0
	check "kill -9 before commit $n" "$tmp/k"
	# the one refusal a kill may rightly cause: a run folder killed before
	# its first state.json (nothing to resume); any other is a defect
	[ $refused -gt $r0 ] && [ $has_state = 1 ] && echo "$n: $(grep 'pofa: ' "$tmp/resume.log" | head -1)" >> "$tmp/refusals"
	n=$((n + 1))
done
[ $broken -eq 0 ] && ok "every kill point: the checkpoint state.json names is in place" \
	|| bad "$broken kill points left state.json naming a checkpoint not in place"
ok "kill -9 before each of $renames commits: $same resumes identical, $refused refused"
[ -s "$tmp/refusals" ] && { bad "refused though state.json was in place:"; cat "$tmp/refusals"; } \
	|| ok "each refusal: a run folder killed before its first state.json"

same=0 refused=0
n=1
while [ $n -le "$writes" ]; do
	LD_PRELOAD="$shim" POFA_ENOSPC_AT=$n "$POFA" run --headless "$tmp/r.ini" --out "$tmp/d" > "$tmp/full.log" 2>&1
	st=$?
	if [ $st -eq 0 ] && ! grep -q "No space left" "$tmp/full.log"; then
		bad "disk full at write $n: exit 0 and no word of it"
	fi
	check "disk full at write $n" "$tmp/d"
	n=$((n + 1))
done
ok "disk full at each of $writes writes: $same resumes identical, $refused refused"

# SIGINT, SIGTERM and SIGHUP stop a headless run with a checkpoint,
# wherever they land (between two metrics rows too), and the resume is
# the uninterrupted run's: the prune stage made long enough to catch
"$POFA" run --headless "$tmp/r.ini" --set p.steps=300 --out "$tmp/ref2" > "$tmp/ref2.log" 2>&1 \
	|| { cat "$tmp/ref2.log"; bad "the long reference run"; }
numbers "$tmp/ref2" > "$tmp/ref.numbers"
for sig in INT TERM HUP; do
	"$POFA" run --headless "$tmp/r.ini" --set p.steps=300 --out "$tmp/s" > "$tmp/sig.log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 600 ] && ! grep -q '^[^,]*,"p",1[0-9],' "$tmp/s/metrics.csv" 2>/dev/null; do
		sleep 0.05; i=$((i + 1))
	done
	kill -$sig $pid
	wait $pid
	st=$?
	# stopped, not finished: 128 + the signal's number, as a shell says it
	case $sig in INT) want=130 ;; TERM) want=143 ;; HUP) want=129 ;; esac
	if [ $st -eq $want ] && grep -q '"stage_end","p stopped"' "$tmp/s/events.csv"; then
		same=0 refused=0
		check "SIG$sig" "$tmp/s"
		[ $same -eq 1 ] && ok "SIG$sig: stopped with a checkpoint, resumed identical" || bad "SIG$sig: resume"
	else
		bad "SIG$sig: exit $st (expected $want), not stopped cleanly"; tail -3 "$tmp/sig.log"
		rm -rf "$tmp/s"
	fi
done
[ "$fails" -eq 0 ]
