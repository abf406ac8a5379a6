#!/usr/bin/env bats
# A server that cannot be reached is named at once, in the driver's own
# terms, then again every so often while the retry budget lasts; the
# program gives up with exit 4 when the budget is spent. Two kinds of
# dead: a closed port (connection refused) and a port that takes the
# connection and never answers (tests/tools/silent-port).

load lib/helpers
bats_require_minimum_version 1.5.0

SILENT_PORT=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/silent-port

setup() {
	silent_pid=
}

teardown() {
	[[ -z $silent_pid ]] || kill "$silent_pid" 2>/dev/null || true
}

# Start silent-port; its port in $silent.
start_silent() {
	"$SILENT_PORT" >"$BATS_TEST_TMPDIR/silent.port" 3>&- &
	silent_pid=$!
	for _ in {1..50}; do
		[[ -s $BATS_TEST_TMPDIR/silent.port ]] && break
		sleep 0.1
	done
	silent=$(<"$BATS_TEST_TMPDIR/silent.port")
	[[ -n $silent ]] || fail "silent-port did not start"
}

@test "a closed port: named at its first failure, then every so often, exit 4 naming it" {
	run --separate-stderr oplog-read --now --retry-for 4s 'mongodb://127.0.0.1:1/'
	assert_failure 4
	assert_output ""
	# The first line, at the first failure: who, why, for how long.
	assert_equal "${stderr_lines[0]}" \
	    'oplog-read: cannot reach 127.0.0.1:1 (connection refused); retrying for 4s'
	# Then a line while it lasts (a fifth of the budget apart, at least 1 s):
	# not silence until the end.
	[[ $stderr == *'oplog-read: cannot reach 127.0.0.1:1 (connection refused), for '*' now; retrying for '*' more'* ]] ||
		fail "no line while retrying: $stderr"
	# The last says it gave up, in the same terms.
	assert_regex "${stderr_lines[-1]}" \
	    '^oplog-read: cannot reach 127\.0\.0\.1:1 \(connection refused\); gave up after [0-9.]+m?s'
	# The driver's words for it are said only in their plain form.
	[[ $stderr != *'No servers yet eligible'* ]] || fail "driver noise: $stderr"
}

@test "a port that takes connections and never answers: socket timeout, within the budget" {
	start_silent
	# Before, each attempt held for connectTimeoutMS (10 s) whatever
	# --retry-for said: 2 s took 12 s. An attempt now gets half the budget.
	run --separate-stderr timeout 9 oplog-read --now --retry-for 2s "mongodb://127.0.0.1:$silent/"
	assert_failure 4
	assert_equal "${stderr_lines[0]}" \
	    "oplog-read: cannot reach 127.0.0.1:$silent (socket timeout); retrying for 2s"
	assert_regex "${stderr_lines[-1]}" \
	    "^oplog-read: cannot reach 127\\.0\\.0\\.1:$silent \\(socket timeout\\); gave up after "
}

@test "oplog-read --now fails fast by default: a short budget, said in the first line" {
	# --now answers a script's question (where does the oplog end?); it
	# retried 5 minutes like a long-running reader before.
	run --separate-stderr timeout 60 oplog-read --now 'mongodb://127.0.0.1:1/'
	assert_failure 4
	assert_equal "${stderr_lines[0]}" \
	    'oplog-read: cannot reach 127.0.0.1:1 (connection refused); retrying for 10s'
	assert_regex "${stderr_lines[-1]}" 'gave up after'
}

@test "a long-running reader says its whole budget at once: retrying for 5m" {
	oplog-read --since 0 -o "$BATS_TEST_TMPDIR/spool.bson" 'mongodb://127.0.0.1:1/' \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	reader=$!
	for _ in {1..100}; do
		[[ -s $BATS_TEST_TMPDIR/err ]] && break
		sleep 0.1
	done
	kill -TERM "$reader"
	rc=0
	wait "$reader" || rc=$?
	run head -n 1 "$BATS_TEST_TMPDIR/err"
	assert_output 'oplog-read: cannot reach 127.0.0.1:1 (connection refused); retrying for 5m'
	# A stop while retrying is a clean stop.
	assert_equal "$rc" 0
}

@test "a pooled program (sync-check) names the host it cannot reach" {
	run --separate-stderr sync-check --retry-for 2s "$SRC_URI" 'mongodb://127.0.0.1:1/'
	assert_failure 4
	assert_regex "$stderr" 'cannot reach 127\.0\.0\.1:1 \([a-z ]+\); retrying for 2s'
	assert_regex "${stderr_lines[-1]}" 'cannot reach 127\.0\.0\.1:1 .*gave up after'
}

@test "a password in the URI is never in these lines" {
	run --separate-stderr oplog-read --now --retry-for 1s 'mongodb://u:s3cret@127.0.0.1:1/'
	assert_failure 4
	assert_regex "${stderr_lines[0]}" 'cannot reach 127\.0\.0\.1:1 \(connection refused\)'
	[[ $stderr != *s3cret* ]] || fail "the password was printed: $stderr"
}
