#!/bin/sh
# The workbench driven through tmux, as tmux's own tests do: a private
# server, keys sent, the pane captured and read.
. test/fixture.sh
command -v tmux >/dev/null || { echo "FAIL tmux is not installed (make deps)"; exit 1; }
sock="pofa-tui-$$"
T="tmux -L $sock"
trap '$T kill-server 2>/dev/null; fixture_cleanup' EXIT
bad() { echo "FAIL $1"; $T capture-pane -p -t t 2>/dev/null | head -40; fails=$((fails + 1)); }
screen() { $T capture-pane -p -t t; }
# wait_for TEXT [seconds]: until the pane shows TEXT
wait_for() {
	i=0; n=$((${2:-60} * 10 * slow))
	while [ $i -lt $n ]; do
		screen | grep -q -- "$1" && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
# wait_gone TEXT [seconds]: until the pane no longer shows TEXT
wait_gone() {
	i=0; n=$((${2:-60} * 10 * slow))
	while [ $i -lt $n ]; do
		screen | grep -q -- "$1" || return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
step_now() { screen | sed -n 's/.*step \([0-9]*\)\/.*/\1/p' | head -1; }
# the header's elapsed time in seconds
elapsed_now() { screen | sed -n 's/.*elapsed \([0-9:]*\).*/\1/p' | head -1 | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }

# a ThreadSanitizer build: its reports, from every pofa the tmux sessions
# run, go to files read at the end (a report fails the test)
case "$POFA" in */tsan/*) export TSAN_OPTIONS="log_path=$tmp/tsan halt_on_error=0 ${TSAN_OPTIONS:-}" ;; esac
data_slice "$tmp/data"
# the workbench's settings (pofa.conf) in the test's own folder; the tmux
# server, started below, passes it on
export XDG_CONFIG_HOME="$tmp/cfg"
# the demo recipe, shortened, on the slice
sets="--set data.dir=$tmp/data --set pretrain.steps=20 --set teacher.steps=10 --set prune90.steps=${TUI_PRUNE_STEPS:-4000} \
--set prune90.batch=4 --set prune90.seq=32 --set task-teacher.steps=20 --set sparse-sense.steps=20 \
--set qat.steps=10 --set run.log_interval=2 --set run.checkpoint_interval=20"
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 TERM=xterm-256color $POFA run recipes/demo.ini --out $tmp/run $sets; echo EXIT=\$?; sleep 600"
# the server outlives each session: a case starts its own after killing the
# last one's, and a server exiting then took the new session with it
$T set-option -g exit-empty off

wait_for "prune90 (prune)" 120 && ok "the run reaches the prune stage" || bad "the run reaches the prune stage"
screen > "$tmp/s1"
grep -q "pofa  demo" "$tmp/s1" && grep -q "pretrain > teacher > prune90" "$tmp/s1" && ok "header: name and stage pipeline" || bad "header"
grep -q "losses" "$tmp/s1" && grep -q "teacher" "$tmp/s1" && ok "loss chart" || bad "loss chart"
# its axes: several loss values, the stage's steps below; in the run window
# where each stage begins
i=0; while [ $i -lt $((150 * slow)) ] && ! screen | sed -n '3,$p' | grep -qE " step [0-9]+ *[│x]"; do
	sleep 0.2; i=$((i + 1)); done
screen > "$tmp/s1b"
ny=$(sed -n '3,$p' "$tmp/s1b" | grep -cE "^[│x] +[0-9][0-9.e+-]* ")
[ "$ny" -ge 3 ] && sed -n '3,$p' "$tmp/s1b" | grep -qE " step [0-9]+ *[│x]" \
	&& ok "loss chart: $ny y-axis values, steps on the x axis" || bad "loss chart axes ($ny y values)"
# a masked-LM stage: the unigram baseline's level, dotted, named in the legend
wait_for "\.\. uni\(gram\)\? [0-9]" 10 && screen | sed -n '3,$p' | grep -qE "[│x] .*\. \. \. \." \
	&& ok "loss chart: the unigram baseline's loss as a dotted line" || bad "loss chart: unigram line"
$T send-keys -t t w
wait_for "losses (run)" 10 && wait_for "|prune90" 10 && ok "loss chart, whole run: where prune90 begins" \
	|| bad "loss chart: stage boundary"
$T send-keys -t t w
grep -q "sparsity of" "$tmp/s1" && grep -q "L0" "$tmp/s1" && ok "heatmap" || bad "heatmap"
grep -q "events" "$tmp/s1" && grep -q "start prune90" "$tmp/s1" && ok "event log" || bad "event log"

# pause: PAUSED and the step counter stands still for 2 s
$T send-keys -t t Space
wait_for "PAUSED" 20 && ok "Space: PAUSED shown" || bad "PAUSED shown"
screen | grep -q "ETA --:--" && ! screen | grep -q "tok/s" && ok "paused: the ETA stops, no tok/s" \
	|| bad "paused header (expected ETA --:-- and no tok/s)"
sleep 0.5; a=$(step_now); sleep 2; b=$(step_now)
[ -n "$a" ] && [ "$a" = "$b" ] && ok "paused: the step stays at $a for 2 s" || bad "paused: step moved from $a to $b"
$T send-keys -t t Space
wait_for "RUNNING" 20 && sleep 2 && c=$(step_now)
[ -n "$c" ] && [ "$c" -gt "$b" ] && ok "Space again: running, step $b -> $c" || bad "resume: step $b -> $c"

# the schedule form: final sparsity 0.5
$T send-keys -t t e
wait_for "edit the schedule" 10 || bad "the form opens"
$T send-keys -t t BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace 0.5 Enter
wait_for "schedule: final_sparsity=0.5" 30 && ok "e: final sparsity 0.5 applied" || bad "schedule edit"
grep -q '"schedule","final_sparsity=0.5"' "$tmp/run/events.csv" && ok "events.csv records the edit" \
	|| bad "events.csv records the edit"
# the sparsity reached follows the new target: 50% once the window ends
end=$(screen | sed -n -e 's/.*GMP [0-9.]*->\([0-9.]*\) start [0-9]* end \([0-9]*\).*/\2/p' \
	-e 's/.*GMP [0-9.]*->\([0-9.]*\)  steps [0-9]*-\([0-9]*\).*/\2/p' | head -1)
for i in $(seq 1 $((3000 * slow))); do   # up to 10 min (x slow) on a loaded machine
	s=$(step_now); [ -n "$s" ] && [ -n "$end" ] && [ "$s" -gt "$end" ] && break; sleep 0.2
done
last=$(grep '"prune90"' "$tmp/run/metrics.csv" | tail -1 | cut -d, -f11)
awk -v s="$last" 'BEGIN { exit !(s > 0.499 && s < 0.501) }' && ok "the sparsity reached follows: $last" \
	|| bad "sparsity after the edit: $last (end $end)"

screen | grep -q "run ETA" && ok "header: a whole-run ETA beside the stage's" || bad "run ETA"

# paused from here on (the engine still answers edits, export and stop),
# so that the run is live whatever this machine's speed
$T send-keys -t t Space
wait_for "PAUSED" 20 || bad "paused for the form"
# c: the status line says when the checkpoint is written, not only asked for
$T send-keys -t t c
wait_for "checkpoint written at step [0-9]*: " 60 && ok "c: the checkpoint confirmed on the status line" \
	|| { screen | tail -2; bad "c: checkpoint confirmed (expected \"checkpoint written at step N: ...\")"; }

# the form refuses what would harm the run, and says why on the status line
$T send-keys -t t e
wait_for "edit the schedule" 10 || bad "the form opens again"
$T send-keys -t t Down Down Down Down C-e && $T send-keys -t t -N 12 BSpace && $T send-keys -t t 1 Enter
wait_for "refused: freeze (step 1) is before end" 30 && ok "e: freeze before end refused, the reason on the status line" \
	|| bad "e: freeze before end (expected \"refused: freeze (step 1) is before end\")"
screen | grep -q "edit the schedule" && screen | grep -qE "freeze step +1 +< refused" \
	&& ok "e: the form stays open after the engine's refusal, the value as typed, marked" \
	|| { screen; bad "e: refused form (expected it open, freeze step 1 < refused)"; }
# Home and End as terminals send them where terminfo says otherwise, and a
# sequence pofa has no use for: the form stays, the field as it was
$T send-keys -t t Home End && $T send-keys -t t -l "$(printf '\033[1~\033[4~\033[200~\033[1;5C')"
sleep 0.5
screen | grep -q "edit the schedule" && screen | grep -qE "freeze step +1 " \
	&& ok "e: Home, End and unknown escape sequences leave the form open" || { screen; bad "e: escape sequences in the form"; }
$T send-keys -t t Escape
wait_gone "edit the schedule" 10 || bad "Esc closes the form"
$T send-keys -t t e
wait_for "edit the schedule" 10 && $T send-keys -t t -N 12 BSpace && $T send-keys -t t 1 e Enter
wait_for "is not a number; the other fields are kept" 10 && screen | grep -q "edit the schedule" \
	&& ok "e: an invalid field keeps the form open" || bad "e: invalid field"
$T send-keys -t t Escape
$T send-keys -t t e
wait_for "edit the schedule" 10 && $T send-keys -t t Down Down Down Down Down C-e && $T send-keys -t t -N 12 BSpace \
	&& $T send-keys -t t 9 Enter
wait_for "more than 10x this stage's peak" 10 && ok "e: an lr above 10x the stage's peak asks first" || bad "e: lr 9 asks"
$T send-keys -t t n
sleep 1; ! grep -q '"schedule","lr=9"' "$tmp/run/events.csv" && ok "e: lr 9 not applied when refused" || bad "lr applied"

# the event log: / searches (the view moves to the match), End follows
$T send-keys -t t /
wait_for "search the event log" 10 && $T send-keys -t t -l "start prune90" && $T send-keys -t t Enter
wait_for "/start prune90: line" 10 && screen | grep -q "events [0-9]*-[0-9]* of [0-9]*" \
	&& ok "/: the log moved to the match, its position shown" || bad "/ search"
$T send-keys -t t Escape F
wait_for "events (following)" 10 && ok "F (End): the log follows the newest again" || bad "F: follow"

# export
$T send-keys -t t x
wait_for "export to folder" 10 || bad "the export prompt"
$T send-keys -t t Enter
wait_for "exported" 30 && ok "x: exported" || bad "export"
for f in metrics.csv sparsity.csv eval.csv; do
	[ "$(wc -l < "$tmp/run/export/$f")" -ge 2 ] || bad "export: $f has no rows"
done
head -1 "$tmp/run/export/metrics.csv" | grep -q '^time,stage,step' && ok "exported CSV files with headers and rows" \
	|| bad "exported headers"

# help overlay, then back; typing filters it, Ctrl-C and the mouse listed
$T send-keys -t t '?'
wait_for "type to filter" 10 && ok "? help overlay from the binding table" || bad "help overlay"
$T send-keys -t t -l "mouse"
wait_for "filter: mouse" 10 && screen | grep -q "scroll the pane under it" && ! screen | grep -q "pause / resume" \
	&& ok "help: typing filters the keys (mouse)" || { screen; bad "help filter"; }
$T send-keys -t t -N 5 BSpace && $T send-keys -t t -l "ctrl-c"
wait_for "stop now, without asking" 10 && ok "help: Ctrl-C listed, found by its name" || { screen; bad "help: Ctrl-C"; }
$T send-keys -t t Escape

# v: the evaluation pane per class (no classifier evaluated yet here), and back
$T send-keys -t t v
wait_for "evaluation per class" 10 && ok "v: the evaluation pane per class" || bad "v: per class"
$T send-keys -t t v
wait_for "evaluation, dev" 10 && ok "v again: the summary" || bad "v: back to the summary"
# the evaluation table: column headers; each model's value and sparsity
screen | grep -q "model  *value  *%first  *sparse  *seq/s  *speedup" && screen | grep -q "mlm: loss" \
	&& screen | grep -qE "[│x]  pretrain  *[0-9]\.[0-9]{3}  *-  *0\.0%" \
	&& ok "evaluation table: column headers, the value and sparsity of each model" || bad "evaluation table columns"

# focus: Tab moves it, the footer gives the focused pane's keys; z
# maximises the focused pane; H hides it, remembered in pofa.conf
$T send-keys -t t Tab
wait_for "\[eval\] Up/Down" 10 && ok "Tab: the evaluation table focused, its keys in the footer" || bad "Tab focus"
$T send-keys -t t 5 z
wait_for "\[log\]" 10 && sleep 0.5 && screen > "$tmp/z"
! grep -q "losses" "$tmp/z" && ! grep -q "sparsity of" "$tmp/z" && grep -q "^lq events" "$tmp/z" \
	&& [ "$(grep -c "^x[0-9][0-9]:[0-9][0-9]:[0-9][0-9] " "$tmp/z")" -ge 30 ] \
	&& ok "5 z: the event log alone, maximised" || { cat "$tmp/z"; bad "z maximises the log"; }
$T send-keys -t t z
wait_for "sparsity of" 10 && ok "z again: every pane back" || bad "z back"
$T send-keys -t t 4 H
sleep 0.5
! screen | grep -q "schedule \[e\]dit" && grep -qx "panes = chart heatmap eval log header" "$tmp/cfg/pofa/pofa.conf" \
	&& ok "4 H: the schedule hidden, pofa.conf says so" || { cat "$tmp/cfg/pofa/pofa.conf"; bad "H hides, remembered"; }
$T send-keys -t t 4
wait_for "schedule \[e\]dit" 10 && grep -qx "panes = chart heatmap eval schedule log header" "$tmp/cfg/pofa/pofa.conf" \
	&& ok "4: the schedule back, focused" || bad "4 shows the schedule"

# the chart: distillation's loss on its own scale (the right axis), the
# focused chart's series hidden and shown with Enter
$T send-keys -t t 1
wait_for "kd [0-9.e-]*\( (right)\|>\)" 20 && [ "$(screen | grep -cE "^x +[0-9][0-9.e+-]* .* [0-9][0-9.e+-]*x")" -ge 3 ] \
	&& ok "chart: kd on its own scale, values on both axes" || bad "chart: kd on the right axis"
$T send-keys -t t Enter
wait_for "\(teacher [0-9.e-]* (hidden)\|tchr [0-9.e-]* off\)" 10 && ok "chart focused, Enter: the teacher's series hidden" || bad "series hidden"
$T send-keys -t t Enter
wait_gone "(hidden)\|tchr [0-9.e-]* off" 10 && screen | grep -q "teacher [0-9.e-]*\|tchr [0-9.e-]*" \
	&& ok "Enter again: shown" || bad "series shown"

# the heatmap's mask: an overlay over most of the screen
$T send-keys -t t 2 Enter
wait_for "blocks; each" 20 && rows=$(screen | sed -n 's/.* \([0-9]*\) x [0-9]* blocks.*/\1/p') \
	&& [ "${rows:-0}" -ge 30 ] && screen | grep -q "mask of L0 Q in prune90" \
	&& ok "Enter on the heatmap: L0 Q's mask in an overlay, $rows rows" || bad "mask overlay ($rows rows)"
$T send-keys -t t Escape
wait_for "sparsity of" 10 || bad "Esc closes the mask"

# t: the theme picker lists the built-in themes and the user's own; Down
# shows the next on the whole screen (light paints its own background,
# readable on a dark terminal), Esc goes back, Enter keeps and remembers
mkdir -p "$tmp/cfg/pofa/themes" && cp themes/high-contrast.theme "$tmp/cfg/pofa/themes/ocean.theme"
$T send-keys -t t t
wait_for "theme (Enter keeps" 10 && screen | grep -q "> default" && screen | grep -q " ocean" \
	&& screen | grep -q " high-contrast" && ok "t: the picker lists the built-in themes and the user's (ocean)" \
	|| { screen | tail -20; bad "theme picker list"; }
$T send-keys -t t Down
sleep 0.5
wait_for "> light" 10 && $T capture-pane -e -p -t t | grep -q "48;5;255m" \
	&& ok "t, Down: light shown on the whole screen while picking" || bad "theme preview"
$T send-keys -t t Escape
wait_for "theme default kept" 10 && sleep 0.5 && ! $T capture-pane -e -p -t t | grep -q "48;5;255m" \
	&& ok "Esc: back to the theme before" || bad "theme picker Esc"
$T send-keys -t t t
wait_for "> default" 10
$T send-keys -t t Down
wait_for "> light" 10
$T send-keys -t t Enter
wait_for "theme light (remembered)" 10 && sleep 0.5 && $T capture-pane -e -p -t t | grep -q "48;5;255m" \
	&& grep -qx "theme = light" "$tmp/cfg/pofa/pofa.conf" \
	&& ok "Enter: the light theme kept, remembered in pofa.conf" || bad "light theme kept"

# resize: the too-small screen, then the workbench again
$T resize-window -t t -x 40 -y 12
wait_for "too small" 10 && screen | grep -q "need 80x24" && ok "40x12: the too-small screen" || bad "too-small screen"
for size in "1 1" "2 1" "10 3" "79 23"; do
	$T resize-window -t t -x ${size% *} -y ${size#* }
	sleep 0.3
done
$T resize-window -t t -x 120 -y 40
wait_for "sparsity of" 10 && ok "down to 1x1 and back to 120x40: the workbench again" || bad "back to the workbench"
# every documented size: the header whole (up to the elapsed time), the
# heatmap's columns apart and inside its box, the evaluation values shown
for size in "80 24" "100 30" "200 60"; do
	$T resize-window -t t -x ${size% *} -y ${size#* }
	sleep 0.5
	wait_for "elapsed [0-9]" 10
	screen > "$tmp/sz"
	w=${size% *}
	grep -q "elapsed [0-9:]*" "$tmp/sz" && grep -q " Q  *K  *V  *AO " "$tmp/sz" && ! grep -q "FFinFFou" "$tmp/sz" \
		&& grep -q "pool  *[0-9-]" "$tmp/sz" && grep -q "[│x]  pretrain  *[0-9]\.[0-9][0-9][0-9]" "$tmp/sz" \
		&& grep -q "L[0-9] [QKV]" "$tmp/sz" \
		&& ok "${w}x${size#* }: header, heatmap and evaluation whole" || { cat "$tmp/sz"; bad "${w}x${size#* } layout"; }
done
# the help at 80x24: it scrolls to its last key
$T resize-window -t t -x 80 -y 24
sleep 0.5
# 80x24 keeps the run's keys in the footer (said shorter), and the event
# log wraps its lines on W instead of cutting them (Esc first: the theme
# test's message holds the status line until a key)
$T send-keys -t t Escape
wait_for "S skip q quit" 10 && ok "80x24: the footer keeps pause, edit, skip, help and quit" \
	|| { screen | tail -1; bad "80x24: the footer's run keys"; }
# the selected heatmap cell is told by shape too (a < after it), not by
# colour alone
screen | grep -q "^.* L[0-9] .*[0-9%-]<" && ok "heatmap: the selected cell marked by a < as well as its colour" \
	|| { screen | sed -n 3,10p; bad "heatmap: the selected cell's mark"; }
$T send-keys -t t W
wait_for "events (following) wrapped" 10 && ! screen | grep -q '[0-9][0-9]:[0-9][0-9]:[0-9][0-9] .*\.\.\.[│x]$' \
	&& ok "80x24: W wraps the event log's lines (none cut with ...)" || { screen; bad "80x24: W wrap"; }
$T send-keys -t t W
$T send-keys -t t '?'
wait_for "Up/Down scroll" 10 && $T send-keys -t t -N 40 Down
wait_for "scroll the pane under it" 10 && screen | grep -q "keys [0-9]*-[0-9]* of [0-9]*" && ok "80x24: the help scrolls to its last row, wrapped whole" \
	|| bad "80x24: help scrolling"
$T send-keys -t t Escape
$T resize-window -t t -x 120 -y 40
sleep 0.5

# quit: confirm, status 3 (stopped, resumable: not 0, which means
# finished), terminal restored; resume continues the run
$T send-keys -t t q
wait_for "Quit?" 10 || bad "quit asks"
$T send-keys -t t y
wait_for "EXIT=" 60
screen | grep -q "EXIT=3" && ok "q, y: exit status 3 (stopped)" || { bad "quit exit status (expected EXIT=3)"; screen | grep EXIT=; }
screen | grep -q "continue with pofa run --resume" && ! screen | grep -q "sparsity of" \
	&& ok "the terminal is restored" || bad "terminal restored"
grep -q '"stopped"\|prune90 stopped' "$tmp/run/events.csv" && ok "the stage is stopped, checkpointed" || bad "stopped event"
grep -q '"run_end","exit status 3"' "$tmp/run/events.csv" && ok "events.csv: run_end with exit status 3, as the process's" \
	|| { grep run_end "$tmp/run/events.csv"; bad "run_end's recorded status after q (expected 3)"; }
"$POFA" run --headless --resume "$tmp/run" --set prune90.steps=1 > "$tmp/r.log" 2>&1; [ $? -eq 2 ] \
	&& ok "--resume takes no --set" || bad "--resume with --set"
timeout $((600 * slow)) "$POFA" run --headless --resume "$tmp/run" > "$tmp/r.log" 2>&1 && grep -q "resumed at step" "$tmp/run/events.csv" \
	&& ok "pofa run --resume continues the run to its end" || { cat "$tmp/r.log" | tail -5; bad "resume"; }

# a malformed theme: named with file:line in the event log, the default used
# (no checkpoints here: their lines would scroll it out of the log pane)
printf 'text = white\nchart_total = purple\n' > "$tmp/bad.theme"
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 $POFA run recipes/demo.ini --out $tmp/run2 $sets --theme $tmp/bad.theme --set pretrain.steps=400 --set run.checkpoint_interval=100000; echo EXIT=\$?; sleep 600"
wait_for "bad.theme:2" 60 && ok "malformed theme: file:line shown, default theme used" || bad "malformed theme"
printf 'panes = chart heatmap eval log header\n' > "$tmp/cfg/pofa/pofa.conf"
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 $POFA run recipes/demo.ini --out $tmp/run2b $sets --set pretrain.steps=400; echo EXIT=\$?; sleep 600"
wait_for "stage 1/7 pretrain" 60 && sleep 0.5 && ! screen | grep -q "schedule \[e\]dit" \
	&& ok "pofa.conf: a hidden pane stays hidden in the next run" || bad "pofa.conf read at start"
$T send-keys -t t 4
wait_for "schedule \[e\]dit" 10 || bad "4 shows the schedule again"
# NO_COLOR: monochrome, and the workbench still runs
$T kill-session -t t
$T new-session -d -s t -x 100 -y 30 "cd $(pwd) && LANG=C.UTF-8 NO_COLOR=1 $POFA run recipes/demo.ini --out $tmp/run3 $sets --set pretrain.steps=400; echo EXIT=\$?; sleep 600"
wait_for "pretrain (mlm)" 60 && ok "NO_COLOR: the workbench runs" || bad "NO_COLOR"
# without colours each series has its glyph, in the plot and the legend
# (task and total are one curve in pre-training: @ where series meet, said
# in the legend, so that none hides under another)
wait_for "\*\* task [0-9]" 30 && wait_for "## total [0-9]" 10 && screen | sed -n '3,20p' | grep -q "[*#@]" \
	&& screen | grep -q "@ overlap" \
	&& ok "NO_COLOR: the chart's series by glyph (** task, ## total, @ overlap)" || { screen; bad "NO_COLOR glyphs"; }
$T send-keys -t t q
wait_for "Quit?" 10 && $T send-keys -t t y
wait_for "EXIT=3" 60 || bad "NO_COLOR quit (expected EXIT=3)"

# Ctrl-C in the workbench: the headless runner's path (a checkpoint, the
# stage stopped, run_end in events.csv, status 130), and --resume goes on
# from the checkpoint, not from step 0
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 $POFA run recipes/demo.ini --out $tmp/run4 $sets; echo EXIT=\$?; sleep 600"
wait_for "prune90 (prune)" 120 || bad "Ctrl-C run: the prune stage"
i=0; while [ $i -lt $((600 * slow)) ] && ! grep -q '^[^,]*,"prune90",2[0-9],' "$tmp/run4/metrics.csv" 2>/dev/null; do
	sleep 0.1; i=$((i + 1)); done
e0=$(elapsed_now)
$T send-keys -t t C-c
wait_for "EXIT=" 120
screen | grep -q "EXIT=130" && ok "Ctrl-C: exit status 130" || bad "Ctrl-C exit status (expected EXIT=130)"
grep -q '"prune90",[0-9]*,"stage_end","prune90 stopped' "$tmp/run4/events.csv" \
	&& grep -q '"run_end","exit status 130"' "$tmp/run4/events.csv" && grep -q '"checkpoint"' "$tmp/run4/events.csv" \
	&& ok "Ctrl-C: the stage stopped with a checkpoint, run_end logged" \
	|| { tail -5 "$tmp/run4/events.csv"; bad "Ctrl-C: stopped, checkpoint, run_end in events.csv"; }
# ... resumed in the workbench: the run so far is back (the event log's
# lines from before the stop, the evaluation table, the clock going on)
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 $POFA run --resume $tmp/run4; echo EXIT=\$?; sleep 600"
i=0; while [ $i -lt $((600 * slow)) ] && ! grep -q 'resumed at step' "$tmp/run4/events.csv"; do sleep 0.1; i=$((i + 1)); done
grep -q 'resumed at step [1-9]' "$tmp/run4/events.csv" && ok "Ctrl-C: --resume continues from the checkpoint" \
	|| bad "Ctrl-C: resume from the checkpoint"
wait_for "resumed at step" 30
screen > "$tmp/s4"
e1=$(elapsed_now)
grep -q "start prune90" "$tmp/s4" && grep -q "[│x]  pretrain  *[0-9]" "$tmp/s4" && ! grep -q "results appear as stages" "$tmp/s4" \
	&& [ -n "$e0" ] && [ -n "$e1" ] && [ "$e1" -ge "$e0" ] \
	&& ok "--resume in the workbench: the log, the evaluations and the clock of the run so far" \
	|| bad "--resume in the workbench: the run so far (expected its log, evaluations, and elapsed >= ${e0}s: ${e1}s)"
$T send-keys -t t C-c
wait_for "EXIT=" 120

# skip while paused: the next stage runs and the header says so; Space
# pauses it again
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 $POFA run recipes/demo.ini --out $tmp/run5 $sets --set task-teacher.steps=4000; echo EXIT=\$?; sleep 600"
wait_for "prune90 (prune)" 120 || bad "skip-while-paused run: the prune stage"
$T send-keys -t t Space
wait_for "PAUSED" 20 || bad "skip while paused: PAUSED"
# n is not skip (it moves between a search's matches): it says so
$T send-keys -t t n
wait_for "n and N move between a search's matches" 10 && ! screen | grep -q "Skip" \
	&& ok "n without a search: said what it does, no skip asked" || bad "n without a search"
# S asks, saying what y will do: which stage, at which step, what comes next
$T send-keys -t t S
wait_for "Skip the rest of stage prune90 at step [0-9]* of [0-9]*" 10 && screen | grep -q "start task-teacher" \
	&& ok "S: the question names the stage, its step and the next stage" || { screen | tail -3; bad "S: the question"; }
$T send-keys -t t y
wait_for "task-teacher (finetune)" 120 && sleep 1 && ! screen | grep -q "PAUSED" \
	&& ok "skip while paused: the next stage runs, the header is not PAUSED" || bad "skip while paused: header"
$T send-keys -t t Space
wait_for "PAUSED" 20 && ok "skip while paused: Space pauses the next stage" || bad "skip while paused: Space dead"
# on to the run's end (skipping the long stage), then export: the files
# written after the end too, and a failed export named as failed in the
# status line and events.csv
$T send-keys -t t S
wait_for "Skip" 10 && $T send-keys -t t y
wait_for "DONE" $((300 * slow)) || bad "the run's end (DONE)"
screen | tail -1 | grep -q "? help  x export  q quit" && ! screen | tail -1 | grep -q "Space pause" \
	&& ok "DONE: the footer drops pause, edit and skip" || bad "DONE footer"
e1=$(elapsed_now); sleep 2.5; e2=$(elapsed_now)
[ -n "$e1" ] && [ "$e1" = "$e2" ] && ok "DONE: the clock stops ($e1 s)" || bad "DONE: the clock moved from $e1 to $e2"
$T send-keys -t t x
wait_for "export to" 10 && $T send-keys -t t Enter
wait_for "exported" 30 && [ -s "$tmp/run5/export/metrics.csv" ] && [ -s "$tmp/run5/export/eval.csv" ] \
	&& ok "export after the run's end: the files written" || bad "export after the end"
$T send-keys -t t x
wait_for "export to" 10 && $T send-keys -t t -N 400 BSpace && $T send-keys -t t -l "/proc/no/such/dir" \
	&& $T send-keys -t t Enter
wait_for "failed" 30 && grep -q '"error","export to /proc/no/such/dir failed' "$tmp/run5/events.csv" \
	&& ! grep -q '"export","/proc/no/such/dir' "$tmp/run5/events.csv" \
	&& ok "a failed export: status line and events.csv say failed, and why" \
	|| { grep export "$tmp/run5/events.csv"; bad "a failed export reported"; }
$T send-keys -t t q
wait_for "EXIT=" 60
screen | grep -q "EXIT=0" && ok "q after the run's end: status 0" || bad "q after the end (expected EXIT=0)"
# the finished run reopened: every stage done, no step of no stage
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 $POFA run --resume $tmp/run5; echo EXIT=\$?; sleep 600"
wait_for "every stage done" 60 && ! screen | grep -qE "step [0-9]+/0|waiting for the first stage" \
	&& ok "a finished run reopened: every stage done (no step N/0, not waiting)" \
	|| { screen | head -12; bad "a finished run reopened"; }
$T send-keys -t t q
wait_for "EXIT=" 60

# an uninstalled program started from another folder finds its themes
# beside itself (../themes of bin/pofa), not in the current folder
$T kill-session -t t
abs=$(cd "$(dirname "$POFA")" && pwd)/$(basename "$POFA")
$T new-session -d -s t -x 100 -y 30 "cd $tmp && LANG=C.UTF-8 $abs run $(pwd)/recipes/demo.ini --out $tmp/run7 $sets --set pretrain.steps=400 --theme light; echo EXIT=\$?; sleep 600"
wait_for "pretrain (mlm)" 60 && ! screen | grep -q "no light.theme" && $T capture-pane -e -p -t t | grep -q "48;5;255m" \
	&& ok "--theme light from another folder: found beside the program" || { screen | tail -5; bad "theme beside the program"; }
$T send-keys -t t q
wait_for "Quit" 10 && $T send-keys -t t y
wait_for "EXIT=" 60

# compound compression: a 1-layer student of the teacher's layer 1, with
# hidden-state distillation, charts the hidden-state KD loss beside kd
cat > "$tmp/kdh.ini" <<INI
[run]
name = kdh
log_interval = 2
[model]
preset = bert-tiny
max_position = 32
[data]
dir = $tmp/data
[stage pre]
kind = mlm
steps = 10
batch = 4
seq = 32
[stage small]
kind = prune
from = pre
teacher = pre
layers = 1
kd_hidden = 1
steps = 4000
batch = 4
seq = 32
final_sparsity = 0.5
end = 0.5
every = 10
INI
$T kill-session -t t
$T new-session -d -s t -x 120 -y 40 "cd $(pwd) && LANG=C.UTF-8 TERM=xterm-256color $POFA run $tmp/kdh.ini --out $tmp/run6; echo EXIT=\$?; sleep 600"
wait_for "\(kd hidden\|kdh\) [0-9.e-]*" $((120 * slow)) && wait_for "kd [0-9.e-]*\( (right)\|>\)" 30 \
	&& ok "chart: the hidden-state distillation loss beside kd, on kd's axis" || bad "chart: kd hidden"
i=0; while [ $i -lt $((100 * slow)) ] && ! { screen | grep -qE "[│x] L0 " && ! screen | grep -qE "[│x] L1 "; }; do
	sleep 0.1; i=$((i + 1)); done
screen | grep -qE "[│x] L0 " && ! screen | grep -qE "[│x] L1 " && ok "heatmap: the student's one layer, not the preset's two" \
	|| { screen; bad "heatmap rows of a 1-layer student"; }
$T send-keys -t t q
wait_for "Quit" 10 && $T send-keys -t t y
wait_for "EXIT=" 60

if ls "$tmp"/tsan.* >/dev/null 2>&1; then
	head -60 "$tmp"/tsan.*
	bad "ThreadSanitizer reported races ($(ls "$tmp"/tsan.* | wc -l) reports)"
else
	case "$POFA" in */tsan/*) ok "ThreadSanitizer: no report over every session" ;; esac
fi
[ "$fails" -eq 0 ]
