#!/bin/sh
# Models brought from elsewhere and taken elsewhere: a classification model
# whose labels are not in sorted order keeps them (and its weights) through
# a fine-tune; a model folder's own vocabulary is the default; an eval
# stage takes its labels from the model, with no training file.
. test/fixture.sh
data_slice "$tmp/data"
cat > "$tmp/base.ini" <<INI
[run]
name = base
threads = 2
log_interval = 2
[model]
preset = bert-tiny
max_position = 64
hidden_dropout = 0.0
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 4
batch = 4
seq = 32
[stage tt]
kind = finetune
from = pre
task = wn-pair
steps = 4
batch = 4
seq = 32
INI
"$POFA" run --headless "$tmp/base.ini" --out "$tmp/base" > "$tmp/base.log" 2>&1 || { cat "$tmp/base.log"; exit 1; }
grep -q "stage tt: encoder loaded from .*/pre/model.safetensors; the classification head is new (drawn from the stage.s seed, trained from here)" \
	"$tmp/base.log" && ! grep -q "random weights" "$tmp/base.log" \
	&& ok "a model without the stage's head: the encoder loaded, the head new" || { cat "$tmp/base.log"; bad "fresh head not said as loaded encoder + new head"; }

# the run's dropout is the run's: config.json keeps the model's (0.1)
flat() { tr -d ' \t\n' < "$1"; }
flat "$tmp/base/pre/config.json" | grep -q '"hidden_dropout_prob":0.1,' \
	&& ok "a recipe's hidden_dropout = 0 is not written into config.json" \
	|| { grep dropout "$tmp/base/pre/config.json"; bad "dropout override saved"; }
# the tokenizer as Hugging Face should rebuild it
flat "$tmp/base/tt/tokenizer_config.json" | grep -q '"do_lower_case":true,"model_max_length":64,"pofa_trained_length":32' \
	&& flat "$tmp/base/tt/special_tokens_map.json" | grep -q '"mask_token":"\[MASK\]"' \
	&& ok "tokenizer_config.json (do_lower_case, model_max_length 64: the positions, the trained length apart) and special_tokens_map.json" \
	|| { cat "$tmp/base/tt/tokenizer_config.json"; bad "tokenizer files"; }

# a model labelled {0: "1", 1: "0"}: its classes in its own order
cp -r "$tmp/base/tt" "$tmp/hf"
rm "$tmp/hf/training.json"   # a folder from Hugging Face has no pofa training.json
# (id2label's values swapped; label2id likewise)
sed -E -i 's/"0":([[:space:]]*)"0"/"0":\1"X"/; s/"1":([[:space:]]*)"1"/"1":\1"0"/; s/"X"/"1"/' "$tmp/hf/config.json"
sed -E -i 's/"0":([[:space:]]*)0,/"0":\11,/; s/"1":([[:space:]]*)1([,}]?)$/"1":\10\2/' "$tmp/hf/config.json"
flat "$tmp/hf/config.json" | grep -q '"id2label":{"0":"1","1":"0"}' || { cat "$tmp/hf/config.json"; bad "could not relabel"; exit 1; }
"$POFA" eval --model "$tmp/hf" --task wn-pair --data "$tmp/data/wn-pair/dev.tsv" --seq 32 --predictions "$tmp/p0.csv" \
	> "$tmp/e0" 2>&1 || { cat "$tmp/e0"; bad "eval of the relabelled model"; }

# a fine-tune at lr 0 from it, the vocabulary its own (the data folder
# does not exist), and an eval stage with no train_file
cat > "$tmp/ft.ini" <<INI
[run]
name = ft
threads = 2
[model]
dir = $tmp/hf
[data]
dir = $tmp/no-such-data
[stage ft]
kind = finetune
task = mine
train_file = $tmp/data/wn-pair/train.tsv
dev_file = $tmp/data/wn-pair/dev.tsv
text_a = sentence1
text_b = sentence2
lr = 0
steps = 2
batch = 4
seq = 32
[stage ev]
kind = eval
models = ft
task = theirs
dev_file = $tmp/data/wn-pair/dev.tsv
text_a = sentence1
text_b = sentence2
seq = 32
[stage evb]
kind = eval
models = ft
baselines = yes
task = theirs
train_file = $tmp/data/wn-pair/train.tsv
dev_file = $tmp/data/wn-pair/dev.tsv
text_a = sentence1
text_b = sentence2
seq = 32
INI
"$POFA" run --headless "$tmp/ft.ini" --out "$tmp/ft" > "$tmp/ft.log" 2>&1 \
	&& ok "a run from a model folder with its own vocabulary; an eval stage without train_file" \
	|| { tail -5 "$tmp/ft.log"; bad "the run from the model folder"; }
flat "$tmp/ft/ft/config.json" | grep -q '"id2label":{"0":"1","1":"0"}' \
	&& ok "the model's label order is kept: {0: \"1\", 1: \"0\"}" \
	|| { grep -A3 id2label "$tmp/ft/ft/config.json"; bad "labels rewritten"; }
"$POFA" eval --model "$tmp/ft/ft" --task wn-pair --data "$tmp/data/wn-pair/dev.tsv" --predictions "$tmp/p1.csv" \
	> "$tmp/e1" 2>&1
# every example's logits and predicted label, the same before and after
[ -s "$tmp/p0.csv" ] && cmp -s "$tmp/p0.csv" "$tmp/p1.csv" \
	&& ok "lr 0 changes nothing: the same $(($(wc -l < "$tmp/p0.csv") - 1)) predictions before and after" \
	|| { diff "$tmp/p0.csv" "$tmp/p1.csv" | head -4; bad "predictions differ after a fine-tune at lr 0"; }
grep -q '"ev","ft",0,"theirs","dev","accuracy"' "$tmp/ft/eval.csv" && ok "the eval stage scored the model" \
	|| bad "eval stage rows"
# baselines = yes: three baselines beside it, each with accuracy and macro F1
for b in majority bag-of-words "word overlap"; do
	grep -q "\"evb\",\"$b\",0,\"theirs\",\"dev\",\"accuracy\",[0-9]" "$tmp/ft/eval.csv" \
		&& grep -q "\"evb\",\"$b\",0,\"theirs\",\"dev\",\"macro_f1\"" "$tmp/ft/eval.csv" \
		&& ok "baselines = yes: $b beside the model" || { grep '"evb"' "$tmp/ft/eval.csv"; bad "baseline $b"; }
done
grep -q '"ev","majority"' "$tmp/ft/eval.csv" && bad "baselines where none were asked" || ok "none without baselines = yes"
# a task without a training split: refused before the run
"$POFA" run --headless "$tmp/ft.ini" --set ev.baselines=yes --out "$tmp/nb" > "$tmp/nb.log" 2>&1
[ $? -eq 2 ] && grep -q "stage ev: baselines = yes learns from the task's training split: give train_file" "$tmp/nb.log" \
	&& [ ! -e "$tmp/nb" ] && ok "baselines without a training split: exit 2, no run folder" \
	|| { cat "$tmp/nb.log"; bad "baselines without train_file"; }
# a task whose labels the model does not have: refused, naming both
printf 'sentence1\tsentence2\tlabel\na\tb\tyes\n' > "$tmp/other.tsv"
"$POFA" eval --model "$tmp/hf" --task tsv --data "$tmp/other.tsv" --text-a sentence1 --text-b sentence2 \
	> "$tmp/e2" 2>&1
[ $? -eq 2 ] && grep -q 'label "yes" is not one of the labels of the model (.*config.json) (1, 0)' "$tmp/e2" \
	&& ok "a label the model lacks: refused, both named" || { cat "$tmp/e2"; bad "unknown label"; }
[ "$fails" -eq 0 ]
