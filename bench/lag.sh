#!/usr/bin/env bash
# lag.sh - how far behind the target falls under load. First the apply
# capacity: the example application writes as fast as it can to the
# source, oplog-read captures that, and oplog-apply's entries/s on it is
# the capacity. Then the application writes at 50% and 80% of it while
# `oplog-read | oplog-apply` runs, and lag-sample reads the source's
# newest ts and the target's checkpoint every 100 ms. Goal: p99 <= 1 s at 80%.
source "$(dirname "$0")/lib.sh"
bench_init lag
servers_start

seconds=${BENCH_LAG_SECONDS:-20}
batch=${BENCH_APPLY_BATCH:-50} # see apply.sh: FerretDB hangs on 100-statement updates

# Capacity: a burst of the application's writes, then applied alone.
since=$(oplog-read --now "$SRC")
oplogkit-loadgen --uri "$SRC" --db lagbench --duration 10s --seed 1 >"$WORK/lag-burst.out"
until=$(oplog-read --now "$SRC")
oplog-read --since "$since" --until "$until" "$SRC" >"$WORK/lag-burst.bson"
burst=$(oplog-show --stats "$WORK/lag-burst.bson" | awk '$1 == "total" { print $2 + $3 + $4 + $5 }')
measure CAPACITY "oplog-apply -q --batch $batch '$WORK/lag-burst.bson' '$DST'" \
	"$(declare -f drop_databases mongo_cmd); TOOLS='$TOOLS'; drop_databases '$DST' lagbench oplogkit"
capacity=$(calc0 "$burst / $CAPACITY_SECS")
rm -f "$WORK/lag-burst.bson"
say "capacity: $burst entries in $CAPACITY_SECS s = $capacity entries/s"

# percentiles FILE: "p50 p99 max count" of the lag (ms) during the load,
# from lag-sample's lines "MS NEWEST_T NEWEST_I CHECKPOINT_T CHECKPOINT_I".
# A sample's lag is 0 when the checkpoint has the newest entry, else the
# time since the first sample whose newest entry was past that checkpoint.
percentiles() {
	awk -v until_ms="$((seconds * 1000))" '
	function after(t1, i1, t2, i2) { return t1 > t2 || (t1 == t2 && i1 > i2) }
	{ ms[NR] = $1; nt[NR] = $2; ni[NR] = $3; ct[NR] = $4; ci[NR] = $5 }
	END {
		j = 1
		for (k = 1; k <= NR; k++) {
			if (ms[k] > until_ms) break
			if (!after(nt[k], ni[k], ct[k], ci[k])) { lag[++n] = 0; continue }
			while (j < k && !after(nt[j], ni[j], ct[k], ci[k])) j++
			lag[++n] = ms[k] - ms[j]
		}
		for (k = 1; k <= n; k++) print lag[k]
	}' "$1" | sort -n | awk '
	{ lag[NR] = $1 }
	END {
		if (NR == 0) { print "- - - 0"; exit }
		print lag[int((NR - 1) * 0.50) + 1], lag[int((NR - 1) * 0.99) + 1], lag[NR], NR
	}'
}

run_at() {
	local pct=$1 rate done_rate reader applier sampler out=$WORK/lag-$1
	rate=$(calc0 "$capacity * $pct / 100")
	drop_databases "$DST" lagbench oplogkit
	drop_databases "$SRC" lagbench
	rm -f "$out.pipe"
	mkfifo "$out.pipe"
	oplog-read --since "$(oplog-read --now "$SRC")" "$SRC" >"$out.pipe" 2>"$out.read.err" &
	reader=$!
	oplog-apply -q --batch "$batch" -N lag - "$DST" <"$out.pipe" 2>"$out.apply.err" &
	applier=$!
	lag-sample --name lag "$SRC" "$DST" >"$out.samples" 2>"$out.sample.err" &
	sampler=$!
	oplogkit-loadgen --uri "$SRC" --db lagbench --rate "$rate" --duration "${seconds}s" \
		--seed "$pct" >"$out.load"
	sleep 2 # let the tail of the load drain into the samples
	kill -TERM "$sampler" 2>/dev/null || true
	wait "$sampler" || true
	kill -TERM "$reader" 2>/dev/null || true
	wait "$reader" "$applier" || true
	rm -f "$out.pipe"
	read -r P50 P99 MAX SAMPLES < <(percentiles "$out.samples")
	done_rate=$(awk -v s="$seconds" '{ printf "%.0f", ($3 + $5 + $7 + $9) / s }' "$out.load")
	printf -v "LAG${pct}" '%s' "$rate $done_rate $P50 $P99 $MAX $SAMPLES"
	say "at $pct% ($rate writes/s): lag p50 $P50 ms, p99 $P99 ms, max $MAX ms over $SAMPLES samples; $(tail -n 1 "$out.load")"
}

run_at 50
run_at 80

table=$WORK/lag.table
row() { # pct "rate p50 p99 max samples"
	local rate done_rate p50 p99 max samples goal=""
	read -r rate done_rate p50 p99 max samples <<<"$2"
	[[ $1 != 80 ]] || goal="p99 ≤ 1000 ms: $(verdict "$p99" '<=' 1000)"
	echo "| $1% | $rate | $done_rate | $p50 | $p99 | $max | $samples of $((seconds * 10)) | $goal |"
}
{
	echo "Apply capacity: $capacity entries/s (oplog-apply --batch $batch on $burst entries the example application wrote in 10 s at full speed; median of $RUNS applies, $CAPACITY_ALL s)."
	echo "Load: oplogkit-loadgen on the source for $seconds s; oplog-read | oplog-apply to the target; lag sampled every 100 ms."
	echo
	echo "| load | writes/s asked | writes/s done | lag p50 ms | lag p99 ms | max ms | samples | goal |"
	echo "|---|---|---|---|---|---|---|---|"
	row 50 "$LAG50"
	row 80 "$LAG80"
} >"$table"
notes=$WORK/lag.notes
{
	echo "A sample's lag: 0 when the target's checkpoint holds the source's newest"
	echo "entry, else how long ago (in samples, 100 ms apart) the source first had an"
	echo "entry past that checkpoint. So it is the age of the oldest change not yet"
	echo "applied, at 100 ms resolution rather than the 1 s of a timestamp."
	echo "The application, both servers and the pipeline share this machine's $(nproc) cores."
	echo "'writes/s done' below 'asked' means the source itself could not take the load"
	echo "(FerretDB writes its oplog entry after each write); fewer samples than asked"
	echo "means a sample (newest oplog entry on the source: a \$natural sort, which"
	echo "FerretDB answers by reading the capped collection) took over 100 ms."
} >"$notes"
[[ ! -f $BENCH/notes/lag.md ]] || { echo; cat "$BENCH/notes/lag.md"; } >>"$notes"
results_write "Lag under load" "$table" "$notes"
