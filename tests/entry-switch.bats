#!/usr/bin/env bats
# entry-switch: the cutover against real servers. FerretDB has neither
# setUserWriteBlockMode nor fsyncLock, so the fence here is a command that
# creates a fence file (and logs that it ran); the checkpoint is written
# by hand where the applier would write it.

load lib/helpers
load lib/metrics
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	name=$(unique_db cutover)
	printf 'mongodb://old-cluster/\n' >entry
	chmod 640 entry
	fence_cmd='touch fence; echo up >>fence.log'
	unfence_cmd='rm fence; echo down >>fence.log'
}

# A failed test must not leave the live pipeline running.
teardown() {
	for pid in ${reader:-} ${applier:-} ${switcher:-}; do
		kill "$pid" 2>/dev/null || true
	done
}

# Write the checkpoint on the target at T,I (default: the source's newest ts).
checkpoint_at() {
	local ts=${1:-$(oplog-read --now "$SRC_URI")}
	mongo_cmd "$DST_URI" oplogkit "{\"insert\": \"checkpoints\", \"documents\": [{\"_id\": \"$name\", \"ts\": {\"\$timestamp\": {\"t\": ${ts%,*}, \"i\": ${ts#*,}}}, \"count\": 1}]}" >/dev/null
}

# The entry file as it was: content, mode.
assert_entry_unchanged() {
	assert_equal "$(cat entry)" 'mongodb://old-cluster/'
	assert_equal "$(stat -c %a entry)" 640
}

switch() {
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--entry-file entry --entry-value 'mongodb://new-cluster/' "$@"
}

@test "entry-switch gives up when the lag gate is not met, and changes nothing" {
	mongo_cmd "$SRC_URI" "$(unique_db lagging)" '{"insert": "c", "documents": [{"_id": 1}]}'
	first=$(oplog-read --now "$SRC_URI")
	# The checkpoint just before that insert, which is let grow 2 s old:
	# the lag (the age of the oldest change it lacks) is over --lag 1s.
	checkpoint_at "${first%,*},$((${first#*,} - 1))"
	wait_for "the first insert to be 2 s old" clock_past "${first%,*}" 2
	mongo_cmd "$SRC_URI" "$(unique_db lagging)" '{"insert": "c", "documents": [{"_id": 2}]}'
	switch --lag 1s --timeout 1s --fence-cmd "$fence_cmd" --unfence-cmd "$unfence_cmd" --metrics gate.prom
	assert_failure 1
	assert_line --regexp '^result +not switched: lag [0-9]+ s still over 1000 ms after 1000 ms; nothing changed$'
	[[ $(grep '^result' <<<"$output") =~ lag\ ([0-9]+)\ s ]] && ((BASH_REMATCH[1] >= 2)) ||
		fail "not the age of $first: $output"
	assert_entry_unchanged
	assert_file_not_exist fence.log
	# --metrics: the result, the fence never up, and the lag it waited on.
	assert_prometheus_text gate.prom
	assert_equal "$(metric_phase gate.prom)" failed
	assert_equal "$(metric gate.prom oplogkit_switch_fenced)" 0
	assert_equal "$(metric gate.prom oplogkit_switch_window_seconds)" ''
	assert_equal "$(metric gate.prom oplogkit_checkpoint_timestamp_seconds)" "${first%,*}"
	(($(metric gate.prom oplogkit_lag_entries) >= 1)) || fail "$(cat gate.prom)"
	awk -v lag="$(metric gate.prom oplogkit_lag_seconds)" 'BEGIN { exit !(lag > 0) }' || fail "$(cat gate.prom)"
}

@test "entry-switch refuses without a fence on a server that has none" {
	checkpoint_at
	switch
	assert_failure 1
	assert_line --partial 'not switched: refused: the source has no write blocking or fsyncLock and no --fence-cmd'
	assert_entry_unchanged
	# Asking for a server fence by name fails the same way.
	switch --fence write-block
	assert_failure 1
	assert_line --partial 'refused: the source has no write-block'
	assert_entry_unchanged
}

@test "entry-switch with a fence command switches the entry file, keeps its mode, reports the window" {
	checkpoint_at
	# The switch happens inside the fence: the switch command sees the fence file.
	switch --fence-cmd "$fence_cmd" --unfence-cmd "$unfence_cmd" \
		--switch-cmd 'test -e fence && echo "$OPLOGKIT_SWITCH_TS" >switch-ts'
	assert_success
	assert_equal "$(cat entry)" 'mongodb://new-cluster/'
	assert_equal "$(stat -c %a entry)" 640
	assert_file_not_exist fence
	assert_equal "$(cat fence.log | tr '\n' ' ')" 'up down '
	# No temporary file is left beside the entry.
	assert_equal "$(ls -A | grep -c entry-switch)" 0
	for step in lag fence drain switch unfence; do
		assert_line --regexp "^$step +[0-9-]+T[0-9:.]+Z  \\+[0-9]+ ms  "
	done
	assert_line --regexp '^window +[0-9]+ ms$'
	assert_line --regexp '^result +switched$'
	# The switch ts is the target's newest oplog ts, handed to the command too.
	switch_ts=$(sed -n 's/^switch-ts *//p' <<<"$output")
	[[ $switch_ts =~ ^[0-9]+,[0-9]+$ ]]
	assert_equal "$(cat switch-ts)" "$switch_ts"
	# Nothing wrote to the target since: its newest ts is still the switch ts.
	assert_equal "$(oplog-read --now "$DST_URI")" "$switch_ts"
}

@test "entry-switch takes SOURCE and TARGET as operands, as README's recipe writes it" {
	checkpoint_at
	SRC=$SRC_URI DST=$DST_URI
	run --separate-stderr entry-switch --lag 1s --name "$name" --entry-file entry --entry-value "$DST" \
		--fence-cmd "$fence_cmd" --unfence-cmd "$unfence_cmd" "$SRC" "$DST"
	assert_success
	assert_line --regexp '^result +switched$'
	assert_equal "$(cat entry)" "$DST_URI"
	assert_equal "$(cat fence.log | tr '\n' ' ')" 'up down '
	# One operand, or operands and --source/--target both, is a usage error.
	run entry-switch --name "$name" --entry-file entry --entry-value x --no-fence "$SRC"
	assert_failure 2
	run entry-switch --source "$SRC" --name "$name" --entry-file entry --entry-value x --no-fence "$SRC" "$DST"
	assert_failure 2
}

@test "entry-switch replaces a symlink entry atomically" {
	checkpoint_at
	ln -s old.conf current
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--fence-cmd "$fence_cmd" --unfence-cmd "$unfence_cmd" --entry-link current --entry-target new.conf
	assert_success
	assert_equal "$(readlink current)" new.conf
	assert_line --regexp '^switch .*  link current$'
}

@test "entry-switch lifts the fence and puts the entry back when the switch command fails" {
	checkpoint_at
	ln -s old.conf current
	switch --fence-cmd "$fence_cmd" --unfence-cmd "$unfence_cmd" --entry-link current \
		--entry-target new.conf --switch-cmd 'exit 3'
	assert_failure 1
	assert_line --regexp '^result +not switched: --switch-cmd failed \(status 3\); fence lifted, entry unchanged$'
	assert_file_not_exist fence
	assert_equal "$(cat fence.log | tr '\n' ' ')" 'up down '
	assert_entry_unchanged
	assert_equal "$(readlink current)" old.conf
	assert_line --regexp '^window +[0-9]+ ms$'
}

@test "entry-switch drains to the source's newest ts read after the fence is up" {
	checkpoint_at
	# A write that lands while the fence goes up: the checkpoint is now behind it.
	db=$(unique_db drain)
	fence_and_write="$fence_cmd; '$MONGO_CMD' '$SRC_URI' $db '{\"insert\": \"c\", \"documents\": [{\"_id\": 1}]}' >/dev/null"
	switch --drain-timeout 1s --fence-cmd "$fence_and_write" --unfence-cmd "$unfence_cmd"
	assert_failure 1
	assert_line --regexp '^result +not switched: the checkpoint did not reach [0-9]+,[0-9]+ within 1000 ms; fence lifted, entry unchanged$'
	assert_entry_unchanged
	assert_file_not_exist fence

	# Once the applier's checkpoint has it, the same cutover goes through.
	name=$(unique_db drained)
	checkpoint_at
	switch --drain-timeout 1s --fence-cmd "$fence_cmd" --unfence-cmd "$unfence_cmd"
	assert_success
	assert_equal "$(cat entry)" 'mongodb://new-cluster/'
}

draining_fenced() {
	phase_is "$1" draining && [[ $(metric "$1" oplogkit_switch_fenced) == 1 ]]
}

@test "entry-switch --metrics: draining and verifying behind the fence, then switched with the window and the switch ts" {
	checkpoint_at
	gate=$(oplog-read --now "$SRC_URI")
	db=$(unique_db watched)
	# A write as the fence goes up: the drain waits for the applier to have it.
	fence_and_write="$fence_cmd; '$MONGO_CMD' '$SRC_URI' $db '{\"insert\": \"c\", \"documents\": [{\"_id\": 1}]}' >/dev/null"
	# A verification that waits for the test to have seen it (a minute at most).
	verify='for _ in $(seq 600); do [ -e verified ] && exit 0; sleep 0.1; done; exit 1'
	entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" --drain-timeout 2m \
		--fence-cmd "$fence_and_write" --unfence-cmd "$unfence_cmd" --verify-cmd "$verify" \
		--entry-file entry --entry-value 'mongodb://new-cluster/' \
		--metrics switch.prom --metrics-log switch.log >out 2>err &
	switcher=$!
	wait_for "draining behind the fence in switch.prom" draining_fenced switch.prom
	assert_prometheus_text switch.prom
	# The gate found the applier caught up: lag 0 at its checkpoint.
	assert_equal "$(metric switch.prom oplogkit_lag_seconds)" 0.000
	assert_equal "$(metric switch.prom oplogkit_lag_entries)" 0
	assert_equal "$(metric switch.prom oplogkit_checkpoint_timestamp_seconds)" "${gate%,*}"
	assert_equal "$(metric switch.prom oplogkit_switch_window_seconds)" ''
	assert_file_exist fence
	# The applier applies the write: its checkpoint moves to the newest ts.
	newest=$(oplog-read --now "$SRC_URI")
	mongo_cmd "$DST_URI" oplogkit "{\"update\": \"checkpoints\", \"updates\": [{\"q\": {\"_id\": \"$name\"}, \"u\": {\"\$set\": {\"ts\": {\"\$timestamp\": {\"t\": ${newest%,*}, \"i\": ${newest#*,}}}}}}]}" >/dev/null
	wait_for "verifying in switch.prom" phase_is switch.prom verifying
	assert_equal "$(metric switch.prom oplogkit_switch_fenced)" 1
	touch verified
	wait "$switcher"
	switcher=
	run cat out
	assert_line --regexp '^result +switched$'
	window_ms=$(sed -n 's/^window *\([0-9]*\) ms$/\1/p' out)
	switch_ts=$(sed -n 's/^switch-ts *//p' out)
	assert_prometheus_text switch.prom
	assert_equal "$(metric_phase switch.prom)" switched
	assert_equal "$(metric switch.prom oplogkit_switch_fenced)" 0
	# The window the report says, in seconds.
	awk -v ms="$window_ms" -v s="$(metric switch.prom oplogkit_switch_window_seconds)" \
		'BEGIN { exit !(ms != "" && s != "" && sprintf("%.3f", ms / 1000) == sprintf("%.3f", s)) }' ||
		fail "window $window_ms ms against $(grep window switch.prom)"
	assert_equal "$(metric switch.prom oplogkit_switch_timestamp_seconds)" "${switch_ts%,*}"
	assert_equal "$(tail -n 1 switch.log | jq -r '[.program, .phase, .switch_fenced] | join(" ")')" \
		'entry-switch switched 0'
}

@test "entry-switch lifts the fence on SIGTERM during the drain" {
	checkpoint_at
	db=$(unique_db term)
	# The log line comes after the write: then we are in the drain.
	fence_and_write="touch fence; '$MONGO_CMD' '$SRC_URI' $db '{\"insert\": \"c\", \"documents\": [{\"_id\": 1}]}' >/dev/null; echo up >>fence.log"
	entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" --drain-timeout 1m \
		--fence-cmd "$fence_and_write" --unfence-cmd "$unfence_cmd" \
		--entry-file entry --entry-value new >out 2>&1 &
	pid=$!
	for _ in {1..50}; do [[ -e fence.log ]] && break; sleep 0.1; done
	sleep 0.3
	assert_file_exist fence
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 1
	assert_file_not_exist fence
	assert_entry_unchanged
	run cat out
	assert_line --partial 'not switched: interrupted during the drain; fence lifted, entry unchanged'
}

@test "entry-switch --keep-fenced leaves the fence up after the switch" {
	checkpoint_at
	switch --keep-fenced --fence-cmd "$fence_cmd"
	assert_success
	assert_file_exist fence
	assert_line --regexp '^window +open: the fence is up$'
	assert_line --regexp '^result +switched; fence kept up \(--keep-fenced\)$'
}

@test "entry-switch checks its command line before touching anything" {
	run entry-switch --source "$SRC_URI" --target "$DST_URI"
	assert_failure 2
	assert_output --partial 'nothing to switch'
	run entry-switch --source "$SRC_URI" --target "$DST_URI" --entry-file entry --entry-value x --fence-cmd true
	assert_failure 2
	assert_output --partial 'needs --unfence-cmd'
	run entry-switch --source "$SRC_URI" --target "$DST_URI" --entry-file missing --entry-value x --no-fence
	assert_failure 2
	assert_output --partial 'missing: No such file'
	run entry-switch --source "$SRC_URI" --target "$DST_URI" --entry-link entry --entry-target x --no-fence
	assert_failure 2
	assert_output --partial 'not a symbolic link'
	run entry-switch --help
	assert_success
	assert_output --partial 'usage: entry-switch'
}

@test "entry-switch refuses a --proxy socket path too long to name, instead of cutting it short" {
	# sun_path holds 107 bytes: a longer path cut short names another socket.
	long=$BATS_TEST_TMPDIR/$(printf 'p%.0s' {1..120}).sock
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" --proxy "$long"
	assert_failure 2
	[[ $stderr == *"--proxy $long: path too long"* ]]
	run --separate-stderr entry-proxy --control "$long" status
	assert_failure 2
	[[ $stderr == *"--control $long: path too long"* ]]
}

@test "entry-switch cuts over a live oplog-read | oplog-apply migration, and sync-check agrees" {
	db=$(unique_db live)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 0, "v": "before"}]}' >/dev/null
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 0, "v": "before"}]}' >/dev/null
	start_live_migration "$name" "$db.*"
	for k in 1 2 3 4 5; do
		mongo_cmd "$SRC_URI" "$db" "{\"insert\": \"c\", \"documents\": [{\"_id\": $k, \"v\": \"live\"}]}" >/dev/null
	done
	# The fence command writes once more as it goes up, like an application's
	# last write in flight: the drain must wait for it.
	last_write="'$MONGO_CMD' '$SRC_URI' $db '{\"update\": \"c\", \"updates\": [{\"q\": {\"_id\": 0}, \"u\": {\"\$set\": {\"v\": \"last\"}}}]}' >/dev/null"
	switch --lag 1s --timeout 20s --drain-timeout 10s \
		--fence-cmd "touch fence; $last_write" --unfence-cmd "$unfence_cmd"
	kill -TERM "$reader"
	wait "$reader"
	wait "$applier"
	assert_success
	assert_line --regexp '^result +switched$'
	assert_line --regexp '^window +[0-9]+ ms$'
	assert_equal "$(cat entry)" 'mongodb://new-cluster/'
	run sync-check --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.c" | head -n 1)" \
		'{ "_id" : { "$numberInt" : "0" }, "v" : "last" }'
}
