#!/bin/sh
# pofa models in ONNX Runtime: a masked-LM, a classification, a span and a
# QAT model, each exported with pofa export --onnx and run by ONNX Runtime
# (the npm package onnxruntime-node) on real inputs; their logits must be
# pofa's within 1e-4 (a QAT model's int8 inputs within 1e-3, the class the
# same: see its check). Skipped, saying so, where Node.js or the package is
# missing (make deps installs both: .ci/node-deps).
. test/fixture.sh
BUILD=${BUILD:-build}
# bad input: exit 2, and a file already at OUT.onnx is left as it was
echo keep > "$tmp/old.onnx"
"$POFA" export --onnx "$tmp/none" "$tmp/old.onnx" > "$tmp/e" 2>&1
[ $? -eq 2 ] && grep -q "$tmp/none/config.json" "$tmp/e" && [ "$(cat "$tmp/old.onnx")" = keep ] \
	&& ok "export of a folder with no model: exit 2, named, the old file kept" || { cat "$tmp/e"; bad "export of no model"; }
"$POFA" export "$tmp/none" "$tmp/old.onnx" > "$tmp/e" 2>&1
[ $? -eq 2 ] && grep -q "which format" "$tmp/e" && ok "export without a format: exit 2" || { cat "$tmp/e"; bad "export without a format"; }
node_modules=$(pwd)/${NODE_DIR:-build/node}/node_modules
if ! command -v node >/dev/null 2>&1 || [ ! -d "$node_modules/onnxruntime-node" ]; then
	echo "skipped: Node.js or onnxruntime-node missing (make deps installs them into build/node)"
	exit 0
fi
data_slice "$tmp/data"
cat > "$tmp/r.ini" <<INI
[run]
name = onnx
threads = 2
[model]
preset = bert-tiny
max_position = 64
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 6
batch = 4
seq = 32
lr = 1e-3
[stage sparse]
kind = prune
from = pre
steps = 6
batch = 4
seq = 32
final_sparsity = 0.5
end = 0.5
every = 2
[stage cls]
kind = finetune
from = sparse
task = wn-pair
lock = yes
steps = 6
batch = 4
seq = 32
[stage span]
kind = finetune
from = pre
task = wn-span
steps = 4
batch = 4
seq = 48
[stage q8]
kind = qat
from = cls
task = wn-pair
steps = 6
batch = 4
seq = 32
INI
"$POFA" run --headless "$tmp/r.ini" --out "$tmp/run" > "$tmp/run.log" 2>&1 || { tail -5 "$tmp/run.log"; exit 1; }
sed -n '2,9p' "$tmp/data/wn-pair/dev.tsv" | cut -f1,2 > "$tmp/pairs.txt"   # sentence1, sentence2
sed -n '2,9p' "$tmp/data/wn-sense/dev.tsv" | cut -f1 > "$tmp/single.txt"
check() {   # check WHAT MODEL TEXTS T [--fp32]
	what=$1; model=$2; texts=$3; T=$4; shift 4
	if "$POFA" export --onnx "$model" "$tmp/m.onnx" "$@" > "$tmp/export.log" 2>&1 &&
		TOL="${tol:-1e-4}" NODE_PATH="$node_modules" node test/onnx_check.js "$POFA" "$(pwd)/$BUILD/test/pofa-logits" "$model" \
			"$tmp/m.onnx" "$texts" "$T" "$@" > "$tmp/check.log" 2>&1; then
		ok "$what: $(cat "$tmp/check.log")"
	else
		cat "$tmp/export.log" "$tmp/check.log"; bad "$what"
	fi
}
check "masked LM, float" "$tmp/run/pre" "$tmp/single.txt" 24
check "classification, 50% sparse, float" "$tmp/run/cls" "$tmp/pairs.txt" 32
check "span extraction, float" "$tmp/run/span" "$tmp/pairs.txt" 48
# QDQ: ONNX Runtime rounds each input to 8 bits from its own float
# arithmetic (GELU, LayerNorm, sums in another order) where pofa rounds
# from its own; an input a hair from a rounding boundary lands one step
# apart, which moves a logit by about one step of the input times a weight:
# within 1e-3 of the logit's size (measured 1.6e-4), the class the same
tol=1e-3
check "QAT: int8 weights and uint8 inputs as QuantizeLinear/DequantizeLinear" "$tmp/run/q8" "$tmp/pairs.txt" 32
tol=
check "QAT model, exported with --fp32" "$tmp/run/q8" "$tmp/pairs.txt" 32 --fp32
"$POFA" export --onnx "$tmp/run/cls" "$tmp/no/such/dir/m.onnx" > "$tmp/e" 2>&1
[ $? -eq 2 ] && grep -q "$tmp/no/such/dir" "$tmp/e" && ok "an output folder that does not exist: exit 2, named" \
	|| { cat "$tmp/e"; bad "output folder missing"; }
[ "$fails" -eq 0 ]
