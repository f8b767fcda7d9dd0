#!/bin/sh
# make bench's data-parallel part (BENCH=dist alone): on this machine, 2
# ranks x 1 thread against 1 process x 2 threads on the same run (scaling
# efficiency); then the ring all-reduce cost model for BERT-base
# pre-training at N ranks, from the step time and gradient size measured
# here.
# usage: bench/dist.sh BIN
bin=${1:-bin/pofa}
case "$bin" in /*) ;; *) bin=$(pwd)/$bin ;; esac
if ! "$bin" --version | grep -q "Open MPI" || ! command -v mpirun >/dev/null; then
	echo "== data-parallel: skipped ($bin has no Open MPI, or there is no mpirun: make deps)"
	exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="self,vader" OMPI_MCA_btl_vader_single_copy_mechanism=none
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

# the same MLM stage, bert-mini, global batch 32 x 128
"$bin" data build --out "$tmp/data" --max-entries 2000 --vocab-size 4000 > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
recipe() {   # recipe THREADS
	cat <<EOF
[run]
name = scale
seed = 1
log_interval = 5
checkpoint_interval = 100000
threads = $1
[model]
preset = bert-mini
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 40
batch = 32
seq = 128
lr = 5e-4
EOF
}
recipe 2 > "$tmp/t2.ini"
recipe 1 > "$tmp/t1.ini"
# tokens/s of the logged intervals after the first (warm-up)
rate() { grep '"pre"' "$1/metrics.csv" | awk -F, 'NR > 1 { s += $12; n++ } END { printf "%.0f", n ? s / n : 0 }'; }
echo "== data-parallel on this machine ($cpu): bert-mini MLM, global batch 32x128, 40 steps"
"$bin" run --headless "$tmp/t2.ini" --out "$tmp/one" > "$tmp/one.log" 2>&1 || { tail "$tmp/one.log"; exit 1; }
mpirun --oversubscribe -np 2 "$bin" run --headless "$tmp/t1.ini" --out "$tmp/two" > "$tmp/two.log" 2>&1 || { tail "$tmp/two.log"; exit 1; }
mpirun --oversubscribe -np 2 "$bin" run --headless "$tmp/t1.ini" --out "$tmp/ovl" --set run.overlap=yes > "$tmp/ovl.log" 2>&1 \
	|| { tail "$tmp/ovl.log"; exit 1; }
one=$(rate "$tmp/one"); two=$(rate "$tmp/two"); ovl=$(rate "$tmp/ovl")
awk -v a="$one" -v b="$two" -v o="$ovl" 'BEGIN {
	printf "  %-36s %8d tokens/s\n", "1 process x 2 threads", a;
	printf "  %-36s %8d tokens/s\n", "2 ranks x 1 thread (mpirun)", b;
	printf "  %-36s %8d tokens/s\n", "2 ranks, all-reduce during backward", o;
	printf "  scaling efficiency (2 ranks / 1 process, same 2 cores): %.2f; with overlap %.2f\n", b / a, o / a }'

# the cost model: a ring all-reduce moves 2(N-1)/N x the gradient bytes
# through each link per step; without overlap a step takes compute + that;
# overlapped with the backward pass (about 2/3 of a step's compute, when
# buckets are sent as their layers' gradients are done) only the part that
# does not fit under it is added.
echo "== cost model: BERT-base pre-training, per-rank batch 8x128, step time measured here"
"$bin" bench train --preset bert-base --vocab 30522 --batch 8 --seq 128 --steps 2 --rounds 1 --threads 2 > "$tmp/base.log" 2>&1 \
	|| { tail "$tmp/base.log"; exit 1; }
grep 'step time\|parameters' "$tmp/base.log"
step=$(sed -n 's/^RESULT .*step_s=\([0-9.]*\).*/\1/p' "$tmp/base.log")
params=$(sed -n 's/^RESULT .*params=\([0-9]*\).*/\1/p' "$tmp/base.log")
awk -v t="$step" -v p="$params" 'BEGIN {
	bytes = 4 * p;
	printf "  predicted efficiency = compute / (compute + communication not hidden)\n";
	printf "  %4s  %-28s %-28s %-28s\n", "N", "10 Gb/s (plain / overlap)", "25 Gb/s (plain / overlap)", "100 Gb/s (plain / overlap)";
	split("8 16 32 64", Ns, " "); split("10 25 100", Gs, " ");
	for (i = 1; i <= 4; i++) {
		N = Ns[i]; line = sprintf("  %4d ", N);
		for (j = 1; j <= 3; j++) {
			c = 2 * (N - 1) / N * bytes * 8 / (Gs[j] * 1e9);
			plain = t / (t + c);
			hid = c - 2 / 3 * t; if (hid < 0) hid = 0;
			over = t / (t + hid);
			line = line sprintf(" %6.1f%% / %6.1f%%  (%5.2f s) ", 100 * plain, 100 * over, c);
		}
		print line
	}
	printf "  (a step computes for %.2f s here; %.0f MB of gradients a step)\n", t, bytes / 1e6 }'
