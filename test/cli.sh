#!/bin/sh
# Command-line behaviour: help, version, usage errors (status 2), a short
# demo run, and model files refused with status 2 and a message naming the
# file and tensor. POFA names the program under test.
. test/fixture.sh
# expect STATUS DESCRIPTION NEEDLE -- command...: runs it, checks the exit
# status and that NEEDLE appears in its output (stdout + stderr)
expect() {
	want=$1; what=$2; needle=$3; shift 4
	"$@" >"$tmp/out" 2>&1
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL $what: expected exit status $want, got $got"; cat "$tmp/out"; fails=$((fails + 1))
	elif [ -n "$needle" ] && ! grep -q -- "$needle" "$tmp/out"; then
		echo "FAIL $what: expected '$needle' in the output, got:"; cat "$tmp/out"; fails=$((fails + 1))
	else
		echo "ok   $what"
	fi
}

expect 0 "--help" "usage: pofa" -- "$POFA" --help
expect 0 "--version" "pofa [0-9]" -- "$POFA" --version
expect 2 "unknown option" "unknown option '--frobnicate'" -- "$POFA" --frobnicate
expect 2 "unknown command" "unknown command 'fly'" -- "$POFA" fly
expect 2 "train-demo unknown option" "unknown option '--bogus'" -- "$POFA" train-demo --bogus
expect 2 "train-demo bad integer" "--steps wants an integer" -- "$POFA" train-demo --steps 12x
expect 2 "bench unknown benchmark" "unknown benchmark" -- "$POFA" bench fly
expect 2 "bench unknown preset" "unknown preset" -- "$POFA" bench train --preset bert-huge
expect 2 "bench rounds out of range" "--rounds wants an integer in 1..20" -- "$POFA" bench train --rounds 0
expect 0 "bench train: rounds, median ratio and range" "ratio=[0-9.]* ratio_min=[0-9.]* ratio_max=" -- \
	"$POFA" bench train --preset bert-tiny --batch 4 --seq 32 --steps 1 --rounds 2
expect 2 "inspect without a folder" "which model folder" -- "$POFA" inspect

expect 0 "train-demo writes a model" "wrote" -- "$POFA" train-demo --steps 20 --out "$tmp/demo"
for f in config.json model.safetensors vocab.txt optimizer.safetensors; do
	[ -s "$tmp/demo/$f" ] || { echo "FAIL train-demo: $f missing"; fails=$((fails + 1)); }
done
expect 0 "inspect the demo model" "0.00% (0 of 409600" -- "$POFA" inspect "$tmp/demo"

# damaged copies of the demo model
cp -r "$tmp/demo" "$tmp/bad"
head -c 1000 "$tmp/demo/model.safetensors" > "$tmp/bad/model.safetensors"
expect 2 "inspect a truncated model" "$tmp/bad/model.safetensors" -- "$POFA" inspect "$tmp/bad"
printf '\377\377\377\377\377\377\377\177' > "$tmp/bad/model.safetensors"
expect 2 "inspect a bad header length" "bad header length" -- "$POFA" inspect "$tmp/bad"
sed 's/"hidden_size":[[:space:]]*128/"hidden_size": 64/' "$tmp/demo/config.json" > "$tmp/bad/config.json"
cp "$tmp/demo/model.safetensors" "$tmp/bad/model.safetensors"
expect 2 "inspect a config that disagrees" "config.json says" -- "$POFA" inspect "$tmp/bad"
expect 2 "inspect a missing folder" "cannot open" -- "$POFA" inspect "$tmp/nothing-here"
# a config far larger than its weights: refused before memory is taken
cp -r "$tmp/demo" "$tmp/huge"
printf '{"hidden_size": 16384, "num_hidden_layers": 48, "intermediate_size": 65536, "num_attention_heads": 16}' \
	> "$tmp/huge/config.json"
expect 2 "inspect a config far larger than its weights" "do not belong together" -- "$POFA" inspect "$tmp/huge"
# eval: errors name the files they are about
printf 'sentence\tlabel\nw5 w6\ta\n' > "$tmp/t.tsv"
cp -r "$tmp/demo" "$tmp/v"
head -100 "$tmp/demo/vocab.txt" > "$tmp/v/vocab.txt"
expect 2 "eval: a vocabulary of another size" "vocab.txt has 100 tokens, but $tmp/v/config.json says vocab_size 2048" \
	-- "$POFA" eval --model "$tmp/v" --task tsv --data "$tmp/t.tsv"
expect 2 "eval: --seq past the model's positions is clamped, and said" \
	"sequence length 256 is more than $tmp/demo has positions; using 128" \
	-- "$POFA" eval --model "$tmp/demo" --task tsv --data "$tmp/t.tsv" --seq 256


# report: the summary table (one row per method over the eval stages) puts
# each model's sparsity and its speed-up over dense (the mean over the
# tasks) beside its accuracy
# rep_recipe DIR "A B..." "C D...": a run folder's recipe.ini, a finetune
# stage per model, eval stage ea over the first models (wn-sense), eb over
# the second (wn-pair)
rep_recipe() {
	mkdir -p "$1"
	{
		printf '[run]\nname = rep\n[model]\npreset = bert-tiny\n[data]\ndir = data\n'
		printf '[stage pre]\nkind = mlm\nsteps = 10\n'
		for m in $2; do printf '[stage %s]\nkind = finetune\nfrom = pre\ntask = wn-sense\nsteps = 10\n' "$m"; done
		for m in $3; do printf '[stage %s]\nkind = finetune\nfrom = pre\ntask = wn-pair\nsteps = 10\n' "$m"; done
		printf '[stage ea]\nkind = eval\ntask = wn-sense\nmodels = %s\n' "$(echo $2 | sed 's/ /, /g')"
		printf '[stage eb]\nkind = eval\ntask = wn-pair\nmodels = %s\n' "$(echo $3 | sed 's/ /, /g')"
	} > "$1/recipe.ini"
}
rep_recipe "$tmp/rep" "da sa" "db sb"
cat > "$tmp/rep/eval.csv" <<CSV
time,stage,model,step,task,split,metric,value,loss,seq_per_s,speedup,sparsity
1,ea,da,0,wn-sense,dev,accuracy,50.0,1.0,100.0,1.0,0.0
1,ea,sa,0,wn-sense,dev,accuracy,49.0,1.0,300.0,3.0,0.9
1,eb,db,0,wn-pair,dev,accuracy,60.0,1.0,80.0,1.0,0.0
1,eb,sb,0,wn-pair,dev,accuracy,57.0,1.0,200.0,2.5,0.9
CSV
expect 0 "report: the summary's header has sparsity and speed-up" \
	"| row | wn-sense | wn-pair | mean % of reference | sparsity | speed-up over dense |" -- "$POFA" report "$tmp/rep"
expect 0 "report: a sparse row, accuracy beside speed (2.75x: the mean of 3.00x and 2.50x)" \
	"| sa | 49.00 (98.0%) | 57.00 (95.0%) | 96.5% | 90.00% | 2.75x |" -- "$POFA" report "$tmp/rep"
# with the weights' size and the baselines: a size column, a row per baseline
cat > "$tmp/rep/eval.csv" <<CSV
time,stage,model,step,task,split,metric,value,loss,seq_per_s,speedup,sparsity,size_mb
1,ea,da,0,wn-sense,dev,accuracy,50.0,1.0,100.0,1.0,0.0,8.0
1,ea,sa,0,wn-sense,dev,accuracy,49.0,1.0,300.0,3.0,0.9,2.0
1,eb,db,0,wn-pair,dev,accuracy,60.0,1.0,80.0,1.0,0.0,8.0
1,eb,sb,0,wn-pair,dev,accuracy,57.0,1.0,200.0,2.5,0.9,3.0
1,ea,majority,0,wn-sense,dev,accuracy,10.0,,,,,
1,eb,majority,0,wn-pair,dev,accuracy,50.0,,,,,
1,eb,word overlap,0,wn-pair,dev,accuracy,66.0,,,,,
CSV
expect 0 "report: the sizes' mean (2.5 MB of 2.0 and 3.0)" \
	"| sa | 49.00 (98.0%) | 57.00 (95.0%) | 96.5% | 90.00% | 2.75x | 2.50 |" -- "$POFA" report "$tmp/rep"
expect 0 "report: a baseline's row in the summary" \
	"| word overlap | - | 66.00 (110.0%) | 110.0% | - | - | - |" -- "$POFA" report "$tmp/rep"
expect 0 "report: baselines in the task's table" "| majority | 10.00 | 20.0% | - | - | - |" -- "$POFA" report "$tmp/rep"
# report.html's frontier: a point per row (da at 1.00x and 100%, sa at 2.75x
# and 96.5%), the line through both (neither beats the other on both)
expect 0 "report.html: the frontier, a point per row" 'class="pl"[^>]*>sa</text>' -- sed -n '/id="frontier"/,/<\/svg>/p' "$tmp/rep/report.html"
expect 0 "report.html: the frontier's line through both rows" '<polyline[^>]*points="[0-9.]*,[0-9.]* [0-9.]*,[0-9.]* "' \
	-- sed -n '/id="frontier"/,/<\/svg>/p' "$tmp/rep/report.html"
# a row another beats on both (slower and less accurate than sa) is a
# point but not on the frontier's line: two points on it, not three
rep_recipe "$tmp/rep3" "da sa xa" "db sb xb"
cat > "$tmp/rep3/eval.csv" <<CSV
time,stage,model,step,task,split,metric,value,loss,seq_per_s,speedup,sparsity
1,ea,da,0,wn-sense,dev,accuracy,50.0,1.0,100.0,1.0,0.0
1,ea,sa,0,wn-sense,dev,accuracy,49.0,1.0,300.0,3.0,0.9
1,ea,xa,0,wn-sense,dev,accuracy,45.0,1.0,200.0,2.0,0.8
1,eb,db,0,wn-pair,dev,accuracy,60.0,1.0,80.0,1.0,0.0
1,eb,sb,0,wn-pair,dev,accuracy,57.0,1.0,200.0,2.5,0.9
1,eb,xb,0,wn-pair,dev,accuracy,52.0,1.0,150.0,1.5,0.8
CSV
"$POFA" report "$tmp/rep3" > /dev/null 2>&1
np=$(sed -n '/id="frontier"/,/<\/svg>/p' "$tmp/rep3/report.html" | grep -o '<polyline[^>]*points="[^"]*"' | head -1 \
	| sed 's/.*points="//; s/"$//' | wc -w)
if sed -n '/id="frontier"/,/<\/svg>/p' "$tmp/rep3/report.html" | grep -q 'class="pl"[^>]*>xa</text>' && [ "$np" -eq 2 ]; then
	echo "ok   report.html: a beaten row is a point, off the frontier's line (2 points on it)"
else
	echo "FAIL report.html: expected xa drawn and 2 points on the frontier's line, got $np"; fails=$((fails + 1))
fi

# data commands
expect 2 "tokenize without a vocabulary" "--vocab FILE is required" -- "$POFA" tokenize
expect 2 "tokenize a missing vocabulary" "cannot open" -- "$POFA" tokenize --vocab "$tmp/none.txt"
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n' > "$tmp/v.txt"
printf 'Hello, world\tworld\n' > "$tmp/in.txt"
expect 0 "tokenize a pair" "^\[CLS\] hello , world \[SEP\] world \[SEP\]$" -- sh -c "\"$POFA\" tokenize --vocab \"$tmp/v.txt\" --pair --pieces < \"$tmp/in.txt\""
expect 0 "tokenize ids" "^2 5 7 6 3$" -- sh -c "printf 'Hello, world\n' | \"$POFA\" tokenize --vocab \"$tmp/v.txt\""
expect 0 "tokenize keeps a typed [MASK] whole, as predict and Hugging Face do" "^2 5 4 6 3$" \
	-- sh -c "printf 'hello [MASK] world\n' | \"$POFA\" tokenize --vocab \"$tmp/v.txt\""
printf '' > "$tmp/empty.txt"
expect 2 "vocab from an empty corpus" "no words" -- "$POFA" vocab --corpus "$tmp/empty.txt" --out "$tmp/ev.txt"
expect 2 "vocab size too small" "--size wants an integer" -- "$POFA" vocab --corpus "$tmp/in.txt" --size 3 --out "$tmp/ev.txt"
expect 2 "data build from a missing dictionary" "cannot open" -- "$POFA" data build --out "$tmp/d" --gcide-dict "$tmp/none.dz"
expect 0 "data build on a slice" "wn-sense  train" -- "$POFA" data build --out "$tmp/d" --max-entries 300 --vocab-size 500
for f in corpus.txt vocab.txt wn-sense/train.tsv wn-pair/dev.tsv wn-span/test.json; do
	[ -s "$tmp/d/$f" ] || { echo "FAIL data build: $f missing"; fails=$((fails + 1)); }
done

# make run and make reproduce name their newest run: runs/demo points at the
# run folder just made (so recipes/transfer.ini's ../runs/demo/... finds it),
# moves on to the next one, and a real folder of that name is left alone
cat > "$tmp/fakerun" <<'SH'
#!/bin/sh
echo "$*" >> "${0%/*}/fakerun.args"
while [ $# -gt 0 ]; do [ "$1" = --out ] && mkdir -p "$2"; shift; done
SH
chmod +x "$tmp/fakerun"
mk() { make -s --no-print-directory BUILD="${BUILD:-build}" BIN="$POFA" RUNNER="$tmp/fakerun" RUNS="$tmp/runs" DATA= "$@"; }
mk run >"$tmp/mk.log" 2>&1
first=$(readlink "$tmp/runs/demo")
case "$first" in
demo-2*) [ -d "$tmp/runs/$first" ] && echo "ok   make run: runs/demo -> $first" \
		|| { echo "FAIL make run: runs/demo points at a missing $first"; fails=$((fails + 1)); } ;;
*) echo "FAIL make run: expected runs/demo -> demo-DATE, got '$first'"; cat "$tmp/mk.log"; fails=$((fails + 1)) ;;
esac
sleep 1   # the next second: another folder name
mk run >"$tmp/mk.log" 2>&1
second=$(readlink "$tmp/runs/demo")
[ -n "$second" ] && [ "$second" != "$first" ] && [ -d "$tmp/runs/$second" ] \
	&& echo "ok   a second make run moves runs/demo on ($second)" \
	|| { echo "FAIL a second make run: expected runs/demo past $first, got '$second'"; fails=$((fails + 1)); }
rm -f "$tmp/runs/prune-ofa-quick"; mkdir -p "$tmp/runs/prune-ofa-quick"
mk reproduce-quick >"$tmp/mk.log" 2>&1
[ -d "$tmp/runs/prune-ofa-quick" ] && [ ! -L "$tmp/runs/prune-ofa-quick" ] \
	&& grep -q "is a folder of its own" "$tmp/mk.log" \
	&& echo "ok   a real runs/prune-ofa-quick folder is left alone, said" \
	|| { echo "FAIL a real runs/prune-ofa-quick folder: replaced or not said"; cat "$tmp/mk.log"; fails=$((fails + 1)); }
# make reproduce-quick runs its own recipe: a step scale would cut the
# pre-training and the teachers too, and then no task learns
tail -n 1 "$tmp/fakerun.args" | grep -q "run --headless recipes/prune-ofa-quick.ini --out" \
	&& ! tail -n 1 "$tmp/fakerun.args" | grep -q step_scale \
	&& echo "ok   make reproduce-quick runs recipes/prune-ofa-quick.ini, unscaled" \
	|| { echo "FAIL make reproduce-quick: expected run --headless recipes/prune-ofa-quick.ini, got: $(tail -n 1 "$tmp/fakerun.args")"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ]
