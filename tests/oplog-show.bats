#!/usr/bin/env bats
# oplog-show: streams as Extended JSON lines, and --stats.

load lib/helpers

setup() {
	TD=$FIXTURES/mongo-tools/bsondump/testdata
	RD=$FIXTURES/mongo-tools/mongorestore/testdata
}

@test "oplog-show prints every document of a BSON file as canonical Extended JSON, one per line" {
	run oplog-show "$TD/sample.bson"
	assert_success
	assert_equal "${#lines[@]}" 4
	# Each line is JSON that jq reads, and the documents are those of the file.
	run jq -c '._id["$oid"]' <<<"$output"
	assert_success
	assert_equal "${#lines[@]}" 4
	run oplog-show "$TD/all_types.bson"
	assert_success
	assert_output --partial '"$numberLong"'
	assert_output --partial '"$timestamp"'
}

@test "oplog-show --relaxed prints plain numbers and --pretty indents the same entry" {
	run oplog-show --relaxed "$RD/oplogdump/oplog.bson"
	assert_success
	refute_output --partial '"$numberInt"'
	plain=$(oplog-show "$RD/oplogdump/oplog.bson" | head -n 1 | jq -S .)
	pretty=$(oplog-show --pretty "$RD/oplogdump/oplog.bson" | jq -S -s '.[0]')
	assert_equal "$pretty" "$plain"
}

@test "oplog-show reads a zstd stream transparently" {
	zstd -q -c "$RD/oplogdump/oplog.bson" >"$BATS_TEST_TMPDIR/oplog.bson.zst"
	assert_equal "$(oplog-show "$BATS_TEST_TMPDIR/oplog.bson.zst")" "$(oplog-show "$RD/oplogdump/oplog.bson")"
	assert_equal "$(oplog-show < "$BATS_TEST_TMPDIR/oplog.bson.zst")" "$(oplog-show "$RD/oplogdump/oplog.bson")"
}

@test "oplog-show --stats counts entries by op and namespace" {
	run oplog-show --stats "$RD/oplogdump/oplog.bson"
	assert_success
	total=$(oplog-show "$RD/oplogdump/oplog.bson" | wc -l)
	assert_line --index 0 --regexp "^entries $total  bytes $(stat -c %s "$RD/oplogdump/oplog.bson")  first [0-9]+,[0-9]+  last [0-9]+,[0-9]+$"
	# Per-namespace rows add up to the total row, op by op.
	want=$(oplog-show "$RD/oplogdump/oplog.bson" | jq -r .op | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
	got=$(awk '$1 == "total" { printf "i=%s u=%s d=%s c=%s n=%s ", $2, $3, $4, $5, $6 }' <<<"$output")
	for pair in $want; do
		[[ " $got " == *" $pair "* ]] || fail "op count $pair not in the total row: $got"
	done
}

@test "oplog-show rejects each corrupt fixture with status 3 and the entry and byte offset" {
	for name in bad_cstring bad_type broken_array partial_file random_bytes invalid_field_name; do
		run timeout 10 oplog-show "$TD/$name.bson"
		assert_failure 3
		assert_output --regexp "oplog-show: .*$name.bson: entry [0-9]+ at byte [0-9]+: "
	done
}

@test "oplog-show prints the entries before a bad frame, and names where it went wrong" {
	run oplog-show "$TD/partial_file.bson"
	assert_failure 3
	assert_output --partial "entry 3 at byte 164: truncated: frame of 48 bytes, only 13 present"
	assert_equal "$(oplog-show "$TD/partial_file.bson" 2>/dev/null | wc -l)" 2
}

@test "oplog-show --help prints usage and exits 0; a bad option exits 2" {
	run oplog-show --help
	assert_success
	assert_output --partial "usage: oplog-show"
	run oplog-show --no-such-option
	assert_failure 2
}

@test "oplog-show shows a live source's oplog: an insert, an update and a delete" {
	db=$(unique_db show)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 1}]}'
	mongo_cmd "$SRC_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 2}}}]}'
	mongo_cmd "$SRC_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 1}, "limit": 1}]}'
	run sh -c "'$MONGO_CMD' --dump-bson '$SRC_URI' local.oplog.rs | oplog-show --stats"
	assert_success
	assert_line --regexp "^$db\.c +1 +1 +1 +0 +0 +0 +[0-9]+$"
}
