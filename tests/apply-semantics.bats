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
