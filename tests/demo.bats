#!/usr/bin/env bats
# make demo, the main job, as the README runs it: its own two servers, a
# live application, the migration, the switch, the reverse stream. What
# the summary says is what the operator reads: checked line by line.

load lib/helpers
bats_require_minimum_version 1.5.0

@test "the demo migrates under load: every document copied and replayed, 0 application errors, 0 differences" {
	run --separate-stderr timeout 300 "$ROOT/bin/oplogkit-demo" --seconds 3 --keep "$BATS_TEST_TMPDIR/demo"
	[[ $status == 0 ]] || fail "status $status: $output $stderr"
	assert_line --regexp '^documents copied at T0: [0-9]+$'
	assert_line --regexp '^oplog entries replayed onto the target: [0-9]+ '
	assert_line --regexp '^entries replayed back onto the source after the switch: [0-9]+$'
	assert_line --regexp '^write-unavailable window: [0-9]+ ms$'
	assert_line 'application errors: 0'
	assert_line 'result: source and target hold the same data; 0 differences'
	# The report the operator attaches to the change ticket.
	report=$BATS_TEST_TMPDIR/demo/migrate/report.html
	[[ -s $report ]] || fail "no report in the work directory"
	grep -q '<svg' "$report"
}
