#!/usr/bin/env bats
# migrate-report: the HTML report of a migration from its --metrics-log
# timeline. The page is one self-contained file (nothing fetched), and
# what it draws is the log's numbers: checked on the SVG's data and the
# table, without a browser.

load lib/helpers
bats_require_minimum_version 1.5.0

# A timeline by hand: a reader and an applier, lag rising then back to 0,
# then the applier done; names with characters HTML must escape.
write_log() {
	local t=1796160000
	{
		echo "{\"time\": $t.000, \"program\": \"oplog-read\", \"name\": \"\", \"phase\": \"reading\", \"entries_read\": 0, \"bytes_read\": 0, \"entries_applied\": 0, \"bytes_applied\": 0, \"batches\": 0, \"errors\": 0, \"retries\": 0, \"lag_seconds\": 0.000, \"lag_entries\": 0, \"checkpoint\": {\"t\": 0, \"i\": 0}}"
		echo "{\"time\": $t.000, \"program\": \"oplog-apply\", \"name\": \"<b>mig</b>\", \"phase\": \"applying\", \"entries_read\": 0, \"bytes_read\": 0, \"entries_applied\": 0, \"bytes_applied\": 0, \"batches\": 0, \"errors\": 0, \"retries\": 0, \"lag_seconds\": 0.000, \"lag_entries\": 0, \"checkpoint\": {\"t\": 0, \"i\": 0}}"
		echo "{\"time\": $((t + 1)).000, \"program\": \"oplog-read\", \"name\": \"\", \"phase\": \"reading\", \"entries_read\": 100, \"bytes_read\": 9000, \"entries_applied\": 0, \"bytes_applied\": 0, \"batches\": 3, \"errors\": 0, \"retries\": 2, \"lag_seconds\": 0.000, \"lag_entries\": null, \"checkpoint\": {\"t\": $t, \"i\": 9}}"
		echo "{\"time\": $((t + 1)).000, \"program\": \"oplog-apply\", \"name\": \"<b>mig</b>\", \"phase\": \"applying\", \"entries_read\": 100, \"bytes_read\": 9000, \"entries_applied\": 40, \"bytes_applied\": 3600, \"batches\": 1, \"errors\": 0, \"retries\": 0, \"lag_seconds\": 2.500, \"lag_entries\": 60, \"checkpoint\": {\"t\": $t, \"i\": 3}}"
		echo "{\"time\": $((t + 2)).000, \"program\": \"oplog-apply\", \"name\": \"<b>mig</b>\", \"phase\": \"following\", \"entries_read\": 100, \"bytes_read\": 9000, \"entries_applied\": 100, \"bytes_applied\": 9000, \"batches\": 2, \"errors\": 1, \"retries\": 0, \"lag_seconds\": 0.000, \"lag_entries\": 0, \"checkpoint\": {\"t\": $t, \"i\": 9}}"
		echo "{\"time\": $((t + 4)).000, \"program\": \"oplog-read\", \"name\": \"\", \"phase\": \"stopped\", \"entries_read\": 100, \"bytes_read\": 9000, \"entries_applied\": 0, \"bytes_applied\": 0, \"batches\": 5, \"errors\": 0, \"retries\": 2, \"lag_seconds\": 0.000, \"lag_entries\": 0, \"checkpoint\": {\"t\": $t, \"i\": 9}}"
		echo "{\"time\": $((t + 4)).000, \"program\": \"oplog-apply\", \"name\": \"<b>mig</b>\", \"phase\": \"done\", \"entries_read\": 101, \"bytes_read\": 9100, \"entries_applied\": 100, \"bytes_applied\": 9100, \"batches\": 2, \"errors\": 1, \"retries\": 0, \"lag_seconds\": 0.000, \"lag_entries\": 0, \"checkpoint\": {\"t\": $t, \"i\": 9}}"
	} >"$1"
}

write_switch_report() {
	cat >"$1" <<'REPORT'
entry-switch: checkpoint mig
lag        2026-12-01T18:40:01.000Z  +4 ms  lag 0 s after 4 ms
fence      2026-12-01T18:40:02.000Z  +7 ms  up (command)
drain      2026-12-01T18:40:02.100Z  +8 ms  checkpoint reached 1796160000,9 in 1 ms
switch     2026-12-01T18:40:02.200Z  +10 ms  file app.conf
unfence    2026-12-01T18:40:02.250Z  +15 ms  down
window     250 ms
switch-ts  1796160002,1
result     switched
REPORT
}

# The space-separated data-values of a polyline: CHART PROGRAM.
values() {
	grep -o "<polyline [^>]*data-program=\"$2\"[^>]*data-metric=\"$1\"[^>]*>" report.html |
		sed 's/.* data-values="\([^"]*\)".*/\1/'
}

points() {
	grep -o "<polyline [^>]*data-program=\"$2\"[^>]*data-metric=\"$1\"[^>]*>" report.html |
		sed 's/.* points="\([^"]*\)".*/\1/'
}

@test "migrate-report draws the log's numbers: lag, throughput, phases, window, counts" {
	cd "$BATS_TEST_TMPDIR"
	write_log timeline.jsonl
	write_switch_report switch.report
	run migrate-report -o report.html --switch-report switch.report --title 'shop <cutover>' timeline.jsonl
	assert_success
	# Lag: the log's values, in order, one point each.
	assert_equal "$(values lag_seconds oplog-apply)" "0.000 2.500 0.000 0.000"
	assert_equal "$(values lag_seconds oplog-read)" "0.000 0.000 0.000"
	assert_equal "$(points lag_seconds oplog-apply | wc -w)" 4
	# The highest point is the peak (y = top of the plot), zeros on the baseline.
	grep -q 'id="lag"[^>]*data-max="2.500"' report.html || fail "lag scale: $(grep 'id="lag"' report.html)"
	# Throughput: entries applied per second between samples (oplog-apply), read (oplog-read).
	assert_equal "$(values entries_per_second oplog-apply)" "0.000 40.000 60.000 0.000"
	assert_equal "$(values entries_per_second oplog-read)" "0.000 100.000 0.000"
	# Phases: one bar per run of a phase, in order.
	run bash -c "grep -o 'data-program=\"oplog-apply\" data-phase=\"[a-z]*\"' report.html | sed 's/.*phase=//'"
	assert_output "$(printf '"%s"\n' applying following done)"
	# The write-unavailable window: its length, and a band from fence to unfence.
	grep -q 'id="window" data-ms="250"' report.html || fail "no window"
	grep -q 'class="window" data-from="1796150402.000" data-to="1796150402.250"' report.html ||
		fail "window band: $(grep -o '<rect class="window"[^>]*>' report.html | head -1)"
	# Counts: the last sample of each program.
	row=$(grep '<tr class="program" data-program="oplog-apply"' report.html)
	[[ $row == *'<td>done</td><td>4</td><td>101</td><td>9100</td><td>100</td><td>9100</td><td>2</td><td>1</td><td>0</td><td>2.5</td><td>1796160000,9</td>'* ]] ||
		fail "apply row: $row"
	row=$(grep '<tr class="program" data-program="oplog-read"' report.html)
	[[ $row == *'<td>stopped</td>'*'<td>2</td><td>0.0</td>'* ]] || fail "read row: $row"
	# Escaped, never markup: the name and the title.
	grep -q '&lt;b&gt;mig&lt;/b&gt;' report.html || fail "name not escaped"
	! grep -q '<b>mig' report.html || fail "a name became markup"
	grep -q '<title>shop &lt;cutover&gt;</title>' report.html || fail "title"
}

@test "the report is self-contained: no script, no link, nothing fetched" {
	cd "$BATS_TEST_TMPDIR"
	write_log timeline.jsonl
	migrate-report timeline.jsonl >report.html
	run grep -n -i -E '<script|<link|<img|<iframe|src=|href=|url\(|@import|https?:' report.html
	assert_output ""
	# One document: doctype, one html element, closed.
	assert_equal "$(head -n 1 report.html)" '<!DOCTYPE html>'
	assert_equal "$(tail -n 1 report.html)" '</html>'
	assert_equal "$(grep -c '<svg ' report.html)" 3
	assert_equal "$(grep -c '</svg>' report.html)" 3
}

@test "migrate-report refuses what is not a timeline, naming the line" {
	cd "$BATS_TEST_TMPDIR"
	write_log timeline.jsonl
	echo 'not json' >>timeline.jsonl
	run migrate-report timeline.jsonl
	assert_failure 3
	assert_output --partial 'timeline.jsonl: line 8: not JSON'
	echo '{"a": 1}' >other.jsonl
	run migrate-report other.jsonl
	assert_failure 3
	assert_output --partial 'other.jsonl: line 1: not a --metrics-log sample'
	run migrate-report /dev/null
	assert_failure 3
	run migrate-report --switch-report timeline.jsonl other.jsonl
	assert_failure 3
	run migrate-report --bogus
	assert_failure 2
}

@test "a live migration's --metrics-log becomes a report whose counts are the run's" {
	db=$(unique_db report)
	cd "$BATS_TEST_TMPDIR"
	since=$(oplog-read --now "$SRC_URI")
	oplog-read --since "$since" -o spool.bson --metrics-log timeline.jsonl "$SRC_URI" 2>read.err 3>&- &
	reader=$!
	for _ in $(seq 1 100); do [[ -s spool.bson ]] && break; sleep 0.1; done
	oplog-apply --follow --name "$db" --ns "$db.*" --metrics-log timeline.jsonl spool.bson "$DST_URI" \
	    2>apply.err 3>&- &
	applier=$!
	for n in $(seq 1 300); do echo "{\"_id\": $n}"; done | mongo_insert "$SRC_URI" "$db.c" 30
	# Until the applier has them all (its checkpoint on the target says so).
	for _ in $(seq 1 600); do
		count=$(mongo_cmd "$DST_URI" "$db" '{"count": "c"}' | jq .n)
		((count == 300)) && break
		sleep 0.1
	done
	kill -TERM "$reader"
	wait "$reader"
	wait "$applier"
	run migrate-report -o report.html timeline.jsonl
	assert_success
	row=$(grep "<tr class=\"program\" data-program=\"oplog-apply\"" report.html)
	[[ $row == *"<td>done</td>"*"<td>300</td>"* ]] || fail "apply row: $row"
	# Every line of the log is a sample drawn: points = lines per program.
	lines=$(grep -c '"program": "oplog-apply"' timeline.jsonl)
	assert_equal "$(values lag_seconds oplog-apply | wc -w)" "$lines"
	# Ends caught up.
	assert_equal "$(values lag_seconds oplog-apply | awk '{print $NF}')" 0.000
}
