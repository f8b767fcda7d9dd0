#!/bin/sh
# make bench: pofa's training throughput against OpenBLAS sgemm (measured by
# pofa in the same run) and, when Debian's python3-torch is installed,
# against PyTorch running the same model and step on this machine.
# usage: bench/run.sh BIN [infer|train|dist]   (one part alone)
# POFA_AVX2_BIN: a build for x86-64-v3 (make bench makes it), run as on an
# AVX2-only CPU where this one has AVX-512
bin=${1:-bin/pofa}
part=${2:-all}
py=/usr/bin/python3
here=$(dirname "$0")
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# train_part BIN TITLE: pofa bench train, then PyTorch on the same step
train_part() {
echo "== $2: bert-mini, vocab 8192, batch 32x128, MLM 15%, AdamW"
"$1" bench train --preset bert-mini --vocab 8192 --batch 32 --seq 128 --steps 10 | tee "$out" || exit 1
ours=$(sed -n 's/^RESULT tokens_per_s=\([0-9.]*\).*/\1/p' "$out")
ratio=$(sed -n 's/^RESULT .*ratio=\([0-9.]*\).*/\1/p' "$out")
# PyTorch runs the OpenBLAS kernels pofa runs (pofa names them where
# OpenBLAS misjudges the CPU)
core=$(sed -n 's/.*OpenBLAS core \([A-Za-z0-9]*\).*/\1/p' "$out")
if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
	echo "== PyTorch, same model and step (best of 1 and 2 intra-op threads, and of"
	echo "   OpenBLAS threads left at their default or set to 1)"
	best=0
	for blas in default 1; do
		if [ "$blas" = default ]; then
			OPENBLAS_CORETYPE=$core "$py" "$here/torch_bert.py" --preset bert-mini --vocab 8192 --batch 32 --seq 128 --steps 10 >"$out" || exit 1
		else
			OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=1 "$py" "$here/torch_bert.py" --preset bert-mini --vocab 8192 --batch 32 --seq 128 --steps 10 >"$out" || exit 1
		fi
		sed "s/^  pytorch/  pytorch (OpenBLAS threads: $blas)/" "$out" | grep -v '^RESULT'
		t=$(sed -n 's/^RESULT tokens_per_s=\([0-9.]*\).*/\1/p' "$out")
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
	done
	awk -v o="$ours" -v t="$best" -v r="$ratio" 'BEGIN {
		printf "  %-22s %10.0f tokens/s  (%.2f of sgemm, target >= 0.80)\n", "pofa", o, r;
		printf "  %-22s %10.0f tokens/s\n", "pytorch (best)", t;
		printf "  ratio pofa/pytorch     %10.2f   (target >= 1.20)\n", o / t }'
else
	echo "== PyTorch comparison skipped: Debian's python3-torch is not installed"
	echo "   (apt-get install python3-torch to run it)"
fi
}

# the data-parallel part: 2 ranks against 1 process, and the cost model
if [ "$part" = dist ] || [ "$part" = all ]; then
	sh "$here/dist.sh" "$bin" || exit 1
	[ "$part" = dist ] && exit 0
fi

if [ "$part" != infer ]; then
data=gen/data
if [ ! -s "$data/corpus.txt" ] || [ ! -s "$data/vocab.txt" ]; then
	"$bin" data build --out "$data" || exit 1
fi
if [ "$part" = all ]; then
echo "== tokenizer throughput on the pre-training corpus"
"$bin" bench tokenize --vocab "$data/vocab.txt" --corpus "$data/corpus.txt" || exit 1

echo "== the workbench attached against headless (bert-mini, 120 steps each)"
sh "$here/tui_bench.sh" "$bin" "$data" || exit 1
fi

train_part "$bin" "training throughput"
avx2=${POFA_AVX2_BIN:-}
if grep -qw avx512f /proc/cpuinfo 2>/dev/null && [ -n "$avx2" ] && [ -x "$avx2" ]; then
	# what an AVX2-only CPU runs: AVX2 and FMA in every loop of the step,
	# OpenBLAS's Haswell kernels, PyTorch's AVX2 kernels, on this CPU
	(export POFA_CPU=avx2 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2
	 train_part "$avx2" "training throughput as on an AVX2-only CPU (x86-64-v3 build)") || exit 1
fi

fi
[ "$part" = train ] && exit 0

# ---- inference: the forward-only path against the faster dense pass of
# this run on this CPU: pofa's (OpenBLAS, rows split or on OpenBLAS's
# threads), oneDNN's matmul in the same pass (build/bench/peers --pass, where
# make bench could build it) and PyTorch (where python3-torch is installed)
infer() {   # infer LABEL TARGET PRESET BATCH ARGS...   (TARGET: a speed-up, or -)
	label=$1 target=$2 preset=$3 batch=$4; shift 4
	"${ibin:-$bin}" bench infer --preset "$preset" --batch "$batch" --seq 128 --threads 2 "$@" > "$out" || exit 1
	grep -v '^RESULT' "$out" | sed 's/^/  /'
	res=$(grep '^RESULT' "$out")
	core=$(sed -n 's/.*OpenBLAS core \([A-Za-z0-9]*\).*/\1/p' "$out")
	torch_ms= dnnl_ms=
	if [ -n "${POFA_PEERS:-}" ] && [ -x "$POFA_PEERS" ]; then
		OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 "$POFA_PEERS" --pass --preset "$preset" --batch "$batch" \
			--seq 128 --threads 2 --reps 9 > "$out" || exit 1
		grep -v '^RESULT' "$out" | sed 's/^/  /'
		dnnl_ms=$(sed -n 's/^RESULT .*onednn_ms=\([0-9.]*\).*/\1/p' "$out")
	fi
	if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
		OPENBLAS_CORETYPE=$core "$py" "$here/torch_infer.py" --preset "$preset" --batch "$batch" --seq 128 > "$out" || exit 1
		grep -v '^RESULT' "$out" | sed 's/^/  /'
		torch_ms=$(sed -n 's/^RESULT torch_ms=\([0-9.]*\).*/\1/p' "$out")
	fi
	echo "$res" | awk -v label="$label" -v t="$torch_ms" -v d="$dnnl_ms" -v target="$target" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		peer = r["dense_ms"]; name = "dense pofa";
		if (d != "" && d + 0 < peer + 0) { peer = d; name = "oneDNN" }
		if (t != "" && t + 0 < peer + 0) { peer = t; name = "pytorch" }
		best = peer / r["sparse_ms"];
		printf "  %-34s pofa %8.2f  oneDNN %8s  pytorch %8s  sparse %7.2f ms (%.2fx)", label, r["dense_ms"],
			d == "" ? "-" : sprintf("%.2f", d), t == "" ? "-" : sprintf("%.2f", t), r["sparse_ms"], best;
		if (r["int8_ms"] + 0 > 0) {
			best = peer / r["int8_ms"];
			printf "  int8 %7.2f ms (%.2fx)", r["int8_ms"], best
		}
		printf "  vs %s", name;
		if (target != "-") printf "  target >= %sx: %s", target, (best >= target + 0) ? "met" : "missed";
		printf "\n" }' | tee -a "$sum"
}
sum=$(mktemp)
trap 'rm -f "$out" "$sum"' EXIT
echo "== inference: median latency, speed-ups over the fastest dense pass (pofa, oneDNN, PyTorch)"
infer "bert-base 90% unstructured, b1"   5  bert-base 1  --sparsity 0.9
infer "bert-base 97% unstructured, b1"   8  bert-base 1  --sparsity 0.97
infer "bert-base 90% 1x4 + int8, b1"     15 bert-base 1  --sparsity 0.9 --pattern 1x4 --int8
infer "bert-base 90% unstructured, b32"  4  bert-base 32 --sparsity 0.9
infer "bert-base 90% 1x4 + int8, b32"    -  bert-base 32 --sparsity 0.9 --pattern 1x4 --int8
infer "bert-mini 90% unstructured, b1"   -  bert-mini 1  --sparsity 0.9
infer "bert-mini 90% 1x4 + int8, b1"     -  bert-mini 1  --sparsity 0.9 --pattern 1x4 --int8
infer "bert-mini 90% 1x4 + int8, b32"    -  bert-mini 32 --sparsity 0.9 --pattern 1x4 --int8
if grep -qw avx512f /proc/cpuinfo 2>/dev/null && [ -n "${POFA_AVX2_BIN:-}" ] && [ -x "$POFA_AVX2_BIN" ]; then
	echo "== inference as on an AVX2-only CPU (x86-64-v3 build, pofa's AVX2 path, OpenBLAS Haswell, oneDNN AVX2, PyTorch AVX2)"
	(export POFA_CPU=avx2 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ibin=$POFA_AVX2_BIN
	 infer "AVX2: bert-base 90% unstructured, b1"  5  bert-base 1  --sparsity 0.9
	 infer "AVX2: bert-base 97% unstructured, b1"  8  bert-base 1  --sparsity 0.97
	 infer "AVX2: bert-base 90% 1x4 + int8, b1"    15 bert-base 1  --sparsity 0.9 --pattern 1x4 --int8
	 infer "AVX2: bert-base 90% unstructured, b32" 4  bert-base 32 --sparsity 0.9) || exit 1
fi
echo "== summary on$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), 2 threads, sequence 128"
cat "$sum"
# the Linear products beside two libraries' (make bench builds the program
# where Debian's libdnnl-dev and libxsmm-dev are installed)
if [ -n "${POFA_PEERS:-}" ] && [ -x "$POFA_PEERS" ]; then
	# oneDNN's OpenMP threads sleep when done instead of spinning into the
	# next product's time
	OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 "$POFA_PEERS" --threads 2 --tokens 128 || exit 1
	OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 "$POFA_PEERS" --threads 2 --tokens 4096 --reps 5 || exit 1
else
	echo "== library peers skipped (make bench builds them with libdnnl-dev and libxsmm-dev)"
fi
# start-up: one line through bert-base, from the folder and from the packed file
sh "$here/start.sh" "$bin" || exit 1
