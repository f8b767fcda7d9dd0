#!/bin/sh
# The forward-only path from the command line: pofa predict on each head
# (label and probability, the answer, [MASK] fillers; text and CSV; a file,
# "-" and standard input), its probabilities against pofa eval's, bad input;
# and the int8 model against QAT's simulated evaluation on the wn-sense dev
# split: the same prediction for at least 99.9% of the examples.
. test/fixture.sh
"$POFA" data build --out "$tmp/data" --max-entries 4000 --vocab-size 2000 > "$tmp/build.log" 2>&1 \
	|| { cat "$tmp/build.log"; exit 1; }
cat > "$tmp/r.ini" <<INI
[run]
name = predict
threads = 2
[model]
preset = bert-tiny
max_position = 64
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 20
batch = 8
seq = 32
lr = 1e-3
[stage sparse]
kind = prune
from = pre
steps = 10
batch = 8
seq = 32
final_sparsity = 0.8
end = 0.5
every = 2
[stage sense]
kind = finetune
from = sparse
task = wn-sense
lock = yes
steps = 200
batch = 32
seq = 32
lr = 3e-3
[stage span]
kind = finetune
from = pre
task = wn-span
steps = 10
batch = 8
seq = 48
[stage q8]
kind = qat
from = sense
task = wn-sense
steps = 40
batch = 32
seq = 32
lr = 1e-4
INI
"$POFA" run --headless "$tmp/r.ini" --out "$tmp/run" > "$tmp/run.log" 2>&1 || { tail -5 "$tmp/run.log"; exit 1; }
dev=$tmp/data/wn-sense/dev.tsv
n=$(($(wc -l < "$dev") - 1))
sed 1d "$dev" | cut -f1 > "$tmp/texts.txt"

# classification: a label and a probability a line, in the input's order
"$POFA" predict --model "$tmp/run/sense" "$tmp/texts.txt" > "$tmp/p.txt" 2> "$tmp/e" \
	&& [ "$(wc -l < "$tmp/p.txt")" -eq "$n" ] \
	&& awk -F'\t' 'NF != 2 || $2 < 0 || $2 > 1 { bad = 1 } END { exit bad }' "$tmp/p.txt" \
	&& ok "classification: $n lines in, $n labels and probabilities out" || { cat "$tmp/e"; head -3 "$tmp/p.txt"; bad "classification"; }
# the same probabilities as pofa eval's, row by row (its line numbers are the file's)
"$POFA" eval --model "$tmp/run/sense" --task wn-sense --data "$dev" --seq 32 --predictions "$tmp/ev.csv" > "$tmp/ev.log" 2>&1 \
	|| { cat "$tmp/ev.log"; bad "pofa eval"; }
"$POFA" predict --model "$tmp/run/sense" --csv --seq 32 - < "$tmp/texts.txt" > "$tmp/p.csv" 2> "$tmp/e" || { cat "$tmp/e"; bad "predict --csv from -"; }
# eval's p_ columns: the largest is the prediction's probability
awk -F, 'NR > 1 { m = 0; for (i = 3; i < NF - 1; i++) if ($i + 0 > m) m = $i + 0; print $(NF-1), m }' "$tmp/ev.csv" | tr -d '"' > "$tmp/a"
awk -F, 'NR > 1 { print $(NF-1), $NF }' "$tmp/p.csv" | tr -d '"' > "$tmp/b"
paste -d' ' "$tmp/a" "$tmp/b" | awk -v n="$n" '{ rows++; if ($1 == $3 && ($2 - $4 < 1e-4 && $4 - $2 < 1e-4)) same++ }
	END { printf "%d of %d rows agree\n", same, rows; exit !(rows == n && same == rows) }' > "$tmp/agree" \
	&& ok "predict --csv agrees with pofa eval --predictions: $(cat "$tmp/agree") (label, probability within 1e-4)" \
	|| { cat "$tmp/agree"; head -3 "$tmp/a" "$tmp/b"; bad "predict and eval disagree"; }
head -1 "$tmp/p.csv" | grep -qx 'line,text_a,text_b,label,probability' && ok "CSV header" || bad "CSV header"
# quoting: a text with a comma and a quote comes back as one field
printf 'a "quoted", text\n' | "$POFA" predict --model "$tmp/run/sense" --csv > "$tmp/q.csv"
sed -n 2p "$tmp/q.csv" | grep -q '^1,"a ""quoted"", text","",' && ok "CSV quotes a text with commas and quotes" \
	|| { cat "$tmp/q.csv"; bad "CSV quoting"; }

# --top K on a classifier: its K most probable labels, best first (it
# was ignored); CSV then ranks them, a row each
head -3 "$tmp/texts.txt" | "$POFA" predict --model "$tmp/run/sense" --top 3 > "$tmp/t3.txt" 2> "$tmp/e"
awk -F'\t' 'NF != 6 || $2 < $4 || $4 < $6 || $1 == $3 || $3 == $5 { bad = 1 } END { exit bad || NR != 3 }' "$tmp/t3.txt" \
	&& ok "classification --top 3: three labels a line, most probable first" \
	|| { cat "$tmp/e" "$tmp/t3.txt"; bad "classification --top 3: expected label, p, label, p, label, p, p falling"; }
head -1 "$tmp/texts.txt" | "$POFA" predict --model "$tmp/run/sense" --top 2 --csv > "$tmp/t2.csv" 2> "$tmp/e"
head -1 "$tmp/t2.csv" | grep -qx 'line,text_a,text_b,rank,label,probability' && [ "$(sed 1d "$tmp/t2.csv" | wc -l)" -eq 2 ] \
	&& sed -n 3p "$tmp/t2.csv" | grep -q '^1,.*,"",2,' \
	&& ok "classification --top 2 --csv: a row a rank" || { cat "$tmp/e" "$tmp/t2.csv"; bad "classification --top 2 --csv"; }
# a pair for a model trained on single texts: read as a pair, and said (once)
printf 'a small bird\tthe bird sang\nanother\tpair\n' | "$POFA" predict --model "$tmp/run/sense" > "$tmp/pr.txt" 2> "$tmp/e"
[ "$(grep -c 'trained on single texts' "$tmp/e")" -eq 1 ] && grep -q "line 1 has a tab" "$tmp/e" \
	&& [ "$(wc -l < "$tmp/pr.txt")" -eq 2 ] \
	&& ok "a pair for a single-text classifier: predicted, and said once" || { cat "$tmp/e"; bad "a pair for a single-text model not said"; }

# span: the answer is a piece of the context
printf 'living things collectively\tthe oceans are teeming with life\n' > "$tmp/qa.txt"
"$POFA" predict --model "$tmp/run/span" "$tmp/qa.txt" > "$tmp/s.txt" 2> "$tmp/e" \
	&& ans=$(cut -f1 "$tmp/s.txt") && case "the oceans are teeming with life" in *"$ans"*) true ;; *) false ;; esac \
	&& ok "span: the answer \"$ans\" is taken from the context" || { cat "$tmp/e" "$tmp/s.txt"; bad "span"; }
"$POFA" predict --model "$tmp/run/span" --top 3 "$tmp/qa.txt" > /dev/null 2> "$tmp/e"
grep -q -- "--top: .* is a span model" "$tmp/e" && ok "--top on a span model: said, not silently ignored" \
	|| { cat "$tmp/e"; bad "--top on a span model: expected a note"; }

# masked LM: the top fillers of each [MASK], special tokens never among them
printf 'the [MASK] of a [MASK]\nno mask here\n' | "$POFA" predict --model "$tmp/run/pre" --top 3 > "$tmp/m.txt" 2> "$tmp/e"
sed -n 1p "$tmp/m.txt" | grep -q '^\[MASK\] 1: [^ ]* ([0-9.]*) [^ ]* ([0-9.]*) [^ ]* ([0-9.]*)	\[MASK\] 2: ' \
	&& ! grep -q '\[PAD\]\|\[CLS\]\|\[SEP\]\|\[UNK\]' "$tmp/m.txt" \
	&& sed -n 2p "$tmp/m.txt" | grep -q 'no \[MASK\]' && ok "masked LM: three fillers for each of two [MASK]s" \
	|| { cat "$tmp/e" "$tmp/m.txt"; bad "masked LM"; }
printf 'the [MASK] of a thing\n' | "$POFA" predict --model "$tmp/run/pre" --top 2 --csv > "$tmp/m.csv"
[ "$(sed 1d "$tmp/m.csv" | wc -l)" -eq 2 ] && head -1 "$tmp/m.csv" | grep -qx 'line,text,mask,rank,token,probability' \
	&& ok "masked LM as CSV: a row a filler" || { cat "$tmp/m.csv"; bad "masked LM CSV"; }

# int8: pofa predict and pofa eval run the int8 weights; the training
# forward simulates them: at least 99.9% the same predictions
"$POFA" eval --model "$tmp/run/q8" --task wn-sense --data "$dev" --seq 32 --predictions "$tmp/i8.csv" > "$tmp/i8.log" 2>&1 \
	&& grep -q "int8" "$tmp/i8.log" || { cat "$tmp/i8.log"; bad "int8 eval"; }
"$POFA" eval --model "$tmp/run/q8" --task wn-sense --data "$dev" --seq 32 --reference --predictions "$tmp/sim.csv" > "$tmp/sim.log" 2>&1 \
	&& grep -q "int8 simulated" "$tmp/sim.log" || { cat "$tmp/sim.log"; bad "simulated eval"; }
awk -F, 'NR > 1 { print $(NF-1) }' "$tmp/i8.csv" > "$tmp/a8"
awk -F, 'NR > 1 { print $(NF-1) }' "$tmp/sim.csv" > "$tmp/as"
# a model that tells classes apart, or agreeing would prove little
k=$(sort -u "$tmp/a8" | wc -l)
[ "$k" -ge 3 ] && ok "the int8 model predicts $k different labels" || bad "the int8 model predicts only $k labels"
paste -d' ' "$tmp/a8" "$tmp/as" | awk '{ rows++; same += $1 == $2 } END { printf "%d of %d (%.2f%%)", same, rows, 100 * same / rows;
	exit !(rows > 1000 && same >= 0.999 * rows) }' > "$tmp/agree8" \
	&& ok "int8 and QAT's simulation predict the same for $(cat "$tmp/agree8") of wn-sense dev" \
	|| { cat "$tmp/agree8"; bad "int8 argmax agreement below 99.9%"; }
"$POFA" predict --model "$tmp/run/q8" --seq 32 "$tmp/texts.txt" | cut -f1 > "$tmp/p8"
tr -d '"' < "$tmp/a8" | cmp -s - "$tmp/p8" && ok "pofa predict runs the int8 model as pofa eval does" || bad "predict int8"

# the packed file alone (config.json and vocab.txt beside it) is the int8
# model: its word embeddings are float16, so its predictions agree with the
# float32-embedding int8 path on at least 99.9% of wn-sense dev
mkdir "$tmp/packed"
"$POFA" export --packed "$tmp/run/q8" "$tmp/packed/model.packed.safetensors" > "$tmp/e" 2>&1 \
	&& cp "$tmp/run/q8/config.json" "$tmp/run/q8/vocab.txt" "$tmp/packed/" \
	&& "$POFA" predict --model "$tmp/packed" --seq 32 "$tmp/texts.txt" > "$tmp/pk" 2>> "$tmp/e" \
	|| { cat "$tmp/e"; bad "predict from the packed file alone"; }
cut -f1 "$tmp/pk" | paste -d' ' - "$tmp/p8" | awk '{ rows++; same += $1 == $2 } END { printf "%d of %d", same, rows;
	exit !(rows > 1000 && same >= 0.999 * rows) }' > "$tmp/agreep" \
	&& ok "the packed file alone predicts as the int8 model for $(cat "$tmp/agreep")" \
	|| { cat "$tmp/agreep"; bad "packed predictions disagree"; }

# a float32 sparse model packed (its Linears by their nonzeros): the file
# alone predicts what the model folder predicts, probabilities and all
mkdir "$tmp/packedf"
"$POFA" export --packed "$tmp/run/sense" "$tmp/packedf/model.packed.safetensors" > "$tmp/e" 2>&1 \
	&& grep -q "float32, [0-9.]*% sparse" "$tmp/e" \
	&& cp "$tmp/run/sense/config.json" "$tmp/run/sense/vocab.txt" "$tmp/packedf/" \
	&& "$POFA" predict --model "$tmp/packedf" --seq 32 --top 3 "$tmp/texts.txt" > "$tmp/pf" 2>> "$tmp/e" \
	&& "$POFA" predict --model "$tmp/run/sense" --seq 32 --top 3 "$tmp/texts.txt" > "$tmp/pf0" 2>> "$tmp/e" \
	|| { cat "$tmp/e"; bad "predict from a packed float32 file"; }
[ -s "$tmp/pf" ] && cmp -s "$tmp/pf" "$tmp/pf0" \
	&& ok "a packed float32 file alone predicts as its model folder ($(wc -l < "$tmp/pf") lines, top 3, the same to the digit)" \
	|| { diff "$tmp/pf0" "$tmp/pf" | head -5; bad "packed float32 predictions differ"; }

# bad input: exit 2, named
"$POFA" predict --model "$tmp/none" "$tmp/texts.txt" > /dev/null 2> "$tmp/e"
[ $? -eq 2 ] && grep -q "$tmp/none/config.json" "$tmp/e" && ok "no model: exit 2, named" || { cat "$tmp/e"; bad "no model"; }
"$POFA" predict --model "$tmp/run/sense" "$tmp/missing.txt" > /dev/null 2> "$tmp/e"
[ $? -eq 2 ] && grep -q "$tmp/missing.txt: cannot open" "$tmp/e" && ok "no input file: exit 2, named" || { cat "$tmp/e"; bad "no input"; }
"$POFA" predict --model "$tmp/run/sense" --top 0 < /dev/null > /dev/null 2> "$tmp/e"
[ $? -eq 2 ] && ok "a bad option value: exit 2" || { cat "$tmp/e"; bad "bad option"; }
[ "$fails" -eq 0 ]
