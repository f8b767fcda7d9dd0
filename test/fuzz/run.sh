#!/bin/sh
# Runs each libFuzzer harness for SECONDS from its seed corpus in
# test/fuzz/corpus/NAME (new inputs go to BUILD/work/NAME, not the repo),
# and prints its executions and what it found. Exit 1 on any finding.
# usage: test/fuzz/run.sh BUILD SECONDS NAME...
build=$1; secs=$2; shift 2
fails=0
for name in "$@"; do
	work="$build/work/$name"
	mkdir -p "$work"
	log="$build/work/$name.log"
	# the targets' own output closed (pofa predict prints a line an input);
	# libFuzzer and the sanitizers still report on their own descriptor
	"$build/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 \
		-artifact_prefix="$build/work/$name-" "$work" "test/fuzz/corpus/$name" > "$log" 2>&1
	st=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $st -eq 0 ]; then
		echo "ok   fuzz $name: ${runs:-?} executions in ${secs} s, ${cov:-cov: ?}, no finding"
	else
		echo "FAIL fuzz $name: exit $st after ${runs:-?} executions:"
		grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
		fails=$((fails + 1))
	fi
done
echo "fuzz: $(( $# - fails )) passed, $fails failed"
[ "$fails" -eq 0 ]
