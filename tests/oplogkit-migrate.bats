#!/usr/bin/env bats
# oplogkit-migrate: the whole migration against the real test servers,
# each test on its own database (--ns) and checkpoint (--name), under a
# small write load (FerretDB rescans its oplog on every poll, so hundreds
# of writes, not thousands). The rollback commands (reverse, switch-back,
# retire) are in rollback.bats.

load lib/helpers
load lib/migrate
bats_require_minimum_version 1.5.0

setup() {
	migrate_setup migrate
	load_pid=
}

# Nothing a test started may outlive it: the background reader and
# applier, the write load.
teardown() {
	[[ -z $load_pid ]] || kill -TERM "$load_pid" 2>/dev/null || true
	migrate_teardown
}

# migrate ARGS...: oplogkit-migrate on this test's database, its stderr in
# ./out; the background processes must not hold bats' descriptors.
migrate() {
	oplogkit-migrate -w "$work" --name "$db" --ns "$db.*" "$@" "$SRC_URI" "$DST_URI" >>out 2>&1 3>&-
}

# A write load on the source, in the background.
start_load() {
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops "${1:-200}" --rate 100 --seed "${2:-7}" >load.out 2>&1 3>&- &
	load_pid=$!
}
wait_load() {
	wait "$load_pid" || fail "the write load failed: $(cat load.out)"
	load_pid=
}

# The checkpoint has reached the source's newest entry (30 s at most).
wait_caught_up() {
	local i
	for ((i = 0; i < 150; i++)); do
		sync-check --lag-only --name "$db" "$SRC_URI" "$DST_URI" 2>/dev/null | grep -q ', 0 entries' && return 0
		sleep 0.2
	done
	fail "not caught up: $(sync-check --lag-only --name "$db" "$SRC_URI" "$DST_URI" 2>&1)"
}

# What the user asks in the end: do both sides hold the same data?
assert_in_sync() {
	run --separate-stderr sync-check --ns "$db.*" --json "$SRC_URI" "$DST_URI"
	[[ $status -eq 0 ]] || fail "sync-check exit $status: $output $stderr"
	# Not vacuously: the three collections of the load are there.
	[[ $stderr =~ 3\ namespaces,\ ([0-9]+)\ documents\ compared ]] || fail "$stderr"
	((BASH_REMATCH[1] > 50)) || fail "$stderr"
}

@test "oplogkit-migrate --help and bad usage" {
	run oplogkit-migrate --help
	assert_success
	assert_line --partial 'usage: oplogkit-migrate [options] [SOURCE_URI TARGET_URI]'
	run oplogkit-migrate --bogus "$SRC_URI" "$DST_URI"
	assert_failure 2
	assert_line --partial 'unknown option --bogus'
	run oplogkit-migrate "$SRC_URI"
	assert_failure 2
}

@test "oplogkit-migrate --dry-run prints the pipeline, without passwords, and changes nothing" {
	run --separate-stderr oplogkit-migrate --dry-run -w "$work" --name "$db" --ns "$db.*" --jobs 3 -z \
		'mongodb://admin:s3cret@127.0.0.1:1/' "$DST_URI"
	assert_success
	assert_line --index 0 --partial 'oplog-read --now'
	assert_line --regexp "^oplog-read --since T0 -o $work/spool.bson -z --metrics $work/metrics/reader.prom --metrics-log $work/timeline.jsonl 2>> $work/log/oplog-read.log &$"
	assert_line --regexp "^snap-export --t0 T0 --jobs 3 --ns '$db\\.\\*' 2>> .* \\| snap-import --jobs 3 --progress --ns '$db\\.\\*' "
	assert_line --regexp "^oplog-apply --follow --resume --progress --name $db --metrics $work/metrics/apply.prom --metrics-log $work/timeline.jsonl --ns '$db\\.\\*' $work/spool.bson 2>> .* &$"
	assert_line --regexp "^sync-check --lag-only --max-lag 1s --name $db "
	assert_line --regexp "^sync-check --name $db --ns '$db\\.\\*' "
	[[ $output$stderr != *s3cret* ]] || fail "the password was printed"
	[[ $stderr != *"in sync"* ]] || fail "a dry run claimed: $stderr"
	# Nothing happened: no work directory, no checkpoint on the target.
	assert_not_exist "$work"
	assert_equal "$(mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}" | jq '.cursor.firstBatch | length')" 0
}

@test "oplogkit-migrate copies a populated source under a write load and ends in sync; stop ends the capture and the replay cleanly" {
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 100 --seed 1 >/dev/null
	start_load 200 2
	migrate || fail "exit $?: $(cat out)"
	grep -q '\[done\] in sync; capture and replay keep running' out || fail "$(cat out)"
	wait_load
	wait_caught_up
	assert_in_sync

	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^reader: running \(pid [0-9]+\)$'
	assert_line --regexp '^apply: running \(pid [0-9]+\)$'
	assert_line 'snapshot: done'
	reader=$(cat "$work/reader.pid")
	applier=$(cat "$work/apply.pid")

	# Writes after the check still arrive: the pipeline keeps running.
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 30 --seed 3 >/dev/null
	wait_caught_up

	run oplogkit-migrate stop -w "$work"
	assert_success
	assert_output --partial 'capture stopped (trailer written)'
	run oplogkit-migrate status -w "$work"
	assert_line 'reader: stopped'
	assert_line 'apply: stopped'
	gone "$reader" || fail "the reader $reader still runs"
	gone "$applier" || fail "the applier $applier still runs"
	# The spool ends with its trailer, and the replay got all of it.
	trailer=$(oplog-show --relaxed "$work/spool.bson" | tail -n 1)
	assert_equal "$(jq -r .o.msg <<<"$trailer")" 'oplogkit end'
	assert_in_sync
}

@test "oplogkit-migrate killed with its children during the snapshot resumes on a rerun and ends in sync" {
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 100 --seed 4 >/dev/null
	start_load 200 5
	setsid oplogkit-migrate -w "$work" --name "$db" --ns "$db.*" "$SRC_URI" "$DST_URI" >out 2>&1 3>&- &
	for ((i = 0; i < 300; i++)); do
		# The spool must hold the reader's header before the crash: a
		# rerun resumes a spool only when it has one (else it tails anew).
		grep -q '\[snapshot\]' out && [[ -s $work/reader.pid && -s $work/spool.bson ]] && break
		sleep 0.1
	done
	grep -q '\[snapshot\]' out || fail "no snapshot phase: $(cat out)"
	[[ -s $work/spool.bson ]] || fail "the reader wrote nothing into the spool: $(cat out)"
	# A crash: the script, the reader and the export all die at once.
	pgid=$(ps -o pgid= -p "$(cat "$work/reader.pid")" | tr -d ' ')
	[[ -n $pgid && $pgid != "$(ps -o pgid= -p $$ | tr -d ' ')" ]] || fail "no process group of its own"
	kill -KILL -- "-$pgid"
	t0=$(cat "$work/t0")

	# The rerun keeps T0 and the spool, and finishes the job.
	: >out
	migrate || fail "exit $?: $(cat out)"
	grep -q "\[t0\] resuming with T0 $t0" out || fail "$(cat out)"
	grep -q '\[capture\] resumed into' out || fail "$(cat out)"
	grep -q '\[done\] in sync' out || fail "$(cat out)"
	wait_load
	wait_caught_up
	assert_in_sync
	# One stream in the spool: one header, whatever the crash cut.
	assert_equal "$(oplog-show --relaxed "$work/spool.bson" | jq -r 'select(.o.msg == "oplogkit stream") | .o.msg' | wc -l)" 1
}

@test "oplogkit-migrate rerun after a stop resumes the spool and catches up with the writes made meanwhile" {
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 60 --seed 8 >/dev/null
	migrate || fail "exit $?: $(cat out)"
	oplogkit-migrate stop -w "$work" >/dev/null 2>&1
	# Written while nothing captured: the resumed reader reads them from the oplog.
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 80 --seed 9 >/dev/null
	: >out
	migrate || fail "exit $?: $(cat out)"
	grep -q '\[snapshot\] already done' out || fail "$(cat out)"
	wait_caught_up
	assert_in_sync
}
