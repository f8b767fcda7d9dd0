#!/bin/sh
# make bench: pofa's training throughput against OpenBLAS sgemm (measured by
# pofa in the same run) and, when Debian's python3-torch is installed,
# against PyTorch running the same model and step on this machine.
# usage: bench/run.sh BIN
bin=${1:-bin/pofa}
py=/usr/bin/python3
here=$(dirname "$0")
out=$(mktemp)
trap 'rm -f "$out"' EXIT

data=gen/data
if [ ! -s "$data/corpus.txt" ] || [ ! -s "$data/vocab.txt" ]; then
	"$bin" data build --out "$data" || exit 1
fi
echo "== tokenizer throughput on the pre-training corpus"
"$bin" bench tokenize --vocab "$data/vocab.txt" --corpus "$data/corpus.txt" || exit 1

echo "== the workbench attached against headless (bert-mini, 120 steps each)"
sh "$here/tui_bench.sh" "$bin" "$data" || exit 1

echo "== training throughput: bert-mini, vocab 8192, batch 32x128, MLM 15%, AdamW"
"$bin" bench train --preset bert-mini --vocab 8192 --batch 32 --seq 128 --steps 10 | tee "$out" || exit 1
ours=$(sed -n 's/^RESULT tokens_per_s=\([0-9.]*\).*/\1/p' "$out")

if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
	echo "== PyTorch, same model and step (best of 1 and 2 intra-op threads, and of"
	echo "   OpenBLAS threads left at their default or set to 1)"
	best=0
	for blas in default 1; do
		if [ "$blas" = default ]; then
			"$py" "$here/torch_bert.py" --preset bert-mini --vocab 8192 --batch 32 --seq 128 --steps 10 >"$out" || exit 1
		else
			OPENBLAS_NUM_THREADS=1 "$py" "$here/torch_bert.py" --preset bert-mini --vocab 8192 --batch 32 --seq 128 --steps 10 >"$out" || exit 1
		fi
		sed "s/^  pytorch/  pytorch (OpenBLAS threads: $blas)/" "$out" | grep -v '^RESULT'
		t=$(sed -n 's/^RESULT tokens_per_s=\([0-9.]*\).*/\1/p' "$out")
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
	done
	awk -v o="$ours" -v t="$best" 'BEGIN {
		printf "  %-22s %10.0f tokens/s\n", "pofa", o;
		printf "  %-22s %10.0f tokens/s\n", "pytorch (best)", t;
		printf "  ratio pofa/pytorch     %10.2f   (target >= 1.10)\n", o / t }'
else
	echo "== PyTorch comparison skipped: Debian's python3-torch is not installed"
	echo "   (apt-get install python3-torch to run it)"
fi
