#!/usr/bin/env bats
# A full disk: every program that writes a stream stops at once with the
# file and the reason, and a non-zero status; none claims success.
# (/dev/full answers every write with ENOSPC. A read-only directory is
# no test here: the suite runs as root, which writes anyway.)

load lib/helpers

setup() {
	OPLOG=$FIXTURES/mongo-tools/mongorestore/testdata/oplogdump/oplog.bson
}

@test "oplog-filter on a full disk: exit 6 (a local failure) naming the output and ENOSPC" {
	run timeout 20 oplog-filter -o /dev/full "$OPLOG"
	assert_failure 6
	assert_output --partial "oplog-filter: /dev/full: write failed: No space left on device"
	run timeout 20 sh -c "oplog-filter -z < '$OPLOG' > /dev/full"
	assert_failure 6
	assert_output --partial "stdout: write failed: No space left on device"
}

@test "oplog-read on a full disk: exit 6 (a local failure) at once, not a spool that looks whole" {
	run timeout 20 oplog-read --since 0 -o /dev/full "$SRC_URI"
	assert_failure 6
	assert_output --partial "oplog-read: /dev/full: write failed: No space left on device"
}

@test "snap-export on a full disk: exit 6 (a local failure), no trailer claimed" {
	db=$(unique_db full)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]}'
	run timeout 30 snap-export --ns "$db.*" -o /dev/full "$SRC_URI"
	assert_failure 6
	assert_output --partial "/dev/full: write failed: No space left on device"
}

@test "sync-check writing its differences to a full disk: not 'in sync'" {
	db=$(unique_db fulldiff)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}'
	run timeout 30 sync-check --ns "$db.*" -o /dev/full "$SRC_URI" "$DST_URI"
	assert_failure 6
	refute_output --partial "0 missing, 0 extra, 0 differ"
}
