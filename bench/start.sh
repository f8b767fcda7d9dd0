#!/bin/sh
# bench/start.sh BIN: one line through a 90%-sparse bert-base classifier,
# from starting pofa predict to its answer, as a user runs it: from the
# model folder (model.safetensors) and from the packed file pofa export
# --packed writes, measured by hyperfine (warm page cache, 2 threads).
# The model is made here: bert-base (the data's vocabulary) pruned to 90%
# in a few steps of wn-sense; its weights do not matter to the timing.
bin=${1:-bin/pofa}
data=$(cd "${2:-gen/data}" 2>/dev/null && pwd || echo "${2:-gen/data}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! command -v hyperfine >/dev/null 2>&1; then
	echo "== start-up skipped: hyperfine is not installed (make deps installs it)"
	exit 0
fi
if [ ! -s "$data/wn-sense/train.tsv" ] || [ ! -s "$data/vocab.txt" ]; then
	"$bin" data build --out "$data" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
	data=$(cd "$data" && pwd)   # the recipe below is read from $tmp
fi
cat > "$tmp/r.ini" <<INI
[run]
name = start
threads = 2
log_interval = 5
[model]
preset = bert-base
max_position = 128
[data]
dir = $data
[stage sense]
kind = finetune
task = wn-sense
steps = 10
batch = 2
seq = 16
final_sparsity = 0.9
start = 0
end = 0.5
every = 0.1
eval_examples = 20
INI
"$bin" run --headless "$tmp/r.ini" --out "$tmp/run" > "$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; exit 1; }
m="$tmp/run/sense"
mkdir "$tmp/packed"
cp "$m/config.json" "$m/vocab.txt" "$tmp/packed/"
"$bin" export --packed "$m" "$tmp/packed/model.packed.safetensors" || exit 1
echo "the state of being a small domesticated animal" > "$tmp/line.txt"
"$bin" predict --model "$m" --threads 2 "$tmp/line.txt" > "$tmp/a" && "$bin" predict --model "$tmp/packed" \
	--threads 2 "$tmp/line.txt" > "$tmp/b" && cmp -s "$tmp/a" "$tmp/b" || { echo "the packed file answers otherwise"; exit 1; }
st=$(du -m "$m/model.safetensors" | cut -f1) pk=$(du -m "$tmp/packed/model.packed.safetensors" | cut -f1)
echo "== start-up: one line through bert-base at 90% (vocabulary $(wc -l < "$m/vocab.txt")), pofa predict, 2 threads"
hyperfine -N --warmup 3 --runs 20 --export-csv "$tmp/h.csv" \
	-n "from model.safetensors ($st MB)" "$bin predict --model $m --threads 2 $tmp/line.txt" \
	-n "from model.packed.safetensors ($pk MB)" "$bin predict --model $tmp/packed --threads 2 $tmp/line.txt" \
	| grep -v '^ *Range\|^ *$' || exit 1
# command,mean,stddev,median,user,system,min,max
awk -F, -v cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" 'NR > 1 { m[NR - 1] = $4 }
	END { printf "RESULT start_safetensors_s=%.3f start_packed_s=%.3f ratio=%.2f targets=0.30,0.15 cpu=%s\n",
	      m[1], m[2], m[1] / m[2], cpu }' "$tmp/h.csv"
