#!/usr/bin/env bats
# oplogkit-migrate when a program it runs fails: a refused switch, a
# killed reader or import, a full disk, lost history, and the script
# itself terminated. What the user must get each time: a documented
# non-zero status, the program and its last message on stderr and in
# `status`, no claim of success, and no program left running unasked.

load lib/helpers
load lib/migrate
bats_require_minimum_version 1.5.0

setup() {
	migrate_setup mfail
}

teardown() {
	migrate_teardown
}

# migrate ARGS...: oplogkit-migrate on this test's database; its stderr in
# ./out, its status in $rc.
migrate() {
	rc=0
	oplogkit-migrate -w "$work" --name "$db" --ns "$db.*" "$@" >>out 2>&1 3>&- || rc=$?
	cat out
}

# migrate_bg ARGS...: the same in the background; $pid.
migrate_bg() {
	oplogkit-migrate -w "$work" --name "$db" --ns "$db.*" "$@" "$SRC_URI" "$DST_URI" >out 2>&1 3>&- &
	pid=$!
}

# wait_bg: once migrate_bg's run exits, its status in $rc and its output shown.
wait_bg() {
	rc=0
	wait "$pid" || rc=$?
	cat out
}

# A collection big enough that the snapshot lasts seconds (about 2 MB).
populate() {
	local pad i
	pad=$(printf 'x%.0s' {1..1000})
	for ((i = 1; i <= ${1:-2000}; i++)); do
		printf '{"_id": %d, "pad": "%s"}\n' "$i" "$pad"
	done | mongo_insert "$SRC_URI" "$db.big" >/dev/null
}

# running NAME: the pid of the program NAME (reader, snap-import...) of
# the work directory, once it runs (20 s at most).
running() {
	local i p
	for ((i = 0; i < 400; i++)); do
		p=$(cat "$work/$1.pid" 2>/dev/null || true)
		if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
			echo "$p"
			return 0
		fi
		sleep 0.05
	done
	fail "$1 never ran: $(cat out)"
}

# status_json: `status --json`, checked to be JSON.
status_json() {
	oplogkit-migrate status -w "$work" --json >status.json
	jq -e . status.json >/dev/null || fail "not JSON: $(cat status.json)"
}

@test "oplogkit-migrate: a refused switch exits 1, says why, and leaves capture and replay running" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]}' >/dev/null
	echo old >entry
	# The fence cannot go up: entry-switch changes nothing and exits 1.
	migrate --switch "$SRC_URI" "$DST_URI" -- --fence-cmd false --unfence-cmd true \
		--entry-file "$PWD/entry" --entry-value new
	assert_equal "$rc" 1
	grep -q 'not switched: --fence-cmd failed (status 1); nothing changed (entry-switch exit 1 (not switched)); capture and replay keep running' out ||
		fail "no reason given"
	! grep -q '\[done\] switched' out || fail "a switch was claimed"
	assert_equal "$(cat entry)" old
	grep -q '^result *not switched' "$work/switch.report"
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^reader: running \(pid [0-9]+\)$'
	assert_line --regexp '^apply: running \(pid [0-9]+\)$'
	assert_line 'switch: failed: entry-switch exit 1 (not switched)'
	assert_line --regexp '^oplogkit-migrate: exit 1: not switched'
	status_json
	assert_equal "$(jq -r '.children.switch | "\(.state) \(.exit) \(.reason)"' status.json)" "failed 1 not switched"
	assert_equal "$(jq -r .migrate.exit status.json)" 1
	# The streams really still follow the source.
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 3}]}' >/dev/null
	for ((i = 0; i < 100; i++)); do
		[[ $(mongo_dump "$DST_URI" "$db.c" | wc -l) == 3 ]] && break
		sleep 0.2
	done
	assert_equal "$(mongo_dump "$DST_URI" "$db.c" | wc -l)" 3
}

@test "oplogkit-migrate: a reader killed during the run is 'the capture stopped', exit 4, never 'in sync'" {
	populate
	migrate_bg
	reader=$(running reader)
	running snap-import >/dev/null
	kill -KILL "$reader"
	wait_bg
	assert_equal "$rc" 4
	grep -q 'the capture stopped: oplog-read killed by SIGKILL' out || fail "no reason given"
	! grep -q 'in sync' out || fail "in sync was claimed"
	run oplogkit-migrate status -w "$work"
	assert_line 'reader: killed: oplog-read killed by SIGKILL (killed by a signal)'
	status_json
	assert_equal "$(jq -r '.children.reader | "\(.state) \(.signal)"' status.json)" "killed SIGKILL"
	assert_equal "$(jq -r .migrate.exit status.json)" 4
}

@test "oplogkit-migrate: a killed snap-import is exit 4 naming it, not 137, and no snapshot is claimed" {
	populate
	migrate_bg
	import=$(running snap-import)
	reader=$(running reader)
	kill -KILL "$import"
	wait_bg
	assert_equal "$rc" 4
	grep -q 'the snapshot failed: snap-import killed by SIGKILL' out || fail "no reason given"
	assert_not_exist "$work/snapshot.done"
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^snap-import: killed: snap-import killed by SIGKILL'
	# The capture goes on: a rerun copies again and resumes the spool.
	assert_line "reader: running (pid $reader)"
}

@test "oplogkit-migrate: a reader stopped by a full disk leaves its message on stderr and in status, its log being full too" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}' >/dev/null
	# The spool and the reader's log on a disk that takes nothing.
	mkdir -p "$work/log"
	ln -s /dev/full "$work/spool.bson"
	ln -s /dev/full "$work/log/oplog-read.log"
	migrate "$SRC_URI" "$DST_URI"
	assert_equal "$rc" 6
	grep -q "the capture stopped.*: oplog-read exit 6 (local failure): oplog-read: $work/spool.bson: write failed: No space left on device" out ||
		fail "the reason is not on stderr"
	run oplogkit-migrate status -w "$work"
	assert_line "reader: failed: oplog-read exit 6 (local failure): oplog-read: $work/spool.bson: write failed: No space left on device"
	status_json
	assert_equal "$(jq -r '.children.reader | "\(.state) \(.exit) \(.reason)"' status.json)" "failed 6 local failure"
	[[ $(jq -r .children.reader.last status.json) == *'No space left on device' ]]
}

@test "oplogkit-migrate: a reader whose history is lost shows exit 5 in status, and the run exits 5" {
	# A work directory whose T0 the source's oplog no longer reaches.
	mkdir -p "$work"
	echo 1,1 >"$work/t0"
	touch "$work/snapshot.done"
	migrate "$SRC_URI" "$DST_URI"
	assert_equal "$rc" 5
	grep -q 'oplog-read exit 5 (oplog history lost): oplog-read: history lost' out || fail "no reason given"
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^reader: failed: oplog-read exit 5 \(oplog history lost\): oplog-read: history lost: '
	refute_line 'reader: stopped'
	status_json
	assert_equal "$(jq -r '.children.reader | "\(.exit) \(.reason)"' status.json)" "5 oplog history lost"
}

@test "oplogkit-migrate terminated stops every program it started, cleanly, and a rerun finishes the job" {
	populate
	migrate_bg
	import=$(running snap-import)
	export=$(cat "$work/snap-export.pid")
	reader=$(running reader)
	kill -TERM "$pid"
	wait_bg
	assert_equal "$rc" 143
	grep -q 'stopped by SIGTERM' out
	for p in "$import" "$export" "$reader"; do
		gone "$p" || fail "$(ps -o args= -p "$p") outlived oplogkit-migrate"
	done
	# No supervisor either: nothing of the run is left.
	run pgrep -f -- "-w $work "
	assert_output ""
	# The reader stopped cleanly: its spool ends with the trailer.
	assert_equal "$(oplog-show --relaxed "$work/spool.bson" | tail -n 1 | jq -r .o.msg)" 'oplogkit end'
	assert_not_exist "$work/snapshot.done"
	run oplogkit-migrate status -w "$work"
	assert_line 'reader: stopped'
	assert_line --regexp '^oplogkit-migrate: exit 143: stopped by SIGTERM'

	: >out
	migrate "$SRC_URI" "$DST_URI"
	assert_equal "$rc" 0
	grep -q '\[done\] in sync' out
	assert_equal "$(mongo_dump "$DST_URI" "$db.big" | wc -l)" 2000
}
