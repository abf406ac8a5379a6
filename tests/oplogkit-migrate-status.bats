#!/usr/bin/env bats
# oplogkit-migrate for the operator: URIs from files or the environment,
# so that no password shows in ps, and a status (text and --json) that
# says the phase, what became of each program, the lag and the documents
# copied. The source is a FerretDB with authentication of this file's
# own (user "user", a password of its own), so the password is used.

load lib/helpers
load lib/migrate
bats_require_minimum_version 1.5.0

PW=m1grateSecretPW

setup_file() {
	auth_server_start "$PW"
}

teardown_file() {
	auth_server_stop
}

setup() {
	migrate_setup mstatus
}

teardown() {
	migrate_teardown
}

# watch_ps PID FILE: every process line on the machine, sampled until PID
# exits, appended to FILE.
watch_ps() {
	while kill -0 "$1" 2>/dev/null; do
		ps -eo pid,args >>"$2"
		sleep 0.05
	done
}

@test "oplogkit-migrate takes its URIs from --source-uri-file and the environment: no password in ps, a log or a state file" {
	local i
	for ((i = 1; i <= 300; i++)); do
		printf '{"_id": %d, "v": "%s"}\n' "$i" "$(printf 'y%.0s' {1..200})"
	done | mongo_insert "$AUTH_URI" "$db.c" >/dev/null
	(umask 077 && echo "$AUTH_URI" >src.uri)
	OPLOGKIT_TARGET_URI=$DST_URI oplogkit-migrate -w "$work" --name "$db" --ns "$db.*" \
		--source-uri-file src.uri >out 2>&1 3>&- &
	pid=$!
	watch_ps "$pid" ps.log
	wait "$pid" || fail "exit $?: $(cat out)"
	cat out
	grep -q '\[done\] in sync' out
	# It ran under ps's eyes: its own line and its programs' were sampled.
	grep -q "oplogkit-migrate -w $work --name $db --ns $db.\* --source-uri-file src.uri" ps.log
	grep -q "oplog-read --since" ps.log
	# (The test server's own line holds it: --setup-password.)
	run grep -c -e "$PW" <(grep -v -e '--setup-password' ps.log)
	assert_output 0
	# Nor in the output, the logs, the reports: only in the 0600 URI files.
	run grep -r -a -l -e "$PW" out "$work" --exclude='*.uri'
	assert_output ""
	assert_equal "$(stat -c %a "$work/source.uri")" 600
	assert_equal "$(mongo_dump "$DST_URI" "$db.c" | wc -l)" 300
	# The environment alone works too, for the later commands as well.
	OPLOGKIT_SOURCE_URI=$AUTH_URI OPLOGKIT_TARGET_URI=$DST_URI run oplogkit-migrate --dry-run -w "$work.2"
	assert_success
	assert_line --partial 'oplog-read --now'
}

@test "oplogkit-migrate status --json: phase, each program's state, exit status and reason, lag, documents copied; the text says the same" {
	local i
	for ((i = 1; i <= 120; i++)); do printf '{"_id": %d}\n' "$i"; done | mongo_insert "$SRC_URI" "$db.c" >/dev/null
	oplogkit-migrate -w "$work" --name "$db" --ns "$db.*" "$SRC_URI" "$DST_URI" >out 2>&1 3>&- || fail "$(cat out)"
	run oplogkit-migrate status -w "$work" --json
	assert_success
	echo "$output" | jq .
	json=$output
	q() { jq -r "$1" <<<"$json"; }
	assert_equal "$(q .phase)" done
	assert_equal "$(q '.migrate | "\(.state) \(.exit)"')" "exited 0"
	assert_equal "$(q '.children.reader.state')" running
	assert_equal "$(q '.children.reader.pid')" "$(cat "$work/reader.pid")"
	assert_equal "$(q '.children.apply.state')" running
	assert_equal "$(q '.children["snap-import"] | "\(.state) \(.exit) \(.reason)"')" "stopped 0 done"
	assert_equal "$(q '.children["snap-export"] | "\(.state) \(.exit) \(.reason)"')" "stopped 0 done"
	assert_equal "$(q '.children.check | "\(.state) \(.exit) \(.reason)"')" "stopped 0 done"
	assert_equal "$(q .documents_copied)" 120
	assert_equal "$(q .snapshot_done)" true
	[[ $(q .lag.seconds) =~ ^[0-9]+$ ]] || fail "no lag in seconds"
	[[ $(q .lag.entries) =~ ^[0-9]+$ ]] || fail "no lag in entries"
	assert_equal "$(q .t0)" "$(cat "$work/t0")"

	# The text: the same facts.
	run oplogkit-migrate status -w "$work"
	assert_success
	assert_line 'phase: done'
	assert_line 'oplogkit-migrate: exit 0: in sync; capture and replay keep running'
	assert_line "reader: running (pid $(cat "$work/reader.pid"))"
	assert_line 'snap-import: stopped'
	assert_line 'documents copied: 120'
	assert_line --regexp "^lag: $(jq -r .lag.seconds <<<"$json") s, $(jq -r .lag.entries <<<"$json") entries"

	# A stream that fails shows in both, with its status and reason.
	kill -KILL "$(cat "$work/apply.pid")"
	for ((i = 0; i < 50; i++)); do
		[[ $(oplogkit-migrate status -w "$work" --json | jq -r .children.apply.state) == killed ]] && break
		sleep 0.1
	done
	run oplogkit-migrate status -w "$work" --json
	assert_equal "$(jq -r '.children.apply | "\(.state) \(.signal) \(.reason)"' <<<"$output")" "killed SIGKILL killed by a signal"
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^apply: killed: oplog-apply killed by SIGKILL \(killed by a signal\)'
}
