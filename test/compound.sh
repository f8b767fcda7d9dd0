#!/bin/sh
# Compound compression: a student with fewer layers than its teacher
# (layers =), hidden-state distillation (kd_hidden, kd_layers), its loss in
# metrics.csv, resume after kill -9 bit-identical, and bad settings refused
# before the run folder with the file, line and what to do.
. test/fixture.sh
use_shim
data_slice "$tmp/data"
cat > "$tmp/r.ini" <<INI
[run]
name = cc
seed = 4
threads = 2
log_interval = 2
checkpoint_interval = 6
[model]
preset = bert-mini
max_position = 32
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 6
batch = 4
seq = 32
[stage small]
kind = prune
from = pre
teacher = pre
layers = 0,2
kd_hidden = 1
steps = 16
batch = 4
seq = 32
final_sparsity = 0.5
end = 0.5
every = 4
INI
"$POFA" run --headless "$tmp/r.ini" --out "$tmp/a" > "$tmp/a.log" 2>&1 && ok "a run with layers = 0,2 and kd_hidden = 1" \
	|| { tail -5 "$tmp/a.log"; bad "the compound run"; exit 1; }
grep -q '"num_hidden_layers":[[:space:]]*2,' "$tmp/a/small/config.json" && grep -q '"num_hidden_layers":[[:space:]]*4,' "$tmp/a/pre/config.json" \
	&& ok "the student has 2 layers, its teacher 4 (config.json)" || bad "the student's layers"
[ "$(wc -c < "$tmp/a/small/model.safetensors")" -lt "$(wc -c < "$tmp/a/pre/model.safetensors")" ] \
	&& ok "the student's weights are smaller on disk" || bad "the student's size"
grep -q 'student layers 0..1 learn teacher layers 1,3' "$tmp/a/events.csv" && ok "the layer map said (1,3: spread evenly)" \
	|| bad "the layer map"
head -1 "$tmp/a/metrics.csv" | grep -q ",grad_norm,loss_kd_hidden$" && ok "metrics.csv: a loss_kd_hidden column" || bad "metrics header"
kdh=$(awk -F, '$2 == "\"small\"" { v = $14 } END { print v }' "$tmp/a/metrics.csv")
pre=$(awk -F, '$2 == "\"pre\"" { v = $14 } END { print v "." }' "$tmp/a/metrics.csv")
awk -v v="$kdh" 'BEGIN { exit !(v > 0) }' && [ "$pre" = "." ] \
	&& ok "its value in the distilling stage ($kdh), empty without a teacher" || bad "loss_kd_hidden: small $kdh, pre $pre"
# total = a_task task + a_kd kd + kd_hidden hidden, on a row of the stage
awk -F, '$2 == "\"small\"" { t = 0.5 * $6 + 0.5 * $7 + $14; d = t - $8; if (d < 0) d = -d; if (d > 1e-4 * $8) bad = 1; n++ }
	END { exit bad || n == 0 }' "$tmp/a/metrics.csv" && ok "loss_total = 0.5 task + 0.5 kd + 1 kd_hidden on every row" \
	|| bad "the total loss does not add up"

# the masked-LM dev evaluation's unigram baseline, beside the model's loss
grep -q '"pre","unigram",[0-9]*,"mlm","dev","loss",[0-9]' "$tmp/a/eval.csv" && ok "the unigram baseline beside pre's loss" \
	|| { grep mlm "$tmp/a/eval.csv"; bad "the unigram baseline"; }

# kd_layers: an explicit map
"$POFA" run --headless "$tmp/r.ini" --set small.kd_layers=0,3 --out "$tmp/m" > "$tmp/m.log" 2>&1 \
	&& grep -q 'learn teacher layers 0,3' "$tmp/m/events.csv" && ok "kd_layers = 0,3" || { tail -3 "$tmp/m.log"; bad "kd_layers"; }

# resume after kill -9 inside the student's stage: bit-identical
kill_at_checkpoint "$tmp/r.ini" "$tmp/b" "small/checkpoint-0*6-" \
	&& ok "killed with -9 after the student's checkpoint at step 6" || { bad "no kill at small's step 6"; exit 1; }
"$POFA" run --headless --resume "$tmp/b" > "$tmp/b2.log" 2>&1 || { tail -5 "$tmp/b2.log"; bad "pofa run --resume"; }
cut -d, -f2-11,13,14 "$tmp/a/metrics.csv" > "$tmp/ma"; cut -d, -f2-11,13,14 "$tmp/b/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" && cmp -s "$tmp/a/small/model.safetensors" "$tmp/b/small/model.safetensors" \
	&& ok "resumed: metrics and weights bit-identical" || { bad "resumed run differs"; diff "$tmp/ma" "$tmp/mb" | head -4; }

# refused before the run folder: exit 2, file:line and what to do
refused() {   # refused WHAT NEEDLE SET...
	what=$1; needle=$2; shift 2
	rm -rf "$tmp/x"
	"$POFA" run --headless "$tmp/r.ini" "$@" --out "$tmp/x" > "$tmp/x.log" 2>&1
	st=$?
	if [ $st -eq 2 ] && grep -q -- "$needle" "$tmp/x.log" && [ ! -e "$tmp/x" ]; then ok "$what: exit 2, no run folder"
	else bad "$what: expected exit 2 and '$needle', got $st:"; cat "$tmp/x.log"; fi
}
refused "a layer the model lacks" "r.ini:17: stage small: layers = ...4...: the model it starts from has layers 0..3" \
	--set small.layers=0,4
refused "layers out of order" "--set small.layers=2,1: want each layer once, in rising order" --set small.layers=2,1
refused "layers not numbers" "want layer numbers 0..63" --set small.layers=a,b
refused "kd_hidden without a teacher" "kd_hidden = 1 distils hidden states from a teacher: name one" \
	--set small.teacher= --set small.alpha_task=1
refused "kd_layers of the wrong length" "kd_layers names 3 teacher layers; the student has 2 layers" \
	--set small.kd_layers=0,1,2
refused "kd_layers past the teacher" "kd_layers = ...7...: the teacher has layers 0..3" --set small.kd_layers=0,7
refused "kd_layers without kd_hidden" "kd_layers maps layers for kd_hidden, which is 0" \
	--set small.kd_hidden=0 --set small.kd_layers=0,1
[ "$fails" -eq 0 ]
