#!/usr/bin/env bats
# --metrics FILE: oplog-read and oplog-apply keep a Prometheus text file
# up to date while they run (rewritten whole each second), that says
# what they did, how far behind they are (0 once caught up) and in
# which phase, and ends with the numbers of the run.

load lib/helpers
load lib/metrics
bats_require_minimum_version 1.5.0

setup() {
	pids=()
}

teardown() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
}

applied_at_least() {
	local value
	value=$(metric "$1" oplogkit_entries_applied_total)
	[[ -n $value ]] && ((value >= $2))
}

caught_up() {
	[[ $(metric "$1" oplogkit_lag_seconds) == 0.000 && $(metric "$1" oplogkit_lag_entries) == 0 ]]
}

updated_since() {
	[[ $(metric "$1" oplogkit_metrics_updated_timestamp_seconds) != "$2" ]]
}

@test "a live apply keeps its --metrics file current; both programs end it with the run's numbers" {
	db=$(unique_db metrics)
	cd "$BATS_TEST_TMPDIR"
	since=$(oplog-read --now "$SRC_URI")
	oplog-read --since "$since" -o spool.bson --metrics read.prom "$SRC_URI" 2>read.err 3>&- &
	reader=$!
	pids+=("$reader")
	wait_for "the spool" test -s spool.bson
	oplog-apply --follow --name "$db" --ns "$db.*" --metrics apply.prom spool.bson "$DST_URI" \
	    2>apply.err 3>&- &
	applier=$!
	pids+=("$applier")
	for n in $(seq 1 500); do
		echo "{\"_id\": $n, \"n\": $n, \"pad\": \"$(printf '%040d' "$n")\"}"
	done | mongo_insert "$SRC_URI" "$db.c" 50

	# While both run: the file is there, whole, and moves.
	wait_for "500 applied in apply.prom" applied_at_least apply.prom 500
	assert_prometheus_text apply.prom
	assert_prometheus_text read.prom
	run metric apply.prom 'oplogkit_phase'
	assert_output 1
	grep -q -E '^oplogkit_phase\{program="oplog-apply",name="'"$db"'",phase="(applying|following)"\} 1$' apply.prom ||
		fail "no live phase: $(grep phase apply.prom)"
	# Caught up, with the source now idle: lag 0, in seconds and entries.
	wait_for "apply lag 0" caught_up apply.prom
	# Rewritten while idle too: a new write time, nothing else to wait for.
	stamp=$(metric apply.prom oplogkit_metrics_updated_timestamp_seconds)
	wait_for "a rewrite of apply.prom" updated_since apply.prom "$stamp"
	assert_prometheus_text apply.prom
	(($(metric read.prom oplogkit_entries_read_total) >= 500)) || fail "reader: $(cat read.prom)"
	(($(metric read.prom oplogkit_bytes_read_total) > 500 * 40)) || fail "reader bytes: $(cat read.prom)"

	# A clean stop: the reader's trailer ends the applier; the files say so.
	kill -TERM "$reader"
	rc=0
	wait "$reader" || rc=$?
	assert_equal "$rc" 0
	rc=0
	wait "$applier" || rc=$?
	assert_equal "$rc" 0
	pids=()
	assert_prometheus_text apply.prom
	assert_equal "$(metric apply.prom oplogkit_entries_applied_total)" 500
	assert_equal "$(metric apply.prom oplogkit_lag_seconds)" 0.000
	grep -q -F 'phase="done"} 1' apply.prom || fail "apply phase: $(grep phase apply.prom)"
	grep -q -F 'phase="stopped"} 1' read.prom || fail "read phase: $(grep phase read.prom)"
	# The checkpoint ts is the one oplog-apply wrote on the target.
	checkpoint=$(mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}" |
	    jq -r '.cursor.firstBatch[0].ts["$timestamp"] | "\(.t),\(.i)"')
	assert_equal "$(metric apply.prom oplogkit_checkpoint_timestamp_seconds),$(metric apply.prom oplogkit_checkpoint_increment)" \
	    "$checkpoint"
	# And the data arrived.
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$db.c")
	# No temp file left beside them.
	run ls -A
	refute_output --partial '.read.prom.'
	refute_output --partial '.apply.prom.'
}

@test "--metrics counts the retries of an unreachable server and ends with phase exited" {
	cd "$BATS_TEST_TMPDIR"
	run oplog-read --since 0 -o spool.bson --retry-for 2s --metrics read.prom 'mongodb://127.0.0.1:1/'
	assert_failure 4
	assert_prometheus_text read.prom
	(($(metric read.prom oplogkit_retries_total) > 0)) || fail "no retries counted: $(cat read.prom)"
	grep -q -F 'phase="exited"} 1' read.prom || fail "phase: $(grep phase read.prom)"
}

@test "--metrics in a directory that does not exist is a usage error before any work" {
	run oplog-apply --metrics "$BATS_TEST_TMPDIR/no/such/dir/x.prom" /dev/null "$DST_URI"
	assert_failure 2
	assert_output --partial "--metrics $BATS_TEST_TMPDIR/no/such/dir/x.prom"
}

# The "T,I" of the first entry of the source's oplog after "T,I" $1.
oplog_next() {
	mongo_dump_bson "$SRC_URI" local.oplog.rs | oplog-show |
		jq -r '.ts["$timestamp"] | "\(.t),\(.i)"' |
		awk -F, -v t="${1%,*}" -v i="${1#*,}" '$1 > t || ($1 == t && $2 > i) { print; exit }'
}

# read_reached FILE T,I: the metrics FILE says the reader is at T,I.
read_reached() {
	[[ $(metric "$1" oplogkit_checkpoint_timestamp_seconds),$(metric "$1" oplogkit_checkpoint_increment) == "$2" ]]
}

# apply_progress_since FILE N: FILE has more than N of oplog-apply's lines.
apply_progress_since() {
	(($(grep -c '^oplog-apply: .*, lag ' "$1") > $2))
}

# progress_lines_since FILE N: FILE has more than N lines of --progress.
progress_lines_since() {
	(($(grep -c ' entries/s, lag ' "$1") > $2))
}

@test "oplog-read's lag is 0 once it has read the newest entry, however long the source stays idle" {
	db=$(unique_db idle)
	cd "$BATS_TEST_TMPDIR"
	since=$(oplog-read --now "$SRC_URI")
	oplog-read --since "$since" -o spool.bson --progress --metrics read.prom "$SRC_URI" 2>read.err 3>&- &
	pids+=($!)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}' >/dev/null
	newest=$(oplog-read --now "$SRC_URI")
	wait_for "the insert read" read_reached read.prom "$newest"
	# The source now idle until that entry is 2 s old: its age would show.
	wait_for "the newest entry to age" clock_past "${newest%,*}" 2
	lines=$(grep -c ' entries/s, lag ' read.err || true)
	stamp=$(metric read.prom oplogkit_metrics_updated_timestamp_seconds)
	wait_for "a new progress line" progress_lines_since read.err "$lines"
	wait_for "a rewrite of read.prom" updated_since read.prom "$stamp"
	[[ $(grep ' entries/s, lag ' read.err | tail -n 1) =~ ,\ lag\ 0s,\ last\ ${newest}$ ]] ||
		fail "not lag 0 at $newest: $(tail -n 3 read.err)"
	assert_equal "$(metric read.prom oplogkit_lag_seconds)" 0.000
	assert_equal "$(metric read.prom oplogkit_lag_entries)" 0
}

@test "oplog-apply's --progress lag is 0 once it has applied all it read, however long the input stays idle" {
	db=$(unique_db applyidle)
	cd "$BATS_TEST_TMPDIR"
	since=$(oplog-read --now "$SRC_URI")
	# A live capture: its spool has no trailer, so the applier follows it.
	oplog-read --since "$since" -o spool.bson --metrics read.prom "$SRC_URI" 2>read.err 3>&- &
	pids+=($!)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}' >/dev/null
	newest=$(oplog-read --now "$SRC_URI")
	wait_for "the insert read" read_reached read.prom "$newest"
	oplog-apply --follow --name "$db" --progress --metrics apply.prom spool.bson "$DST_URI" 2>apply.err 3>&- &
	pids+=($!)
	wait_for "the insert applied" read_reached apply.prom "$newest"
	wait_for "the applied entry to age" clock_past "${newest%,*}" 2
	lines=$(grep -c '^oplog-apply: .*, lag ' apply.err || true)
	wait_for "a new progress line" apply_progress_since apply.err "$lines"
	[[ $(grep '^oplog-apply: .*, lag ' apply.err | tail -n 1) =~ ,\ at\ ${newest},\ lag\ 0s$ ]] ||
		fail "not lag 0 at $newest: $(tail -n 3 apply.err)"
	assert_equal "$(metric apply.prom oplogkit_lag_seconds)" 0.000
}

@test "oplog-read behind the source shows the age of the oldest entry it has not read" {
	db=$(unique_db behind)
	cd "$BATS_TEST_TMPDIR"
	since=$(oplog-read --now "$SRC_URI")
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}' >/dev/null
	first=$(oplog-read --now "$SRC_URI")
	# Entries 2 s apart, and the second 1 s old: the entry read and the
	# next one have ages that differ, and the next one's is above 0.
	wait_for "a later second" clock_past "${first%,*}" 2
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 2}]}' >/dev/null
	second=$(oplog-read --now "$SRC_URI")
	wait_for "a later second" clock_past "${second%,*}" 1
	before=$(date +%s)
	run --separate-stderr oplog-read --since "$since" --count 1 --progress --metrics read.prom \
	    -o spool.bson "$SRC_URI"
	after=$(date +%s)
	assert_success
	read_ts=$(oplog-show spool.bson | jq -r 'select(.ns != "") | .ts["$timestamp"] | "\(.t),\(.i)"')
	next=$(oplog_next "$read_ts")
	[[ -n $next ]] || fail "no entry after $read_ts"
	# The age of that next entry, as the line and the file say at the end.
	[[ $(grep ' entries/s, lag ' <<<"$stderr" | tail -n 1) =~ lag\ ([0-9]+)s,\ last\ ${read_ts}$ ]] ||
		fail "no progress line: $stderr"
	lag=${BASH_REMATCH[1]}
	((lag > 0 && lag >= before - ${next%,*} && lag <= after - ${next%,*})) ||
		fail "lag $lag is not the age of $next ($before..$after)"
	awk -v lag="$(metric read.prom oplogkit_lag_seconds)" -v low=$((before - ${next%,*})) \
	    -v high=$((after + 1 - ${next%,*})) 'BEGIN { exit !(lag > 0 && lag >= low && lag <= high) }' ||
		fail "metrics lag $(metric read.prom oplogkit_lag_seconds), not the age of $next"
}
