#!/usr/bin/env bats
# oplog-apply's data writes against constructed streams: upserting $v:2
# diffs and unique secondary indexes. Each case starts from the same
# documents, applies the stream, and compares the target's documents
# byte for byte (field order included) with what mongod's applier makes;
# then the stream again over its own result, and once more on a fresh
# copy with --batch 1: the same documents each time.

load lib/helpers
load lib/apply-case

@test "an upserting \$v:2 diff over a document not in the diff's shape updates it, never skips it" {
	# i of a field the document already has, a sub-diff of a field that
	# is not an object: the shape condition fails on these documents.
	cat >"$BATS_TEST_TMPDIR/before.json" <<-'EOF'
	{"_id": 1, "n": 0, "a": 1}
	{"_id": 2, "o": 5, "a": 2}
	EOF
	cat >"$BATS_TEST_TMPDIR/stream.json" <<-'EOF'
	{"ts": {"$timestamp": {"t": 30, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"i": {"n": 1}}}, "b": true}
	{"ts": {"$timestamp": {"t": 30, "i": 2}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 2}, "o": {"$v": 2, "diff": {"u": {"a": 20}, "so": {"i": {"y": 2}}}}, "b": true}
	EOF
	# mongod: an i field that exists moves to the end; a sub-diff of a
	# scalar sets it to null (common/diff.h).
	cat >"$BATS_TEST_TMPDIR/after.json" <<-'EOF'
	{"_id": 1, "a": 1, "n": 1}
	{"_id": 2, "o": null, "a": 20}
	EOF
	check_case upsert_shape
}

@test "an upserting \$v:2 diff of a missing document makes {_id} plus the diff, as mongod does" {
	: >"$BATS_TEST_TMPDIR/before.json"
	cat >"$BATS_TEST_TMPDIR/stream.json" <<-'EOF'
	{"ts": {"$timestamp": {"t": 31, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"a": 1}, "i": {"b": 2}, "so": {"u": {"x": 1}}}}, "b": true}
	{"ts": {"$timestamp": {"t": 31, "i": 2}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 2}, "o": {"$v": 2, "diff": {"d": {"q": false}, "u": {"z": 1}}}, "b": true}
	{"ts": {"$timestamp": {"t": 31, "i": 3}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 3}, "o": {"$v": 2, "diff": {"u": {"b": 1, "a": 2}}}, "b": true}
	{"ts": {"$timestamp": {"t": 31, "i": 4}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 4}, "o": {"$v": 2, "diff": {"sarr": {"a": true, "u0": 1}}}, "b": true}
	{"ts": {"$timestamp": {"t": 31, "i": 5}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 5}, "o": {"$v": 2, "diff": {"u": {"kept": true}}}}
	EOF
	# A sub-diff of a missing field creates nothing (1, 4); u and i fields
	# are appended in the order listed (3: not $set's sorted order);
	# without b a missing document stays missing (5).
	cat >"$BATS_TEST_TMPDIR/after.json" <<-'EOF'
	{"_id": 1, "a": 1, "b": 2}
	{"_id": 2, "z": 1}
	{"_id": 3, "b": 1, "a": 2}
	{"_id": 4}
	EOF
	check_case upsert_missing
}

@test "an insert taking a unique key that an update frees later in the batch is applied, in stream order" {
	touch "$BATS_TEST_TMPDIR/unique"
	cat >"$BATS_TEST_TMPDIR/before.json" <<-'EOF'
	{"_id": 1, "k": 1}
	{"_id": 3, "k": 3}
	{"_id": 5, "k": 5}
	EOF
	# Grouped by kind, the inserts and the replacement would run before
	# the updates that free their keys.
	cat >"$BATS_TEST_TMPDIR/stream.json" <<-'EOF'
	{"ts": {"$timestamp": {"t": 32, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"k": 10}}}}
	{"ts": {"$timestamp": {"t": 32, "i": 2}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 2, "k": 1}}
	{"ts": {"$timestamp": {"t": 32, "i": 3}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 3}, "o": {"$v": 1, "$set": {"k": 30}}}
	{"ts": {"$timestamp": {"t": 32, "i": 4}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 4, "k": 3, "x": "a"}}
	{"ts": {"$timestamp": {"t": 32, "i": 5}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 5}, "o": {"$v": 2, "diff": {"d": {"k": false}}}}
	{"ts": {"$timestamp": {"t": 32, "i": 6}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 6}, "o": {"_id": 6, "k": 5}, "b": true}
	EOF
	cat >"$BATS_TEST_TMPDIR/after.json" <<-'EOF'
	{"_id": 1, "k": 10}
	{"_id": 2, "k": 1}
	{"_id": 3, "k": 30}
	{"_id": 4, "k": 3, "x": "a"}
	{"_id": 5}
	{"_id": 6, "k": 5}
	EOF
	check_case unique_order
}

@test "a unique key conflict that remains in stream order: exit 4 naming the entry, checkpoint before it" {
	touch "$BATS_TEST_TMPDIR/unique"
	echo '{"_id": 1, "k": 1}' >"$BATS_TEST_TMPDIR/before.json"
	db=$(unique_db conflict)
	case_setup "$db"
	# Entry 3 takes k:1, which document 1 holds and no entry frees; the
	# create before it is a barrier, so entry 1 is checkpointed first.
	cat >"$BATS_TEST_TMPDIR/stream.json" <<-'EOF'
	{"ts": {"$timestamp": {"t": 33, "i": 1}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 10, "k": 10}}
	{"ts": {"$timestamp": {"t": 33, "i": 2}}, "op": "c", "ns": "@DB@.$cmd", "o": {"create": "other"}}
	{"ts": {"$timestamp": {"t": 33, "i": 3}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 2, "k": 1}}
	{"ts": {"$timestamp": {"t": 33, "i": 4}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 4, "k": 4}}
	EOF
	case_stream "$db" >"$BATS_TEST_TMPDIR/s.bson"
	for batch in 1000 1; do
		run oplog-apply --name "$db" --batch "$batch" "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
		assert_failure 4
		assert_output --partial "$db.c: entry 3 at byte "
		assert_output --partial '"_id" : 2 }: duplicate key on a unique index, in stream order'
		run mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}"
		assert_success
		ts=$(jq -c '.cursor.firstBatch[0].ts["$timestamp"]' <<<"$output")
		# Before entry 3: at entry 1, or at the create.
		[[ $ts == '{"t":33,"i":1}' || $ts == '{"t":33,"i":2}' ]]
		# Document 1 keeps its key, entry 1 is applied; entry 4 may be
		# (the checkpoint does not claim it: a rerun writes it again).
		run mongo_dump "$DST_URI" "$db.c"
		assert_line "$(echo '{"_id": 1, "k": 1}' | documents)"
		assert_line "$(echo '{"_id": 10, "k": 10}' | documents)"
		refute_output --partial '"_id" : { "$numberInt" : "2" }'

	done
}

@test "hot documents: runs of one _id fold into one write that gives mongod's document" {
	cat >"$BATS_TEST_TMPDIR/before.json" <<-'EOF'
	{"_id": 1, "a": 0, "o": {"x": 1}}
	{"_id": 5, "p": 1}
	EOF
	{
		# 1: diffs of a document only the server knows: one read, one write.
		echo '{"ts": {"$timestamp": {"t": 40, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"a": 1}}}}'
		echo '{"ts": {"$timestamp": {"t": 40, "i": 2}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"a": 2}, "i": {"n": 1}}}}'
		echo '{"ts": {"$timestamp": {"t": 40, "i": 3}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"so": {"u": {"x": 2}}}}}'
		# 2: an insert and 200 diffs of it, applied here.
		echo '{"ts": {"$timestamp": {"t": 41, "i": 1}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 2, "k": 0, "l": []}}'
		for i in $(seq 1 200); do
			echo "{\"ts\": {\"\$timestamp\": {\"t\": 42, \"i\": $i}}, \"op\": \"u\", \"ns\": \"@DB@.c\", \"o2\": {\"_id\": 2}, \"o\": {\"\$v\": 2, \"diff\": {\"u\": {\"k\": $i}, \"sl\": {\"a\": true, \"u$((i - 1))\": $i}}}}"
		done
		# 3: inserted, deleted, upserted by a diff: {_id} plus the diff.
		echo '{"ts": {"$timestamp": {"t": 43, "i": 1}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 3, "v": 1}}'
		echo '{"ts": {"$timestamp": {"t": 43, "i": 2}}, "op": "d", "ns": "@DB@.c", "o": {"_id": 3}}'
		echo '{"ts": {"$timestamp": {"t": 43, "i": 3}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 3}, "o": {"$v": 2, "diff": {"u": {"w": 1}}}, "b": true}'
		# 4: missing: an upsert creates it, an update follows.
		echo '{"ts": {"$timestamp": {"t": 44, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 4}, "o": {"$v": 2, "diff": {"u": {"y": 2}, "sm": {"u": {"x": 1}}}}, "b": true}'
		echo '{"ts": {"$timestamp": {"t": 44, "i": 2}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 4}, "o": {"$v": 2, "diff": {"u": {"y": 3}}}}'
		# 5: an operator update cannot be folded: the batch is cut there.
		echo '{"ts": {"$timestamp": {"t": 45, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 5}, "o": {"$v": 1, "$set": {"p": 2}}}'
		echo '{"ts": {"$timestamp": {"t": 45, "i": 2}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 5}, "o": {"$v": 2, "diff": {"u": {"p": 3}}}}'
		echo '{"ts": {"$timestamp": {"t": 45, "i": 3}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 5}, "o": {"$v": 1, "$set": {"r": 1}}}'
		# 6: replaced after diffs: the replacement wins.
		echo '{"ts": {"$timestamp": {"t": 46, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"a": 3}}}}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	{
		echo '{"_id": 1, "a": 3, "o": {"x": 2}, "n": 1}'
		echo "{\"_id\": 2, \"k\": 200, \"l\": [$(seq -s ', ' 1 200)]}"
		echo '{"_id": 3, "w": 1}'
		echo '{"_id": 4, "y": 3}'
		echo '{"_id": 5, "p": 3, "r": 1}'
	} >"$BATS_TEST_TMPDIR/after.json"
	check_case hot
	# 213 entries in at most 3 batches (the operator update of 5 cuts twice).
	db=$(unique_db hot_count)
	case_setup "$db"
	case_stream "$db" >"$BATS_TEST_TMPDIR/s.bson"
	# --flush-ms 0: rounds are cut only when full, not by the clock.
	run oplog-apply --jobs 1 --flush-ms 0 "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
	assert_success
	assert_output --partial '213 applied'
	assert_output --regexp ' in [1-3] batches'
}

@test "hot documents under a unique index fold only where no other write is between" {
	touch "$BATS_TEST_TMPDIR/unique"
	echo '{"_id": 1, "k": 1}' >"$BATS_TEST_TMPDIR/before.json"
	cat >"$BATS_TEST_TMPDIR/stream.json" <<-'EOF'
	{"ts": {"$timestamp": {"t": 50, "i": 1}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"k": 2}}}}
	{"ts": {"$timestamp": {"t": 50, "i": 2}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"k": 3}}}}
	{"ts": {"$timestamp": {"t": 50, "i": 3}}, "op": "i", "ns": "@DB@.c", "o": {"_id": 2, "k": 1}}
	{"ts": {"$timestamp": {"t": 50, "i": 4}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 2}, "o": {"$v": 2, "diff": {"u": {"k": 5}}}}
	{"ts": {"$timestamp": {"t": 50, "i": 5}}, "op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"k": 1}}}}
	EOF
	cat >"$BATS_TEST_TMPDIR/after.json" <<-'EOF'
	{"_id": 1, "k": 1}
	{"_id": 2, "k": 5}
	EOF
	check_case unique_hot
}
