#!/usr/bin/env bats
# The test harness itself: two distinct live servers, and a source whose
# writes show up in its oplog, the ground every other test stands on.

load lib/helpers

# The entries for namespace NS in the oplog of URI, as oplog-show prints them.
oplog_entries() {
	local uri=$1 ns=$2
	mongo_dump_bson "$uri" local.oplog.rs | oplog-show |
		jq -c --arg ns "$ns" 'select(.ns == $ns)'
}

@test "source and target are two distinct servers that both answer" {
	[ -n "$SRC_URI" ] && [ -n "$DST_URI" ]
	assert_not_equal "$SRC_URI" "$DST_URI"
	run mongo_cmd "$SRC_URI" admin '{"ping": 1}'
	assert_success
	assert_output --partial '"ok" : 1'
	run mongo_cmd "$DST_URI" admin '{"ping": 1}'
	assert_success

	db=$(unique_db distinct)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "side": "source"}]}'
	run mongo_dump "$SRC_URI" "$db.c"
	assert_output '{ "_id" : { "$numberInt" : "1" }, "side" : "source" }'
	run mongo_dump "$DST_URI" "$db.c"
	assert_success
	assert_output ''
}

@test "both servers have a capped local.oplog.rs" {
	for uri in "$SRC_URI" "$DST_URI"; do
		run mongo_cmd "$uri" local '{"listCollections": 1, "filter": {"name": "oplog.rs"}}'
		assert_success
		assert_output --partial '"capped" : true'
	done
}

@test "an insert, an update and a delete on the source are logged as i, u, d" {
	db=$(unique_db oplog)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 1, "gone": true}, {"_id": 2}]}'
	mongo_cmd "$SRC_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 2}, "$unset": {"gone": ""}}}]}'
	mongo_cmd "$SRC_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 2}, "limit": 1}]}'

	run oplog_entries "$SRC_URI" "$db.c"
	assert_success
	ops=$(jq -r .op <<<"$output" | tr -d '\n')
	assert_equal "$ops" iiud
	# The update is logged as a $set of the whole new document, _id included.
	update=$(jq -c 'select(.op == "u")' <<<"$output")
	assert_equal "$(jq -c .o <<<"$update")" \
		'{"$v":{"$numberInt":"1"},"$set":{"_id":{"$numberInt":"1"},"a":{"$numberInt":"2"}}}'
	assert_equal "$(jq -c .o2 <<<"$update")" '{"_id":{"$numberInt":"1"}}'
	assert_equal "$(jq -c 'select(.op == "d") | .o' <<<"$output")" '{"_id":{"$numberInt":"2"}}'
	# In the order written: timestamps strictly increase.
	run jq -s '[.[].ts["$timestamp"] | [.t, .i]] | . == (sort | unique)' <<<"$output"
	assert_output true
	run mongo_dump "$SRC_URI" "$db.c"
	assert_output '{ "_id" : { "$numberInt" : "1" }, "a" : { "$numberInt" : "2" } }'
}

@test "writes on the target are logged in the target's own oplog" {
	db=$(unique_db reverse)
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": "x"}]}'
	run oplog_entries "$DST_URI" "$db.c"
	assert_success
	assert_equal "$(jq -r .op <<<"$output")" i
}

@test "mongo_insert loads Extended JSON lines and mongo_dump prints them sorted by _id" {
	db=$(unique_db insert)
	printf '%s\n' '{"_id": 3, "n": {"$numberLong": "30"}}' '' '{"_id": 1}' '{"_id": 2, "d": {"$date": "2024-01-02T03:04:05Z"}}' |
		mongo_insert "$SRC_URI" "$db.c" 2
	run mongo_dump "$SRC_URI" "$db.c"
	assert_success
	assert_line --index 0 '{ "_id" : { "$numberInt" : "1" } }'
	assert_line --index 1 '{ "_id" : { "$numberInt" : "2" }, "d" : { "$date" : { "$numberLong" : "1704164645000" } } }'
	assert_line --index 2 '{ "_id" : { "$numberInt" : "3" }, "n" : { "$numberLong" : "30" } }'
	assert_equal "${#lines[@]}" 3
}

@test "mongo_cmd fails with status 1 and the server's error" {
	run mongo_cmd "$SRC_URI" admin '{"noSuchCommand": 1}'
	assert_failure 1
	assert_output --partial "no such command"
}

@test "a restarted target keeps its port and its data" {
	db=$(unique_db restart)
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}'
	server_restart target
	run mongo_dump "$DST_URI" "$db.c"
	assert_success
	assert_output '{ "_id" : { "$numberInt" : "1" } }'
}
