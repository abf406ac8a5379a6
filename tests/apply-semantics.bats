#!/usr/bin/env bats
# oplog-apply against constructed streams, class by class of mongod's own
# oplog application (src/mongo/db/repl/oplog.cpp, src/mongo/db/update/):
# each case is applied with --jobs 1 and 4, again over its own result,
# and with --batch 1, and must leave, byte for byte and field order
# included, the documents mongod's applier leaves.

load lib/helpers
load lib/apply-case

@test "c entries that touch no document (dbCheck, sharding catalog, global indexes) are skipped, the writes around them applied" {
	echo '{"_id": 1, "a": 1}' >"$BATS_TEST_TMPDIR/before.json"
	{
		entry 1 c '$cmd' '"o": {"dbCheck": "c", "type": "batch", "md5": "00", "minKey": {"$minKey": 1}, "maxKey": {"$maxKey": 1}}'
		entry 2 i c '"o": {"_id": 2}'
		entry 3 c c '"o": {"modifyCollectionShardingIndexCatalog": "@DB@.c", "op": "clear", "entry": {}}'
		entry 4 c '$cmd' '"o": {"createGlobalIndex": "g"}'
		entry 5 c '$cmd' '"o": {"dropGlobalIndex": "g"}'
		entry 6 u c '"o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"a": 2}}}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	printf '%s\n' '{"_id": 1, "a": 2}' '{"_id": 2}' >"$BATS_TEST_TMPDIR/after.json"
	check_case nodoc
	assert_output --partial 'skipped 4'
}

@test "i, u, d as mongod applies them: an insert over an _id replaces it, o2 and o carry shard key fields beside _id, n entries with a namespace write nothing" {
	printf '%s\n' '{"_id": 1, "a": 1, "gone": 1}' '{"_id": 2, "sk": 5, "a": 1}' '{"_id": 3, "sk": 6}' >"$BATS_TEST_TMPDIR/before.json"
	{
		entry 1 i c '"o": {"_id": 1, "b": 2}'
		entry 2 u c '"o2": {"_id": 2, "sk": 99}, "o": {"$v": 2, "diff": {"u": {"a": 2}}}'
		entry 3 d c '"o": {"_id": 3, "sk": 99}'
		entry 4 n c '"o": {"_id": 4, "preImage": true}'
		entry 5 u c '"o2": {"_id": 5}, "o": {"_id": 5, "r": 1}'
		entry 6 u c '"o2": {"_id": 6}, "o": {"r": 6}, "b": true'
		entry 7 i c '"o": {"_id": 7, "m": 1}, "fromMigrate": true'
		entry 8 u c '"o2": {"_id": 2}, "o": {"sk": 5, "a": 3}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	printf '%s\n' '{"_id": 1, "b": 2}' '{"_id": 2, "sk": 5, "a": 3}' '{"_id": 6, "r": 6}' >"$BATS_TEST_TMPDIR/after.json"
	check_case crud
}

@test "applyOps outside a transaction, nested, with commands: every op in order" {
	: >"$BATS_TEST_TMPDIR/before.json"
	inner='{"applyOps": [{"op": "i", "ns": "@DB@.c", "o": {"_id": 2}}, {"op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"n": 2}}}}]}'
	{
		entry 1 c '$cmd' "\"o\": {\"applyOps\": [{\"op\": \"c\", \"ns\": \"@DB@.\$cmd\", \"o\": {\"create\": \"d\"}}, {\"op\": \"i\", \"ns\": \"@DB@.c\", \"o\": {\"_id\": 1, \"n\": 1}}, {\"op\": \"c\", \"ns\": \"@DB@.\$cmd\", \"o\": $inner}, {\"op\": \"u\", \"ns\": \"@DB@.c\", \"o2\": {\"_id\": 3}, \"o\": {\"\$v\": 2, \"diff\": {\"i\": {\"k\": 3}}}, \"b\": true}, {\"op\": \"d\", \"ns\": \"@DB@.c\", \"o\": {\"_id\": 2}}]}"
		entry 2 i d '"o": {"_id": "in d"}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	printf '%s\n' '{"_id": 1, "n": 2}' '{"_id": 3, "k": 3}' >"$BATS_TEST_TMPDIR/after.json"
	check_case applyops
	assert_equal "$(mongo_dump "$DST_URI" "$CASE_DB.d")" "$(echo '{"_id": "in d"}' | documents)"
}

# A transaction link, as mongod logs it: TS_I PREV_I (0: the first) O.
txn_link() {
	local prev='{"ts": {"$timestamp": {"t": 0, "i": 0}}, "t": {"$numberLong": "-1"}}'
	[[ $2 == 0 ]] || prev="{\"ts\": {\"\$timestamp\": {\"t\": 1, \"i\": $2}}, \"t\": {\"\$numberLong\": \"1\"}}"
	echo "{\"ts\": {\"\$timestamp\": {\"t\": 1, \"i\": $1}}, \"op\": \"c\", \"ns\": \"admin.\$cmd\", \"lsid\": {\"id\": {\"\$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAQ==\", \"subType\": \"04\"}}}, \"txnNumber\": {\"\$numberLong\": \"$3\"}, \"prevOpTime\": $prev, \"o\": $4}"
}

@test "transactions: ops apply at the commit, in order with the writes around them; an aborted prepared one writes nothing; DDL inside one" {
	printf '%s\n' '{"_id": 1, "v": 0}' >"$BATS_TEST_TMPDIR/before.json"
	{
		# 1: three links, unprepared; a write outside the transaction between them.
		txn_link 1 0 1 '{"applyOps": [{"op": "u", "ns": "@DB@.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"v": 1}}}}], "partialTxn": true}'
		entry 2 i c '"o": {"_id": 2, "v": 0}'
		txn_link 3 1 1 '{"applyOps": [{"op": "u", "ns": "@DB@.c", "o2": {"_id": 2}, "o": {"$v": 2, "diff": {"u": {"v": 1}}}}], "partialTxn": true}'
		txn_link 4 3 1 '{"applyOps": [{"op": "i", "ns": "@DB@.c", "o": {"_id": 3}}], "count": 3}'
		entry 5 u c '"o2": {"_id": 3}, "o": {"$v": 2, "diff": {"i": {"after": true}}}'
		# 2: prepared, then committed.
		txn_link 6 0 2 '{"applyOps": [{"op": "c", "ns": "@DB@.$cmd", "o": {"create": "n"}}, {"op": "c", "ns": "@DB@.$cmd", "o": {"createIndexes": "n", "v": 2, "key": {"k": 1}, "name": "k_1"}}, {"op": "i", "ns": "@DB@.n", "o": {"_id": 1, "k": 1}}, {"op": "i", "ns": "@DB@.c", "o": {"_id": 4}}], "prepare": true}'
		txn_link 7 6 2 '{"commitTransaction": 1, "commitTimestamp": {"$timestamp": {"t": 1, "i": 6}}}'
		# 3: prepared, then aborted.
		txn_link 8 0 3 '{"applyOps": [{"op": "d", "ns": "@DB@.c", "o": {"_id": 1}}, {"op": "i", "ns": "@DB@.c", "o": {"_id": 5}}], "prepare": true}'
		txn_link 9 8 3 '{"abortTransaction": 1}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	printf '%s\n' '{"_id": 1, "v": 1}' '{"_id": 2, "v": 1}' '{"_id": 3, "after": true}' '{"_id": 4}' >"$BATS_TEST_TMPDIR/after.json"
	check_case txn
	assert_equal "$(mongo_dump "$DST_URI" "$CASE_DB.n")" "$(echo '{"_id": 1, "k": 1}' | documents)"
	run mongo_cmd "$DST_URI" "$CASE_DB" '{"listIndexes": "n"}'
	assert_output --partial 'k_1'
}

@test "\$v:1 \$set and \$unset with numeric parts: array elements by index, \$unset leaves null, new fields in mongod's order" {
	printf '%s\n' '{"_id": 1, "x": 1}' '{"_id": 2, "a": [0, 1, 2]}' '{"_id": 3}' \
		'{"_id": 4, "a": {"x": 1}}' '{"_id": 5, "a": [{"k": 1}, 5, 6], "b": 1}' >"$BATS_TEST_TMPDIR/before.json"
	{
		entry 1 u c '"o2": {"_id": 1}, "o": {"$v": 1, "$set": {"z": 1, "a": 1, "m.b": 1, "m.a": 2, "10": 1, "9": 1}}'
		entry 2 u c '"o2": {"_id": 2}, "o": {"$v": 1, "$unset": {"a.1": true, "a.7": true}}'
		entry 3 u c '"o2": {"_id": 3}, "o": {"$v": 1, "$set": {"a.1": 5, "a.0": 4}}'
		entry 4 u c '"o2": {"_id": 4}, "o": {"$v": 1, "$set": {"a.2": 7}}'
		entry 5 u c '"o2": {"_id": 5}, "o": {"$v": 1, "$set": {"a.0.k": 2, "a.4": 9}, "$unset": {"a.1": true, "b": true}}'
		entry 6 u c '"o2": {"_id": 6}, "o": {"$v": 1, "$set": {"a.1": 1, "a.0": 0}}, "b": true'
		entry 7 u c '"o2": {"_id": 7}, "o": {"$v": 1, "$set": {"a.1": 1}}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	printf '%s\n' '{"_id": 1, "x": 1, "9": 1, "10": 1, "a": 1, "m": {"a": 2, "b": 1}, "z": 1}' \
		'{"_id": 2, "a": [0, null, 2]}' '{"_id": 3, "a": {"0": 4, "1": 5}}' \
		'{"_id": 4, "a": {"x": 1, "2": 7}}' '{"_id": 5, "a": [{"k": 2}, null, 6, null, 9]}' \
		'{"_id": 6, "a": {"0": 0, "1": 1}}' >"$BATS_TEST_TMPDIR/after.json"
	check_case v1numeric
}

@test "\$v:1 updates of one document folded with inserts, diffs and deletes in one batch give mongod's document" {
	printf '%s\n' '{"_id": 1, "a": [1, 2, 3]}' >"$BATS_TEST_TMPDIR/before.json"
	{
		entry 1 u c '"o2": {"_id": 1}, "o": {"$v": 1, "$unset": {"a.0": true}}'
		entry 2 u c '"o2": {"_id": 1}, "o": {"$v": 2, "diff": {"sa": {"a": true, "u3": 4}}}'
		entry 3 u c '"o2": {"_id": 1}, "o": {"$v": 1, "$set": {"a.5": 6, "b": 1}}'
		entry 4 i c '"o": {"_id": 2, "a": []}'
		entry 5 u c '"o2": {"_id": 2}, "o": {"$v": 1, "$set": {"a.1": 1}}'
		entry 6 u c '"o2": {"_id": 2}, "o": {"$v": 1, "$set": {"a.0": 0}}'
		entry 7 i c '"o": {"_id": 3, "a": [1]}'
		entry 8 d c '"o": {"_id": 3}'
		entry 9 u c '"o2": {"_id": 3}, "o": {"$v": 1, "$unset": {"a.0": true}}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	printf '%s\n' '{"_id": 1, "a": [null, 2, 3, 4, null, 6], "b": 1}' '{"_id": 2, "a": [0, 1]}' >"$BATS_TEST_TMPDIR/after.json"
	check_case v1fold
}

@test "a \$v:1 \$set mongod cannot make (through a scalar) stops with exit 3 naming the entry, as mongod's applier fails it" {
	printf '%s\n' '{"_id": 1, "a": [{"b": 1}, 2]}' >"$BATS_TEST_TMPDIR/before.json"
	{
		entry 1 i c '"o": {"_id": 2}'
		entry 2 u c '"o2": {"_id": 1}, "o": {"$v": 1, "$set": {"a.1.c": 1}}'
	} >"$BATS_TEST_TMPDIR/stream.json"
	db=$(unique_db v1bad)
	case_setup "$db"
	case_stream "$db" >"$BATS_TEST_TMPDIR/s.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
	assert_failure 3
	assert_output --partial 'entry 2'
	assert_output --partial "Cannot create field 'c'"
}

@test "a write the target refuses inside a bulk stops with exit 4 naming its own entry, not the bulk's first" {
	printf '%s\n' '{"_id": 1}' '{"_id": 2}' '{"_id": 3}' '{"_id": 4}' '{"_id": 6, "a": [1]}' >"$BATS_TEST_TMPDIR/before.json"
	for k in 1 2 3 4; do
		entry "$k" u c "\"o2\": {\"_id\": $k}, \"o\": {\"\$v\": 1, \"\$set\": {\"x\": $k}}"
	done >"$BATS_TEST_TMPDIR/stream.json"
	# mongod fails it too: a field of an array.
	entry 5 u c '"o2": {"_id": 6}, "o": {"$v": 1, "$set": {"a.b": 1}}' >>"$BATS_TEST_TMPDIR/stream.json"
	db=$(unique_db refused)
	case_setup "$db"
	case_stream "$db" >"$BATS_TEST_TMPDIR/s.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
	assert_failure 4
	assert_output --partial 'entry 5 at byte'
	assert_output --partial '"_id" : 6'
}
