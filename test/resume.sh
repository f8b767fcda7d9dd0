#!/bin/sh
# Resume trusts nothing it reads: a run killed inside its prune stage, then
# copies of its folder each damaged one way; every resume of a damaged copy
# exits 2 with a message naming what is wrong, and the undamaged copy
# resumes. An edited recipe.ini is refused unless --allow-changed-recipe,
# which events.csv records.
. test/fixture.sh
use_shim
data_slice "$tmp/data"
cat > "$tmp/r.ini" <<INI
[run]
name = resume
seed = 2
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
steps = 4
batch = 4
seq = 16
[stage p]
kind = prune
from = pre
teacher = pre
steps = 12
batch = 4
seq = 16
final_sparsity = 0.5
end = 0.5
every = 2
INI
# the first file commit after which state.json points into stage p
n=1
while [ $n -lt 100 ]; do
	rm -rf "$tmp/run"
	LD_PRELOAD="$shim" POFA_KILL_AT=$n "$POFA" run --headless "$tmp/r.ini" --out "$tmp/run" >/dev/null 2>&1
	grep -q '"checkpoint":[[:space:]]*"p/checkpoint-' "$tmp/run/state.json" 2>/dev/null && break
	n=$((n + 1))
done
[ $n -lt 100 ] && ok "killed inside stage p, after commit $((n - 1))" || { bad "no kill inside stage p"; exit 1; }
ck=$(sed -n 's/.*"checkpoint":[[:space:]]*"\(p\/checkpoint-[^"]*\)".*/\1/p' "$tmp/run/state.json")

# damaged COPY HOW NEEDLE [extra resume options]
damaged() {
	what=$1; how=$2; needle=$3; shift 3
	rm -rf "$tmp/c"
	cp -r "$tmp/run" "$tmp/c"
	(cd "$tmp/c" && eval "$how")
	"$POFA" run --headless --resume "$tmp/c" "$@" > "$tmp/out" 2>&1
	st=$?
	if [ $st -eq 2 ] && grep -q -- "$needle" "$tmp/out"; then ok "$what: refused"
	else bad "$what: expected status 2 and '$needle', got $st:"; tail -3 "$tmp/out"; fi
}
damaged "recipe.ini edited" "sed -i 's/^final_sparsity = 0.5/final_sparsity = 0.4/' recipe.ini" \
	"changed since the run began"
damaged "state.json cut short" "head -c 40 state.json > s && mv s state.json" "malformed JSON"
damaged "state.json with junk after it" "echo '}' >> state.json" "junk after the JSON value"
damaged "a stage name the recipe does not have" "sed -i 's/\"stage_name\":.*/\"stage_name\": \"x\",/' state.json" \
	"is p in the recipe, not x"
damaged "a stage past the recipe" "sed -i 's/\"stage\":.*/\"stage\": 7,/' state.json" '"stage" must be a whole number in \[0, 2\]'
damaged "a negative step" "sed -i 's/\"step\":.*/\"step\": -4,/' state.json" '"step" must be a whole number'
damaged "a checkpoint outside the stage" "sed -i 's|\"checkpoint\":.*|\"checkpoint\": \"../../etc\",|' state.json" \
	"is not a checkpoint of stage p"
damaged "a step past the stage's end" "sed -i 's/\"step\":.*/\"step\": 400,/' state.json $ck/manifest.json" \
	"past the stage's 12 steps"
damaged "a negative data position" "sed -i 's/\"cursor\":.*/\"cursor\": -1,/' $ck/manifest.json" '"cursor" must be a whole number'
damaged "a data position past the data" "sed -i 's/\"cursor\":.*/\"cursor\": 99999999,/' $ck/manifest.json" \
	"past the"
damaged "an epoch of -1" "sed -i 's/\"epoch\":.*/\"epoch\": -1,/' $ck/manifest.json" '"epoch" must be a whole number'
damaged "the masks missing" "rm $ck/masks.safetensors" "masks.safetensors: cannot open"
damaged "a flipped byte in the weights" "printf 'X' | dd of=$ck/model.safetensors bs=1 seek=5000 conv=notrunc 2>/dev/null" \
	"the checkpoint is damaged"
damaged "the manifest missing" "rm $ck/manifest.json" "manifest.json: cannot open"
damaged "an edit of the wrong type" "sed -i '0,/\"set\":.*/s//\"set\": \"all\",/' state.json" '"set" must be a whole number'

# the edited recipe, when asked for: continued, and said so
cp -r "$tmp/run" "$tmp/e"
sed -i 's/^final_sparsity = 0.5/final_sparsity = 0.4/' "$tmp/e/recipe.ini"
"$POFA" run --headless --resume "$tmp/e" --allow-changed-recipe > "$tmp/out" 2>&1 \
	&& grep -q "allow-changed-recipe" "$tmp/e/events.csv" \
	&& ok "--allow-changed-recipe: continued, recorded in events.csv" || { bad "--allow-changed-recipe"; tail -3 "$tmp/out"; }
"$POFA" run --headless --resume "$tmp/run" > "$tmp/out" 2>&1 && ok "the undamaged copy resumes" \
	|| { bad "the undamaged copy"; tail -3 "$tmp/out"; }
[ "$fails" -eq 0 ]
