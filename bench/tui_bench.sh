#!/bin/sh
# Training throughput with the workbench attached against headless: the same
# short recipe run both ways in the same session, tokens/s from metrics.csv.
# usage: bench/tui_bench.sh BIN DATA_DIR
bin=${1:-bin/pofa}
case "$bin" in /*) ;; *) bin=$(pwd)/$bin ;; esac
data=${2:-gen/data}
case "$data" in /*) ;; *) data=$(pwd)/$data ;; esac
tmp=$(mktemp -d)
sock="pofa-bench-$$"
trap 'tmux -L $sock kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
cat > "$tmp/r.ini" <<INI
[run]
name = tui-bench
log_interval = 10
checkpoint_interval = 100000
[model]
preset = bert-mini
max_position = 128
[data]
dir = $data
[stage mlm]
kind = mlm
steps = 120
batch = 32
seq = 64
lr = 1e-4
INI
# mean tokens/s over the logged intervals, the first one (warm-up) left out
mean_tps() { awk -F, 'NR > 2 { s += $12; n++ } END { if (n) printf "%.1f", s / n }' "$1/metrics.csv"; }
"$bin" run --headless "$tmp/r.ini" --out "$tmp/h1" > /dev/null 2>&1 || exit 1
tmux -L $sock new-session -d -s b -x 120 -y 40 "LANG=C.UTF-8 TERM=xterm-256color $bin run $tmp/r.ini --out $tmp/t1; echo DONE > $tmp/done; sleep 60"
# the workbench stays up when the run ends: quit it then
for i in $(seq 1 1200); do
	[ -f "$tmp/done" ] && break
	if tmux -L $sock capture-pane -p -t b 2>/dev/null | grep -q " DONE "; then
		tmux -L $sock send-keys -t b q; sleep 0.3; tmux -L $sock send-keys -t b y
	fi
	sleep 0.5
done
"$bin" run --headless "$tmp/r.ini" --out "$tmp/h2" > /dev/null 2>&1 || exit 1
h1=$(mean_tps "$tmp/h1"); h2=$(mean_tps "$tmp/h2"); t=$(mean_tps "$tmp/t1")
awk -v h1="$h1" -v h2="$h2" -v t="$t" 'BEGIN {
	h = (h1 + h2) / 2;
	printf "  headless (mean of 2)  %10.0f tokens/s   (%.0f, %.0f)\n", h, h1, h2;
	printf "  workbench attached    %10.0f tokens/s\n", t;
	printf "  ratio                 %10.3f   (target >= 0.95)\n", t / h;
	printf "RESULT tui_ratio=%.4f\n", t / h }'
