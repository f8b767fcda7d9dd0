#!/bin/sh
# Pruned weights get no gradient in the stage loop itself: a pattern-locked
# fine-tune's logged grad_norm (before clipping) is the norm of the kept
# weights' gradients only. The same run with lock = no has the same first
# batch, dropout and weights, so its first step's gradient differs only by
# the pruned weights' share: the locked norm must be clearly smaller, and
# equal if the masks stopped reaching the gradients.
. test/fixture.sh
data_slice "$tmp/data"
cat > "$tmp/r.ini" <<INI
[run]
name = lock
seed = 5
threads = 2
log_interval = 1
[model]
preset = bert-tiny
max_position = 32
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 4
batch = 8
seq = 32
[stage p]
kind = prune
from = pre
teacher = pre
steps = 8
batch = 8
seq = 32
final_sparsity = 0.9
end = 0.5
every = 2
[stage ft]
kind = finetune
from = p
task = wn-sense
lock = yes
steps = 3
batch = 8
seq = 32
max_grad_norm = 0.01
INI
"$POFA" run --headless "$tmp/r.ini" --out "$tmp/a" > "$tmp/a.log" 2>&1 || { tail -5 "$tmp/a.log"; bad "lock = yes"; exit 1; }
"$POFA" run --headless "$tmp/r.ini" --set ft.lock=no --out "$tmp/b" > "$tmp/b.log" 2>&1 || { tail -5 "$tmp/b.log"; bad "lock = no"; exit 1; }
# grad_norm is column 13 of metrics.csv
ga=$(awk -F, '$2 == "\"ft\"" && $3 == 1 { print $13 }' "$tmp/a/metrics.csv")
gb=$(awk -F, '$2 == "\"ft\"" && $3 == 1 { print $13 }' "$tmp/b/metrics.csv")
awk -v a="$ga" -v b="$gb" 'BEGIN { exit !(a > 0 && b > 0 && a < 0.95 * b) }' \
	&& ok "the first step's gradient norm: $ga locked, $gb with the pruned weights' gradients" \
	|| bad "grad_norm: expected the locked run's ($ga) below 0.95 of the unlocked run's ($gb)"
# and the locked run's pruned weights stay zero to its end (90%)
grep -q '"ft",3,.*' "$tmp/a/metrics.csv" && awk -F, '$2 == "\"ft\"" && $3 == 3 { exit !($11 >= 0.899) }' "$tmp/a/metrics.csv" \
	&& ok "the locked stage ends at its starting sparsity" || bad "the locked stage's sparsity"
[ "$fails" -eq 0 ]
