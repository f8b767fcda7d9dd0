#!/bin/sh
# Text from users' files, in and out (pofa(1), UNTRUSTED TEXT): hostile
# labels through a whole run and every output they reach (report.html
# well-formed with no element or attribute from a label, report.md's tables
# intact, CSV cells neutralised, no ESC on the terminal), labels refused
# where they enter, pofa predict's bounded lines, outputs that would
# clobber a device, a link, a FIFO, a folder or an input, a file past
# ulimit -f, report.html from damaged run-folder CSVs, and the smaller
# promises (a packed-only folder evaluated, labels and sequences checked
# before a run folder is made, report's speed on a long eval.csv).
. test/fixture.sh
data_slice "$tmp/data"
ESC=$(printf '\033')
noesc() { ! grep -q "$ESC" "$1"; }

# ---- hostile labels through a whole run ---------------------------------------
L1='<script>alert(1)</script>'
L2='"><img src=x onerror=alert(1)>'
L3="=cmd|' /C calc'!A0"
L4='|a|b|'
mkdir -p "$tmp/task"
for split in train dev test; do
	{
		echo 'text,label'
		for i in 1 2 3 4 5 6 7 8; do
			echo "the cat sat $i,\"$L1\""
			echo "a mat $i,\"\"\"><img src=x onerror=alert(1)>\""
			echo "the mat $i,\"$L3\""
			echo "a cat $i,\"$L4\""
		done
		echo "=1+1 hyperlink,\"$L4\""
	} > "$tmp/task/$split.csv"
done
cat > "$tmp/h.ini" <<INI
[run]
name = hostile
threads = 2
[model]
preset = bert-tiny
max_position = 32
[data]
dir = $tmp/data
[task hostile]
format = csv
train_file = $tmp/task/train.csv
dev_file = $tmp/task/dev.csv
test_file = $tmp/task/test.csv
text_a = text
label_column = label
[stage ft]
kind = finetune
task = hostile
steps = 20
batch = 8
seq = 16
lr = 1e-3
[stage q8]
kind = qat
from = ft
task = hostile
steps = 4
batch = 8
seq = 16
[stage ev]
kind = eval
models = ft, q8
task = hostile
splits = dev, test
seq = 16
INI
"$POFA" run --headless "$tmp/h.ini" --out "$tmp/h" > "$tmp/h.log" 2>&1 \
	&& ok "a run with hostile labels (<script>, an img onerror, a formula, pipes)" \
	|| { tail -5 "$tmp/h.log"; bad "the hostile run"; }
noesc "$tmp/h.log" && ok "its terminal output holds no ESC" || bad "ESC in the run's output"
h="$tmp/h/report.html"
if xmllint --noout "$h" 2> "$tmp/xml.err"; then
	n=$(xmllint --xpath "count(//*[local-name()='script' or local-name()='img'] | //@onerror | //@src)" "$h")
	[ "$n" = 0 ] && ok "report.html: well-formed, no element or attribute from the labels" \
		|| bad "report.html holds $n elements or attributes from the labels"
else
	cat "$tmp/xml.err"; bad "report.html is not well-formed"
fi
# report.md: every row of a table keeps its header's cell borders, the
# labels' rows too (their pipes escaped)
awk '/^\|/ { line = $0; gsub(/\\\|/, "", line); n = gsub(/\|/, "", line);
	if (!intable) want = n; else if (n != want) { print "row with " n " borders, the table " want ": " $0; bad = 1 }
	intable = 1; if (/alert\(1\)|a\\\|b/) rows++; next } { intable = 0 }
	END { exit bad || rows < 8 }' "$tmp/h/report.md" > "$tmp/md.err" \
	&& ok "report.md: the labels' rows keep their table's cells (pipes escaped)" || { cat "$tmp/md.err"; bad "report.md tables"; }
grep -q '<script>' "$tmp/h/report.md" && bad "report.md holds raw HTML" || ok "report.md: no raw HTML from the labels"
# CSV: a cell starting with = + - @ is made text with a leading '
for f in per_class.csv confusion.csv; do
	grep -q "\"'=cmd" "$tmp/h/$f" && ! grep -q '[,^]"=cmd\|,=cmd' "$tmp/h/$f" \
		&& ok "$f: the formula label neutralised ('=cmd...)" || bad "$f: the formula label is live"
done
"$POFA" eval --model "$tmp/h/ft" --split dev --predictions "$tmp/p.csv" > "$tmp/e.out" 2>&1 \
	&& grep -q "\"'=1+1 hyperlink\"" "$tmp/p.csv" && ! grep -q ',"=' "$tmp/p.csv" && noesc "$tmp/e.out" \
	&& ok "eval --predictions: formula cells neutralised; eval's output holds no ESC" \
	|| { cat "$tmp/e.out"; bad "eval --predictions"; }
cut -d, -f1 "$tmp/task/dev.csv" | sed 1d > "$tmp/texts.txt"
"$POFA" predict --model "$tmp/h/ft" --csv "$tmp/texts.txt" > "$tmp/pr.csv" 2> "$tmp/pr.err" \
	&& grep -q "\"'=1+1 hyperlink\"" "$tmp/pr.csv" && ! grep -q ',"=' "$tmp/pr.csv" \
	&& ok "predict --csv: formula cells neutralised" || { head -3 "$tmp/pr.csv"; bad "predict --csv"; }

# ---- labels refused where they enter --------------------------------------------
refuse() {   # refuse WHAT LABEL-CELL: a task whose label is that, refused with its file and line
	printf 'text,label\na b,ok\nc d,%s\n' "$2" > "$tmp/bad.csv"
	sed "s|$tmp/task/train.csv|$tmp/bad.csv|" "$tmp/h.ini" > "$tmp/bad.ini"
	"$POFA" run --headless "$tmp/bad.ini" --out "$tmp/bad-run" > "$tmp/bad.log" 2>&1
	st=$?
	[ $st -eq 2 ] && grep -q "bad.csv:3: label" "$tmp/bad.log" && noesc "$tmp/bad.log" && [ ! -e "$tmp/bad-run" ] \
		&& ok "a label with $1: refused (exit 2, file:line named, no ESC echoed, no run folder)" \
		|| { cat "$tmp/bad.log"; bad "a label with $1 (exit $st)"; }
}
refuse "ESC ]0;x BEL" "$(printf 'x\033]0;pwned\007y')"
NL=$(printf '\nx'); NL=${NL%x}
refuse "a line break" "\"a${NL}b\""
refuse "invalid UTF-8" "$(printf 'a\377b')"
refuse "a tab" "$(printf 'a\tb')"
refuse "nothing (empty)" '""'
# a model's id2label with an escape sequence: refused, shown escaped
cp -r "$tmp/h/ft" "$tmp/esc-model"
awk -v e="$ESC" '/"0":/ { sub(/"0":[[:space:]]*"/, "\"0\": \"" e "]0;pwned") } { print }' "$tmp/h/ft/config.json" \
	> "$tmp/esc-model/config.json"
echo "the cat" | "$POFA" predict --model "$tmp/esc-model" > "$tmp/esc.out" 2>&1
[ $? -eq 2 ] && grep -q 'config.json: id2label' "$tmp/esc.out" && noesc "$tmp/esc.out" && grep -q '\\x1b' "$tmp/esc.out" \
	&& ok "a config.json label with ESC: refused, shown as \\x1b" || { cat -v "$tmp/esc.out"; bad "ESC in id2label"; }

# ---- pofa predict's lines: a NUL byte, a line past the limit, /dev/zero -----------------
printf 'a\000b\n' | "$POFA" predict --model "$tmp/h/ft" > "$tmp/nul.out" 2>&1
[ $? -eq 2 ] && grep -q 'standard input:1: a NUL byte' "$tmp/nul.out" && ok "predict: a NUL byte is an error naming the line" \
	|| { cat "$tmp/nul.out"; bad "predict NUL"; }
awk 'BEGIN { print "short"; s = ""; for (i = 0; i < 3000; i++) s = s "a"; print s }' > "$tmp/long.txt"
"$POFA" predict --model "$tmp/h/ft" --max-line 1000 "$tmp/long.txt" > "$tmp/long.out" 2>&1
[ $? -eq 2 ] && grep -q 'long.txt:2: a line longer than 1000 bytes' "$tmp/long.out" \
	&& ok "predict --max-line: a longer line is an error naming it" || { cat "$tmp/long.out"; bad "predict --max-line"; }
timeout $((20 * slow)) "$POFA" predict --model "$tmp/h/ft" /dev/zero > "$tmp/zero.out" 2>&1
[ $? -eq 2 ] && grep -q '/dev/zero:1: a NUL byte' "$tmp/zero.out" && ok "predict /dev/zero: an error at once, no endless read" \
	|| { cat "$tmp/zero.out"; bad "predict /dev/zero"; }

# ---- outputs that would clobber --------------------------------------------------------
clobber() {   # clobber WHAT OUT: export --onnx to OUT refused with exit 2
	"$POFA" export --onnx "$tmp/h/ft" "$2" > "$tmp/cl.out" 2>&1
	[ $? -eq 2 ] && ok "export --onnx to $1: refused" || { cat "$tmp/cl.out"; bad "export to $1"; }
}
# a device node of our own (never the machine's /dev/null: a regression
# would replace it for everyone), where we may make one
if mknod "$tmp/dev" c 1 3 2>/dev/null; then
	clobber "a device" "$tmp/dev"
	[ -c "$tmp/dev" ] && ok "the device kept" || bad "the device replaced"
	"$POFA" eval --model "$tmp/h/ft" --split dev --predictions "$tmp/dev" > "$tmp/cl.out" 2>&1
	[ $? -eq 2 ] && grep -q 'not a regular file' "$tmp/cl.out" && [ -c "$tmp/dev" ] \
		&& ok "eval --predictions to a device: refused" || bad "eval --predictions to a device"
else
	echo "ok   (no device test: mknod needs root; FIFOs and links are tested)"
fi
echo keep > "$tmp/target"; ln -s "$tmp/target" "$tmp/link"
clobber "a symbolic link" "$tmp/link"
[ -L "$tmp/link" ] && [ "$(cat "$tmp/target")" = keep ] && ok "the link and its target kept" || bad "the link replaced"
mkfifo "$tmp/fifo"
clobber "a FIFO" "$tmp/fifo"
[ -p "$tmp/fifo" ] && ok "the FIFO kept" || bad "the FIFO replaced"
mkdir "$tmp/outdir"
clobber "a folder" "$tmp/outdir"
clobber "a folder (trailing /)" "$tmp/outdir/"
cp "$tmp/h/ft/model.safetensors" "$tmp/model.copy"
clobber "its own input" "$tmp/h/ft/model.safetensors"
cmp -s "$tmp/model.copy" "$tmp/h/ft/model.safetensors" && ok "the source model kept" || bad "the source model destroyed"
"$POFA" eval --model "$tmp/h/ft" --split dev --predictions "$tmp/fifo" > "$tmp/cl.out" 2>&1
[ $? -eq 2 ] && grep -q 'not a regular file' "$tmp/cl.out" && ok "eval --predictions to a FIFO: refused" || bad "eval --predictions to a FIFO"
# a file past ulimit -f: an error that names it, its temp file removed
(ulimit -f 40; "$POFA" export --onnx "$tmp/h/ft" "$tmp/big.onnx") > "$tmp/fsz.out" 2>&1
st=$?
[ $st -eq 1 ] && grep -q 'big.onnx.*File too large' "$tmp/fsz.out" && [ -z "$(ls "$tmp" | grep 'big.onnx')" ] \
	&& ok "a file past ulimit -f: exit 1, File too large, no temp file left" || { cat "$tmp/fsz.out"; ls "$tmp"; bad "ulimit -f (exit $st)"; }

# ---- report.html from damaged run-folder CSVs -----------------------------------------
cp -r "$tmp/h" "$tmp/hr"
printf 'q8,4,50000000,Q,0.5,0.5\nq8,4,2147483647,K,0.5,0.5\nq8,4,<script>x</script>,V,0.5,0.5\nq8,4,0,Q,<b>1</b>,0\n' \
	>> "$tmp/hr/sparsity.csv"
awk -F, 'NR > 1 && $2 == "\"ev\"" { $9 = "\"<img src=x>\"" } { print }' OFS=, "$tmp/hr/eval.csv" > "$tmp/ev.csv" \
	&& mv "$tmp/ev.csv" "$tmp/hr/eval.csv"
printf '\377\376"bad utf-8",x\n' >> "$tmp/hr/events.csv"
timeout $((60 * slow)) "$POFA" report "$tmp/hr" > "$tmp/rep.out" 2>&1
st=$?
size=$(wc -c < "$tmp/hr/report.html")
if [ $st -eq 0 ] && xmllint --noout "$tmp/hr/report.html" 2>/dev/null && [ "$size" -lt 2000000 ]; then
	n=$(xmllint --xpath "count(//*[local-name()='script' or local-name()='img' or local-name()='b'] | //@src)" "$tmp/hr/report.html")
	[ "$n" = 0 ] && ok "report from damaged CSVs: well-formed, $size bytes, no injected element" || bad "report.html: $n injected"
else
	cat "$tmp/rep.out"; bad "report from damaged CSVs (exit $st, $size bytes)"
fi
noesc "$tmp/rep.out" && ok "pofa report's terminal output holds no ESC" || bad "ESC from pofa report"
# report's speed: linear in eval.csv's rows (40 000 of them)
awk -F, 'NR == 1 { print; next } { r = $0 } END { for (i = 0; i < 40000; i++) { $0 = r; $3 = "\"m" i "\""; print } }' OFS=, \
	"$tmp/h/eval.csv" > "$tmp/ev.csv" && cp "$tmp/ev.csv" "$tmp/hr/eval.csv"
t0=$(date +%s)
"$POFA" report "$tmp/hr" > /dev/null 2>&1
t1=$(date +%s)
[ $((t1 - t0)) -le $((5 * slow)) ] && ok "pofa report of 40000 eval.csv rows: $((t1 - t0)) s" || bad "pofa report took $((t1 - t0)) s on 40000 rows"
rm "$tmp/hr/eval.csv"
"$POFA" report "$tmp/hr" > "$tmp/rep.out" 2>&1
[ $? -eq 2 ] && grep -q 'eval.csv: cannot read: No such file' "$tmp/rep.out" && ok "report without eval.csv: exit 2, why" \
	|| { cat "$tmp/rep.out"; bad "report without eval.csv"; }

# ---- smaller promises -------------------------------------------------------------------
# a folder with the packed int8 file alone is evaluated
"$POFA" export --packed "$tmp/h/q8" > /dev/null 2>&1
mkdir "$tmp/packed" && cp "$tmp/h/q8/config.json" "$tmp/h/q8/vocab.txt" "$tmp/h/q8/model.packed.safetensors" \
	"$tmp/h/q8/training.json" "$tmp/packed/"
"$POFA" eval --model "$tmp/packed" --split dev > "$tmp/pk.out" 2>&1 && grep -q 'accuracy' "$tmp/pk.out" \
	&& ok "pofa eval of a folder with the packed file alone" || { cat "$tmp/pk.out"; bad "eval of a packed-only folder"; }
# labels the starting model does not have: refused before a run folder is made
printf 'text,label\na b,x\nc d,y\n' > "$tmp/xy.csv"
cat > "$tmp/xy.ini" <<INI
[model]
dir = $tmp/h/ft
[stage t]
kind = finetune
task = xy
steps = 2
seq = 16
[task xy]
format = csv
train_file = $tmp/xy.csv
dev_file = $tmp/xy.csv
text_a = text
INI
"$POFA" run --headless "$tmp/xy.ini" --out "$tmp/xy" > "$tmp/xy.log" 2>&1
[ $? -eq 2 ] && grep -q 'label "x" is not one of the labels of the model' "$tmp/xy.log" && [ ! -e "$tmp/xy" ] \
	&& ok "labels the starting model lacks: exit 2 before a run folder (format = csv: label column by default)" \
	|| { cat "$tmp/xy.log"; bad "labels against the starting model"; }
# an eval stage's sequence past a model's positions: refused before any stage runs
awk '/^\[stage ev\]/ { ev = 1 } { if (ev && /^seq = /) $0 = "seq = 64"; else if (/^seq = /) $0 = "seq = 16"; print }' \
	"$tmp/h.ini" > "$tmp/seq.ini"
"$POFA" run --headless "$tmp/seq.ini" --out "$tmp/seq" > "$tmp/seq.log" 2>&1
[ $? -eq 2 ] && grep -q 'stage ev: seq = 64, but ft has 32 positions' "$tmp/seq.log" && [ ! -e "$tmp/seq" ] \
	&& ok "an eval stage's seq past its models' positions: exit 2 before any stage" || { cat "$tmp/seq.log"; bad "eval stage seq"; }
# training.json's labels that are not config.json's: refused
cp -r "$tmp/h/ft" "$tmp/swap"
awk '{ gsub(/"\|a\|b\|"/, "\"swapped\""); print }' "$tmp/h/ft/training.json" > "$tmp/swap/training.json"
"$POFA" eval --model "$tmp/swap" --split dev > "$tmp/sw.out" 2>&1
[ $? -eq 2 ] && grep -q "its labels are not config.json's id2label" "$tmp/sw.out" && ok "training.json's labels checked against id2label" \
	|| { cat "$tmp/sw.out"; bad "training.json labels"; }
# a vocabulary that lists a token twice: refused, both lines named
cp -r "$tmp/h/ft" "$tmp/dup"
awk 'NR == 7 { print "the" ; next } { print }' "$tmp/h/ft/vocab.txt" > "$tmp/dup/vocab.txt"
echo "the cat" | "$POFA" predict --model "$tmp/dup" > "$tmp/dup.out" 2>&1
[ $? -eq 2 ] && grep -q 'vocab.txt:[0-9]*: token "the" again (first at line' "$tmp/dup.out" \
	&& ok "a vocabulary with a token twice: refused" || { cat "$tmp/dup.out"; bad "duplicate vocabulary token"; }
# a [MASK] past the sequence: said so
"$POFA" train-demo --steps 2 --out "$tmp/mlm" > /dev/null 2>&1
echo "the the [MASK]" | "$POFA" predict --model "$tmp/mlm" --seq 3 > "$tmp/m3.out" 2>&1 \
	&& grep -q 'no \[MASK\] within the first 3 tokens: raise --seq' "$tmp/m3.out" \
	&& ok "a [MASK] past --seq: said so" || { cat "$tmp/m3.out"; bad "[MASK] past --seq"; }
[ "$fails" -eq 0 ]
