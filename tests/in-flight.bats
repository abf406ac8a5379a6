#!/usr/bin/env bats
# Differences on a live source: sync-check --recheck tells a change still
# on its way through the oplog ("in-flight") from a real difference by the
# oplog's timestamps against the applier's checkpoint, and entry-switch
# --verify-cmd compares what was in flight inside the fence, where the
# source stands still. The checkpoint is written by hand where the
# applier would write it, so that each case is exact.

load lib/helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db inflight)
	name=$db
}

# checkpoint_at [T,I]: the applier's checkpoint on the target (default:
# the source's newest ts), replaced if there.
checkpoint_at() {
	local ts=${1:-$(oplog-read --now "$SRC_URI")}
	mongo_cmd "$DST_URI" oplogkit "{\"delete\": \"checkpoints\", \"deletes\": [{\"q\": {\"_id\": \"$name\"}, \"limit\": 1}]}" >/dev/null
	mongo_cmd "$DST_URI" oplogkit "{\"insert\": \"checkpoints\", \"documents\": [{\"_id\": \"$name\", \"ts\": {\"\$timestamp\": {\"t\": ${ts%,*}, \"i\": ${ts#*,}}}, \"count\": 1}]}" >/dev/null
}

# kinds FILE: "_id kind [now]" per record, in order.
kinds() {
	oplog-show --relaxed "$1" | jq -r '"\(._id) \(.kind)\(if .now then " " + .now else "" end)"'
}

# Both sides hold _id 1..3 alike; then the source changes 1 after the
# checkpoint, the target alone changes 2 and gains 4.
seed() {
	local side
	for side in "$SRC_URI" "$DST_URI"; do
		mongo_cmd "$side" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 1}, {"_id": 2, "a": 1}, {"_id": 3, "a": 1}]}' >/dev/null
	done
	checkpoint_at
	mongo_cmd "$SRC_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 2}}}]}' >/dev/null
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$set": {"a": 99}}}]}' >/dev/null
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 4}]}' >/dev/null
	run sync-check --ns "$db.*" -o diffs.bson "$SRC_URI" "$DST_URI"
	assert_failure 1
	assert_equal "$(kinds diffs.bson | tr '\n' ,)" "1 differs,2 differs,4 extra,"
}

@test "sync-check --recheck: a change after the checkpoint is in flight, one before it a real difference" {
	seed
	# A command of another database after the checkpoint changes nothing here.
	mongo_cmd "$SRC_URI" "$(unique_db inflight_other)" '{"create": "x"}' >/dev/null
	run --separate-stderr sync-check --recheck diffs.bson --name "$name" -o again.bson "$SRC_URI" "$DST_URI"
	assert_failure 1
	assert_equal "$(kinds again.bson | tr '\n' ,)" "1 in-flight differs,2 differs,4 extra,"
	[[ $stderr == *"3 records rechecked: 2 documents compared, 0 missing, 1 extra, 1 differ, 1 in flight"* ]] ||
		fail "$stderr"
	# The record says from when: the checkpoint, and the change after it.
	run oplog-show --relaxed again.bson
	[[ $(jq -r 'select(._id == 1) | (.changed."$timestamp".t > .checkpoint."$timestamp".t or (.changed."$timestamp".t == .checkpoint."$timestamp".t and .changed."$timestamp".i > .checkpoint."$timestamp".i))' <<<"$output") == true ]] ||
		fail "changed is not after checkpoint: $output"

	# --in-flight-ok does not hide a real difference.
	run sync-check --recheck diffs.bson --name "$name" --in-flight-ok -o again.bson "$SRC_URI" "$DST_URI"
	assert_failure 1

	# The real differences put right, only what is in flight remains:
	# status 1, or 0 with --in-flight-ok, and the record is still written.
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$set": {"a": 1}}}]}' >/dev/null
	mongo_cmd "$DST_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 4}, "limit": 1}]}' >/dev/null
	run sync-check --recheck diffs.bson --name "$name" -o again.bson "$SRC_URI" "$DST_URI"
	assert_failure 1
	run sync-check --recheck diffs.bson --name "$name" --in-flight-ok -o again.bson "$SRC_URI" "$DST_URI"
	assert_success
	assert_equal "$(kinds again.bson)" "1 in-flight differs"

	# A checkpoint past the change with the target not holding it: the
	# applier claims what the target does not show, a real difference.
	checkpoint_at
	run sync-check --recheck again.bson --name "$name" --in-flight-ok -o last.bson "$SRC_URI" "$DST_URI"
	assert_failure 1
	assert_equal "$(kinds last.bson)" "1 differs"

	# The change applied: equal, nothing written.
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 2}}}]}' >/dev/null
	run sync-check --recheck again.bson --name "$name" -o last.bson "$SRC_URI" "$DST_URI"
	assert_success
	assert_equal "$(stat -c %s last.bson)" 0
}

@test "sync-check --recheck without the checkpoint counts every difference as real; --in-flight-ok wants --recheck" {
	seed
	run sync-check --recheck diffs.bson --name "no_such_$name" --in-flight-ok -o again.bson "$SRC_URI" "$DST_URI"
	assert_failure 1
	assert_equal "$(kinds again.bson | tr '\n' ,)" "1 differs,2 differs,4 extra,"
	run sync-check --in-flight-ok "$SRC_URI" "$DST_URI"
	assert_failure 2
	assert_output --partial '--in-flight-ok is for --recheck'
}

@test "entry-switch --verify-cmd: run fenced after the drain; a failure keeps the entry and lifts the fence" {
	printf 'mongodb://old-cluster/\n' >entry
	checkpoint_at
	# What the command sees: the fence up.
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--entry-file entry --entry-value 'mongodb://new-cluster/' \
		--fence-cmd 'touch fence' --unfence-cmd 'rm fence' \
		--verify-cmd 'test -e fence && echo verified >>verify.log && exit 1'
	assert_failure 1
	assert_line --regexp '^result +not switched: --verify-cmd failed \(status 1\); fence lifted, entry unchanged$'
	assert_equal "$(cat verify.log)" verified
	assert_equal "$(cat entry)" 'mongodb://old-cluster/'
	assert_file_not_exist fence

	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--entry-file entry --entry-value 'mongodb://new-cluster/' \
		--fence-cmd 'touch fence' --unfence-cmd 'rm fence' --verify-cmd 'test -e fence'
	assert_success
	assert_line --regexp '^verify +[0-9-]+T[0-9:.]+Z  \+[0-9]+ ms  --verify-cmd exit 0 in [0-9]+ ms$'
	assert_equal "$(cat entry)" 'mongodb://new-cluster/'
	# The steps in order: the verification between the drain and the switch.
	assert_equal "$(awk '{ print $1 }' <<<"$output" | grep -E '^(drain|verify|switch)$' | tr '\n' ' ')" "drain verify switch "
}

@test "entry-switch --verify-cmd with sync-check: what was in flight is compared inside the fence" {
	printf 'mongodb://old-cluster/\n' >entry
	seed
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$set": {"a": 1}}}]}' >/dev/null
	mongo_cmd "$DST_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 4}, "limit": 1}]}' >/dev/null
	run sync-check --recheck diffs.bson --name "$name" --in-flight-ok -o in-flight.bson "$SRC_URI" "$DST_URI"
	assert_success
	verify="sync-check --recheck in-flight.bson --name $name -o verified.bson $SRC_URI $DST_URI"

	# The applier "drained" to the source's newest ts without applying the
	# change: inside the fence the difference is real, and nothing switches.
	checkpoint_at
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--entry-file entry --entry-value 'mongodb://new-cluster/' \
		--fence-cmd 'touch fence' --unfence-cmd 'rm fence' --verify-cmd "$verify"
	assert_failure 1
	assert_line --partial 'not switched: --verify-cmd failed (status 1)'
	assert_equal "$(kinds verified.bson)" "1 differs"
	assert_equal "$(cat entry)" 'mongodb://old-cluster/'

	# The change applied: the verification passes and the entry moves.
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 2}}}]}' >/dev/null
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--entry-file entry --entry-value 'mongodb://new-cluster/' \
		--fence-cmd 'touch fence' --unfence-cmd 'rm fence' --verify-cmd "$verify"
	assert_success
	assert_equal "$(cat entry)" 'mongodb://new-cluster/'
}
