#!/usr/bin/env bats
# A migration you can watch: oplogkit-migrate keeps a --metrics file per
# stream in W/metrics/ (node_exporter's textfile collector) and one
# timeline, W/timeline.jsonl; at the end it writes W/report.html with
# migrate-report; status shows the live lag and whether the cutover gate
# would pass. Real servers; the numbers are checked against the run's own
# (the target's documents, the applier's final line, the spool).

load lib/helpers
load lib/migrate
bats_require_minimum_version 1.5.0

METRICS="oplogkit_entries_read_total oplogkit_bytes_read_total oplogkit_entries_applied_total
oplogkit_bytes_applied_total oplogkit_batches_total oplogkit_errors_total oplogkit_retries_total
oplogkit_lag_seconds oplogkit_lag_entries oplogkit_checkpoint_timestamp_seconds
oplogkit_checkpoint_increment oplogkit_phase oplogkit_metrics_updated_timestamp_seconds"

setup() {
	migrate_setup watch
	app_pid=
}

teardown() {
	[[ -z $app_pid ]] || kill -TERM "$app_pid" 2>/dev/null || true
	migrate_teardown
}

# oplogkit-migrate, its output in ./out; the background streams must not
# hold bats' descriptors.
migrate() {
	oplogkit-migrate "$@" >>out 2>&1 3>&-
}

status_json() {
	oplogkit-migrate status -w "$work" --json >status.json 2>&1 3>&- || fail "status: $(cat status.json)"
	jq -e . status.json >/dev/null || fail "not JSON: $(cat status.json)"
}
q() { jq -r "$1" status.json; }

# assert_prometheus FILE PROGRAM NAME: the text format, every metric of
# oplogkit with its HELP and TYPE, the program's labels.
assert_prometheus() {
	local bad metric
	bad=$(grep -v -E '^# (HELP|TYPE) oplogkit_[a-z_]+ .+$|^oplogkit_[a-z_]+\{program="[a-z-]+",name="[^"]*"(,phase="[a-z]+")?\} [0-9]+(\.[0-9]+)?$' "$1" || true)
	[[ -z $bad ]] || fail "$1: not the text format: $bad"
	for metric in $METRICS; do
		grep -q "^# TYPE $metric \(counter\|gauge\)$" "$1" || fail "$1: no TYPE of $metric"
		grep -q "^# HELP $metric " "$1" || fail "$1: no HELP of $metric"
	done
	for metric in $METRICS; do
		[[ $metric == oplogkit_lag_entries ]] && continue	# left out while unknown
		grep -q "^$metric{program=\"$2\",name=\"$3\"" "$1" || fail "$1: no sample of $metric for $2 $3"
	done
}

# sample FILE METRIC: its value.
sample() { awk -v m="$2{" 'index($0, m) == 1 { print $NF }' "$1"; }

# report_count PROGRAM LABEL COLUMN: a cell of the report's counts table
# (3: seconds, 4: entries read, 6: entries applied), for the row of
# PROGRAM whose label is LABEL.
report_count() {
	grep "^<tr class=\"program\" data-program=\"$1\"><td>$2</td>" "$work/report.html" |
		sed 's/<\/td><td>/\t/g; s/<[^>]*>//g' | cut -f "$3"
}

# The documents of this test's database on URI.
documents_on() {
	local c total=0 n
	for c in $(mongo_cmd "$1" "$db" '{"listCollections": 1, "nameOnly": true}' | jq -r '.cursor.firstBatch[].name'); do
		n=$(mongo_dump "$1" "$db.$c" | wc -l)
		total=$((total + n))
	done
	echo "$total"
}

# wait_metrics_after T: until both streams' metrics files were written after Unix time T.
wait_metrics_after() {
	local i updated
	for ((i = 0; i < 100; i++)); do
		status_json
		updated=$(q .lag.updated)
		[[ $updated != null ]] && ((updated > $1)) && return 0
		sleep 0.2
	done
	fail "the metrics were not rewritten after $1: $(cat status.json)"
}

@test "in sync: a Prometheus metrics file per stream, a report of the run, status with the lag (0 caught up and idle) and the gate" {
	local i applied written
	for ((i = 1; i <= 150; i++)); do printf '{"_id": %d, "v": "x"}\n' "$i"; done | mongo_insert "$SRC_URI" "$db.c" >/dev/null
	migrate -w "$work" --name "$db" --ns "$db.*" "$SRC_URI" "$DST_URI" || fail "exit $?: $(cat out)"
	grep -q "report: $work/report.html" out || fail "no report: $(cat out)"

	# The metrics, where node_exporter's textfile collector reads them.
	assert_prometheus "$work/metrics/reader.prom" oplog-read ""
	assert_prometheus "$work/metrics/apply.prom" oplog-apply "$db"
	# The file is rewritten once a second: a quick run can end in sync
	# before the applier's first rewrite after "starting".
	for ((i = 0; i < 50; i++)); do
		grep -q '^oplogkit_phase{program="oplog-apply",name="'"$db"'",phase="following"} 1$' \
		    "$work/metrics/apply.prom" && break
		sleep 0.2
	done
	grep -q '^oplogkit_phase{program="oplog-apply",name="'"$db"'",phase="following"} 1$' "$work/metrics/apply.prom" ||
		fail "$(cat "$work/metrics/apply.prom")"

	# The report: one page, nothing fetched, the copy as the target holds it.
	assert_file_exist "$work/report.html"
	! grep -q -E '<script|<link|src="http|href="http' "$work/report.html" || fail "the report fetches something"
	grep -q '<svg class="chart" id="lag"' "$work/report.html" || fail "no lag chart"
	assert_equal "$(documents_on "$DST_URI")" 150
	grep -q '<td id="documents-copied" data-documents="150">150</td>' "$work/report.html" ||
		fail "documents copied: $(grep -o '<table id="snapshot">.*' "$work/report.html")"
	grep -q '<tr><td>[0-9TZ:-]*</td><td>done</td><td>in sync; ' "$work/report.html" || fail "no done phase in the report"
	[[ -n $(report_count oplog-apply "oplog-apply $db" 6) ]] || fail "no applier row in the report"

	# Writes while the streams run, then none: the lag returns to 0 and
	# stays 0 on an idle source (not the age of the last write).
	for ((i = 151; i <= 180; i++)); do printf '{"_id": %d}\n' "$i"; done | mongo_insert "$SRC_URI" "$db.c" >/dev/null
	for ((i = 0; i < 150; i++)); do
		applied=$(sample "$work/metrics/apply.prom" oplogkit_entries_applied_total)
		((applied >= 30)) && break
		sleep 0.2
	done
	((applied >= 30)) || fail "the 30 writes were not applied: $(cat "$work/metrics/apply.prom")"
	written=$(date +%s)
	wait_metrics_after $((written + 2))
	assert_equal "$(q .lag.seconds)" 0
	assert_equal "$(q .lag.entries)" 0
	assert_equal "$(q .lag.stream)" forward
	assert_equal "$(q '.gate | "\(.pass) \(.max_lag) \(.why)"')" "true 1s null"
	assert_equal "$(q .copied.documents)" 150
	# snap-export's estimate (collStats' count) of the 150 seeded documents.
	assert_equal "$(q .copied.documents_estimate)" 150
	assert_equal "$(q .report)" "$work/report.html"
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^lag: 0 s, 0 entries \(forward stream, metrics of [0-9:]+Z\)$'
	assert_line 'gate: would pass now (lag within --max-lag 1s, both streams running)'
	# --max-lag of status is the gate's; the run's is kept in the work directory.
	run oplogkit-migrate status -w "$work" --json --max-lag 500ms
	assert_equal "$(jq -r .gate.max_lag <<<"$output")" 500ms

	# Streams stopped: the gate would not pass.
	oplogkit-migrate stop -w "$work" >/dev/null 2>&1 3>&-
	status_json
	assert_equal "$(q '.gate | "\(.pass) \(.why)"')" "false reader not running"
	run oplogkit-migrate status -w "$work"
	assert_line 'gate: would not pass now: reader not running'
}

@test "switch with --reverse: the report holds the cutover's window and the run's counts; the metrics follow the reverse stream" {
	local window applied spooled
	for ((i = 1; i <= 80; i++)); do printf '{"_id": %d}\n' "$i"; done | mongo_insert "$SRC_URI" "$db.base" >/dev/null
	# The application: writes to ./entry, pauses on ./fence.
	echo "$SRC_URI" >entry
	oplogkit-loadgen --entry-file entry --fence-file "$PWD/fence" --rate 20 --db "$db" >app.out 2>app.err 3>&- &
	app_pid=$!
	migrate -w "$work" --name "$db" --ns "$db.*" --max-lag 2s --switch --reverse "$SRC_URI" "$DST_URI" -- \
		--lag 2s --entry-file "$PWD/entry" --entry-value "$DST_URI" \
		--fence-cmd "$ROOT/examples/app-fence up $PWD/fence" \
		--unfence-cmd "$ROOT/examples/app-fence down $PWD/fence" || fail "exit $?: $(cat out)"
	grep -q '^result *switched$' "$work/switch.report" || fail "$(cat out)"

	# The write-unavailable window is entry-switch's.
	window=$(sed -n 's/^window *\([0-9]*\) ms$/\1/p' "$work/switch.report")
	[[ -n $window ]] || fail "no window: $(cat "$work/switch.report")"
	grep -q "<strong id=\"window\" data-ms=\"$window\">$window ms</strong>" "$work/report.html" ||
		fail "no window of $window ms in the report: $(grep -o '<p id="summary">.*' "$work/report.html")"
	grep -q '<rect class="window"' "$work/report.html" || fail "the window is not drawn"
	# The phases' text is escaped once: "->" shows as it was written.
	grep -q 'target -&gt; source stream running from' "$work/report.html" || fail "the reverse phase's text"
	! grep -q '[<>]\(gt\|lt\);\|&amp;\(gt\|lt\|amp\|quot\);' "$work/report.html" ||
		fail "text escaped wrongly: $(grep -o '.\{20\}[<>&]\(gt\|lt\|amp\);.\{20\}' "$work/report.html" | head -n 3)"

	# Entries applied: what the applier said at its end, and what the
	# spool holds of this database's writes.
	applied=$(sed -n 's/^oplog-apply: [0-9]* entries read, \([0-9]*\) applied.*/\1/p' "$work/log/oplog-apply.log" | tail -n 1)
	spooled=$(oplog-show --relaxed "$work/spool.bson" | jq -r --arg db "$db." 'select((.ns | startswith($db)) and (.op | test("^[iud]$"))) | .op' | wc -l)
	((applied > 0)) || fail "nothing applied: $(tail -n 2 "$work/log/oplog-apply.log")"
	assert_equal "$applied" "$spooled"
	assert_equal "$(report_count oplog-apply "oplog-apply $db" 6)" "$applied"
	assert_equal "$(report_count oplog-apply "oplog-apply $db" 2)" done
	# The copy: the documents the target held at T0's copy.
	copied=$(sed -n 's/^snap-import: done: \([0-9]*\)[/ ].*/\1/p' "$work/log/snap-import.log" | tail -n 1)
	((copied >= 80)) || fail "copied $copied"
	grep -q "<td id=\"documents-copied\" data-documents=\"$copied\">$copied</td>" "$work/report.html" || fail "documents copied"
	# Both readers drawn apart: the reverse one is labelled.
	grep -q '<tr class="program" data-program="oplog-read"><td>oplog-read reverse</td>' "$work/report.html" ||
		fail "no reverse reader row"
	grep -q "<tr class=\"program\" data-program=\"oplog-apply\"><td>oplog-apply $db-reverse</td>" "$work/report.html" ||
		fail "no reverse applier row"

	# The collector's directory: one file per running stream, the forward
	# reader's moved aside (its labels are the reverse reader's).
	assert_prometheus "$work/metrics/reverse-reader.prom" oplog-read ""
	assert_prometheus "$work/metrics/reverse.prom" oplog-apply "$db-reverse"
	assert_file_exist "$work/metrics/ended/reader.prom"
	assert_not_exist "$work/metrics/reader.prom"
	status_json
	assert_equal "$(q .lag.stream)" reverse
	[[ $(q .lag.seconds) =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "no lag: $(cat status.json)"
	[[ $(q .gate.pass) =~ ^(true|false)$ ]] || fail "no gate: $(cat status.json)"
}
