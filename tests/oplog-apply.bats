#!/usr/bin/env bats
# oplog-apply: real streams (MongoDB's captures, FerretDB's own oplog)
# applied to a real server give the state MongoDB's rules say, however
# often they are replayed.

load lib/helpers

TXN=$FIXTURES/mongo-tools/common/txn/testdata/oplog_entries.json
MR=$FIXTURES/mongo-tools/mongorestore/testdata
JSON2BSON=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson
GEN_OPLOG=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/gen-oplog

json2bson() { "$JSON2BSON" "$@"; }

# Documents as sorted canonical lines, from a stream of JSON documents.
canonical() { json2bson | oplog-show | jq -cS . | sort; }
dump_sorted() { mongo_dump "$1" "$2" | jq -cS . | sort; }
index_names() { mongo_cmd "$1" "$2" "{\"listIndexes\": \"$3\"}" | jq -r '.cursor.firstBatch[].name' | sort | tr '\n' ' '; }

# apply_renamed DB FIXTURE: run oplog-apply on $MR/FIXTURE with DB.* renamed to $db.*.
apply_renamed() {
	oplog-filter --rename "$1.*=$db.*" "$MR/$2" >"$BATS_TEST_TMPDIR/renamed.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/renamed.bson" "$DST_URI"
}

# The i documents a fixture stream inserts into NS, inner applyOps ops too.
inserted() {
	oplog-show "$1" |
		jq -c --arg ns "$2" '(., (.o.applyOps // [])[]) | select(.op == "i" and .ns == $ns) | .o'
}

@test "oplog-apply --help prints the usage and exits 0; a bad option exits 2" {
	run oplog-apply --help
	assert_success
	assert_line --index 0 --partial 'usage: oplog-apply'
	run oplog-apply --bogus
	assert_failure 2
	run oplog-apply --batch 0 x "$DST_URI"
	assert_failure 2
}

@test "every transaction case of mongo-tools' fixture leaves its post-image" {
	db=$(unique_db txn)
	while IFS= read -r case; do
		jq -c --arg k "$case" '.[$k].ops[] | del(.wall)' "$TXN" |
			sed "s/\"txntest\./\"$db./g; s/\"test\.foo\"/\"$db.foo\"/g" | json2bson >"$BATS_TEST_TMPDIR/case.bson"
		run oplog-apply -q "$BATS_TEST_TMPDIR/case.bson" "$DST_URI"
		assert_success
		ns=$(jq -r --arg k "$case" '.[$k].ns' "$TXN" | sed "s/^txntest\./$db./; s/^admin\.\$cmd$/$db.foo/")
		if [[ $case == "not transaction with multiOpType" ]]; then
			# No post-image in the fixture: its two inserts, from the ops themselves.
			expected=$(printf '%s\n' '{"_id":4,"x":-20,"y":4}' '{"_id":5,"x":-30,"y":11}' | canonical)
		else
			expected=$(jq -c --arg k "$case" '.[$k].postimage[]' "$TXN" | canonical)
		fi
		actual=$(dump_sorted "$DST_URI" "$ns")
		[[ $actual == "$expected" ]] || {
			echo "case '$case' ($ns): got"; echo "$actual"; echo "expected"; echo "$expected"
			return 1
		}
	done < <(jq -r 'keys[]' "$TXN")
}

@test "a transaction larger than --txn-memory is spilled to a file and still committed" {
	db=$(unique_db spill)
	jq -c '.["large, prepared, committed"].ops[] | del(.wall)' "$TXN" |
		sed "s/\"txntest\./\"$db./g" | json2bson >"$BATS_TEST_TMPDIR/txn.bson"
	TMPDIR=$BATS_TEST_TMPDIR run oplog-apply -q --txn-memory 100 "$BATS_TEST_TMPDIR/txn.bson" "$DST_URI"
	assert_success
	run mongo_dump "$DST_URI" "$db.g"
	assert_equal "${#lines[@]}" 10
	# The spill file is gone.
	run compgen -G "$BATS_TEST_TMPDIR/oplog-apply-txn-*"
	assert_failure
}

@test "mongodump's oplogdump replayed over its dump gives the dump plus every insert" {
	db=$(unique_db oplogdump)
	oplog-show "$MR/oplogdump/db1/c1.bson" | mongo_insert "$DST_URI" "$db.c1"
	apply_renamed db1 oplogdump/oplog.bson
	assert_success
	expected=$( (oplog-show "$MR/oplogdump/db1/c1.bson"; inserted "$MR/oplogdump/oplog.bson" db1.c1) | canonical)
	assert_equal "$(dump_sorted "$DST_URI" "$db.c1")" "$expected"
	# 5 in the dump, 1 + 3 (inside applyOps) + 1 in the oplog.
	assert_equal "$(wc -l <<<"$expected")" 10
}

@test "a delete and an insert sharing a unique key in one batch apply in order" {
	db=$(unique_db dupkey)
	# The dump's first document holds a:1 under a unique index; the oplog
	# deletes it, then inserts another document with a:1.
	oplog-show --relaxed "$MR/duplicate_index_key_with_oplog/test/foo.bson" | head -n 1 |
		mongo_insert "$DST_URI" "$db.foo"
	mongo_cmd "$DST_URI" "$db" '{"createIndexes": "foo", "indexes": [{"key": {"a": 1}, "name": "a_1", "unique": true}]}'
	apply_renamed test duplicate_index_key_with_oplog/oplog.bson
	assert_success
	assert_output --partial 'reordered 0'
	run mongo_dump "$DST_URI" "$db.foo"
	assert_output '{ "_id" : { "$oid" : "60350ac1415a2fc63f3195ab" }, "a" : { "$numberDouble" : "1.0" } }'
}

@test "config.* of oplog_partial_skips is skipped by default, the user's inserts applied" {
	db=$(unique_db partial)
	apply_renamed db3 oplog_partial_skips/oplog.bson
	assert_success
	assert_equal "$(dump_sorted "$DST_URI" "$db.c1")" "$(inserted "$MR/oplog_partial_skips/oplog.bson" db3.c1 | canonical)"
	assert_equal "$(mongo_dump "$DST_URI" "$db.c1" | wc -l)" 5
	run mongo_dump "$DST_URI" config.cache.test
	assert_output ''
}

@test "index builds: commitIndexBuild and createIndexes create, abortIndexBuild does not, dropIndexes drops" {
	db=$(unique_db indexes)
	apply_renamed commit_index commit_indexes_build/oplog.bson
	assert_success
	assert_equal "$(index_names "$DST_URI" "$db" test)" "_id_ a_1 "
	# b_1 is a partial index, which FerretDB does not build: said, not fatal.
	assert_output --partial 'not supported by the target'
	assert_output --partial 'partialFilterExpression'
	assert_equal "$(mongo_dump "$DST_URI" "$db.test" | wc -l)" 1

	apply_renamed test oplog_ignore_index/oplog.bson
	assert_success
	run mongo_cmd "$DST_URI" "$db" '{"listCollections": 1, "filter": {"name": "skip_index_entries"}}'
	refute_output --partial skip_index_entries

	for f in create_index commit_index drop_index; do
		oplog-filter --rename "test.*=$db.*" "$MR/oplogs/bson/$f.bson"
	done >"$BATS_TEST_TMPDIR/ddl.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/ddl.bson" "$DST_URI"
	assert_success
	assert_equal "$(index_names "$DST_URI" "$db" foo)" "_id_ a_1 "
	# Replayed: nothing changes, no error.
	run oplog-apply "$BATS_TEST_TMPDIR/ddl.bson" "$DST_URI"
	assert_success
	assert_equal "$(index_names "$DST_URI" "$db" foo)" "_id_ a_1 "
}

@test "create, drop and dropDatabase from mongod's oplog; collMod is refused by FerretDB with a warning" {
	db=$(unique_db ddl)
	apply_renamed create_indexes create_indexes/oplog.bson
	assert_success
	assert_equal "$(index_names "$DST_URI" "$db" test)" "_id_ a_1 "

	mongo_cmd "$DST_URI" "$db" '{"insert": "foo", "documents": [{"_id": 1}]}'
	apply_renamed test oplogs/bson/collMod.bson
	assert_success
	assert_output --partial 'collMod not supported by the target'
	assert_output --partial 'refused 1'

	apply_renamed test oplogs/bson/drop_collection.bson
	assert_success
	run mongo_cmd "$DST_URI" "$db" '{"listCollections": 1, "nameOnly": true}'
	refute_output --partial '"foo"'
	assert_output --partial '"test"'

	apply_renamed test oplogs/bson/drop_db.bson
	assert_success
	run mongo_cmd "$DST_URI" "$db" '{"listCollections": 1, "nameOnly": true}'
	refute_output --partial '"test"'
}

@test "vectored inserts (applyOps with lsid, no partialTxn) are applied at once" {
	db=$(unique_db vectored)
	for f in vectored_insert linked_vectored_inserts; do
		oplog-filter --rename "mongodump_test_db.*=$db.*" "$MR/oplogs/bson/$f.bson"
	done >"$BATS_TEST_TMPDIR/v.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/v.bson" "$DST_URI"
	assert_success
	run mongo_cmd "$DST_URI" "$db" '{"count": "coll1"}'
	assert_output --partial '"n" : 7'
	assert_equal "$(dump_sorted "$DST_URI" "$db.coll1")" "$( (inserted "$MR/oplogs/bson/vectored_insert.bson" mongodump_test_db.coll1; inserted "$MR/oplogs/bson/linked_vectored_inserts.bson" mongodump_test_db.coll1) | canonical)"
}

@test "updates: operators, FerretDB whole-document \$set, replacement, upsert only with b, missing counted" {
	db=$(unique_db updates)
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 1, "gone": 1}, {"_id": 2, "a": 2, "keep": 1}, {"_id": 3, "a": 3}]}'
	cat >"$BATS_TEST_TMPDIR/u.json" <<-EOF
	{"ts": {"\$timestamp": {"t": 10, "i": 1}}, "op": "u", "ns": "$db.c", "o2": {"_id": 1}, "o": {"\$v": 1, "\$set": {"_id": 1, "a": 10}}}
	{"ts": {"\$timestamp": {"t": 10, "i": 2}}, "op": "u", "ns": "$db.c", "o2": {"_id": 2}, "o": {"\$v": 1, "\$set": {"a": 20, "b.c": 5}, "\$unset": {"keep": true}}}
	{"ts": {"\$timestamp": {"t": 10, "i": 3}}, "op": "u", "ns": "$db.c", "o2": {"_id": 3}, "o": {"_id": 3, "r": true}}
	{"ts": {"\$timestamp": {"t": 10, "i": 4}}, "op": "u", "ns": "$db.c", "o2": {"_id": 4}, "o": {"\$set": {"x": 1}}}
	{"ts": {"\$timestamp": {"t": 10, "i": 5}}, "op": "u", "ns": "$db.c", "o2": {"_id": 5}, "o": {"\$set": {"x": 5}}, "b": true}
	{"ts": {"\$timestamp": {"t": 10, "i": 6}}, "op": "d", "ns": "$db.c", "o": {"_id": 99}}
	EOF
	json2bson <"$BATS_TEST_TMPDIR/u.json" >"$BATS_TEST_TMPDIR/u.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/u.bson" "$DST_URI"
	assert_success
	assert_output --partial 'missing 1'
	expected=$(printf '%s\n' '{"_id": 1, "a": 10}' '{"_id": 2, "a": 20, "b": {"c": 5}}' '{"_id": 3, "r": true}' '{"_id": 5, "x": 5}' | json2bson | oplog-show)
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
}

@test "\$v:2 diffs: translated, conditional, and read back where \$set cannot say it" {
	db=$(unique_db diffs)
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 1, "b": 2, "o": {"x": 1}}, {"_id": 2, "arr": [1, 2, 3, 4]}, {"_id": 3, "o": 5}, {"_id": 4, "arr": [{"k": 1}, {"k": 2}]}]}'
	cat >"$BATS_TEST_TMPDIR/d.json" <<-EOF
	{"ts": {"\$timestamp": {"t": 20, "i": 1}}, "op": "u", "ns": "$db.c", "o2": {"_id": 1}, "o": {"\$v": 2, "diff": {"d": {"b": false}, "u": {"a": 5}, "i": {"n": 1}, "so": {"i": {"y": 2}}}}}
	{"ts": {"\$timestamp": {"t": 20, "i": 2}}, "op": "u", "ns": "$db.c", "o2": {"_id": 2}, "o": {"\$v": 2, "diff": {"sarr": {"a": true, "l": 2}}}}
	{"ts": {"\$timestamp": {"t": 20, "i": 3}}, "op": "u", "ns": "$db.c", "o2": {"_id": 3}, "o": {"\$v": 2, "diff": {"so": {"i": {"y": 2}}}}}
	{"ts": {"\$timestamp": {"t": 20, "i": 4}}, "op": "u", "ns": "$db.c", "o2": {"_id": 4}, "o": {"\$v": 2, "diff": {"sarr": {"a": true, "s1": {"u": {"k": 9}}, "u3": 7}}}}
	EOF
	json2bson <"$BATS_TEST_TMPDIR/d.json" >"$BATS_TEST_TMPDIR/d.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/d.bson" "$DST_URI"
	assert_success
	# What mongod's diff applier gives (see common/diff.h): a sub-diff of a
	# field that is not an object sets it to null, as a replay over a newer
	# document meets (doc 3); u3 past the end pads with null (doc 4).
	expected=$(printf '%s\n' '{"_id": 1, "a": 5, "o": {"x": 1, "y": 2}, "n": 1}' '{"_id": 2, "arr": [1, 2]}' \
		'{"_id": 3, "o": null}' '{"_id": 4, "arr": [{"k": 1}, {"k": 9}, null, 7]}' | json2bson | oplog-show)
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
	# Replayed over its own result: the same documents.
	run oplog-apply "$BATS_TEST_TMPDIR/d.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
}

@test "\$v:2 diffs read back in one batch over ObjectId, string and integer _ids, one document missing" {
	db=$(unique_db readback)
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": {"$oid": "60350ac1415a2fc63f3195ab"}, "o": {"x": 1}}, {"_id": "s", "o": {"x": 2}}, {"_id": 1, "o": {"x": 3}}, {"_id": 2, "o": 4}]}'
	: >"$BATS_TEST_TMPDIR/r.json"
	k=1
	# ObjectId and string _ids are read one by one, the others by one $in.
	for id in '{"$oid": "60350ac1415a2fc63f3195ab"}' '{"$oid": "60350ac1415a2fc63f3195ac"}' '"s"' 1 2 3; do
		echo "{\"ts\": {\"\$timestamp\": {\"t\": 21, \"i\": $k}}, \"op\": \"u\", \"ns\": \"$db.c\", \"o2\": {\"_id\": $id}, \"o\": {\"\$v\": 2, \"diff\": {\"so\": {\"i\": {\"y\": $k}}}}}" >>"$BATS_TEST_TMPDIR/r.json"
		k=$((k + 1))
	done
	json2bson <"$BATS_TEST_TMPDIR/r.json" >"$BATS_TEST_TMPDIR/r.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/r.bson" "$DST_URI"
	assert_success
	assert_output --partial 'missing 2'
	expected=$(printf '%s\n' '{"_id": 1, "o": {"x": 3, "y": 4}}' '{"_id": 2, "o": null}' \
		'{"_id": "s", "o": {"x": 2, "y": 3}}' '{"_id": {"$oid": "60350ac1415a2fc63f3195ab"}, "o": {"x": 1, "y": 1}}' |
		json2bson | oplog-show)
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
}

@test "default exclusions, --ns and --exclude choose what is applied" {
	db=$(unique_db exclusions)
	: >"$BATS_TEST_TMPDIR/x.json"
	k=1
	for ns in admin.x config.x local.x oplogkit.x "$db.system.profile" "$db.a" "$db.b"; do
		echo "{\"ts\": {\"\$timestamp\": {\"t\": 30, \"i\": $k}}, \"op\": \"i\", \"ns\": \"$ns\", \"o\": {\"_id\": \"$db\"}}" >>"$BATS_TEST_TMPDIR/x.json"
		k=$((k + 1))
	done
	json2bson <"$BATS_TEST_TMPDIR/x.json" >"$BATS_TEST_TMPDIR/x.bson"
	run oplog-apply --exclude "$db.b" "$BATS_TEST_TMPDIR/x.bson" "$DST_URI"
	assert_success
	assert_output --partial 'skipped 6'
	assert_equal "$(mongo_dump "$DST_URI" "$db.a" | wc -l)" 1
	assert_equal "$(mongo_dump "$DST_URI" "$db.b" | wc -l)" 0
	for ns in admin.x config.x oplogkit.x; do
		assert_equal "$(mongo_dump "$DST_URI" "$ns" | grep -c "$db")" 0
	done
	run oplog-apply --ns "$db.b" "$BATS_TEST_TMPDIR/x.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.b" | wc -l)" 1
}

# A workload on the source, in several collections, captured from its oplog.
workload() {
	local db=$1 k
	for k in 1 2 3; do
		mongo_cmd "$SRC_URI" "$db" "{\"insert\": \"c$k\", \"documents\": [{\"_id\": 1, \"n\": 1, \"tags\": [\"a\"], \"gone\": true}, {\"_id\": 2, \"n\": 2}, {\"_id\": \"s\", \"sub\": {\"x\": 1}}, {\"_id\": 4}]}"
		mongo_cmd "$SRC_URI" "$db" "{\"update\": \"c$k\", \"updates\": [{\"q\": {\"_id\": 1}, \"u\": {\"\$set\": {\"sub.y\": $k}, \"\$unset\": {\"gone\": \"\"}, \"\$inc\": {\"n\": 5}, \"\$push\": {\"tags\": \"b\"}}}]}"
		mongo_cmd "$SRC_URI" "$db" "{\"update\": \"c$k\", \"updates\": [{\"q\": {\"_id\": 2}, \"u\": {\"replaced\": $k}}, {\"q\": {\"_id\": \"new\"}, \"u\": {\"\$set\": {\"up\": 1}}, \"upsert\": true}]}"
		mongo_cmd "$SRC_URI" "$db" "{\"delete\": \"c$k\", \"deletes\": [{\"q\": {\"_id\": 4}, \"limit\": 1}]}"
		mongo_cmd "$SRC_URI" "$db" "{\"update\": \"c$k\", \"updates\": [{\"q\": {\"_id\": \"s\"}, \"u\": {\"\$inc\": {\"sub.x\": 1}}}]}"
	done
}

capture() {
	mongo_dump_bson "$SRC_URI" local.oplog.rs | oplog-filter --ns "$1.*"
}

same_as_source() {
	local db=$1 k
	for k in 1 2 3; do
		diff <(mongo_dump "$SRC_URI" "$db.c$k") <(mongo_dump "$DST_URI" "$db.c$k") || return 1
		[[ $(mongo_dump "$DST_URI" "$db.c$k" | wc -l) -eq 4 ]] || return 1
	done
}

@test "a live workload captured from the source's oplog makes the target equal, and replaying any suffix changes nothing" {
	db=$(unique_db live)
	workload "$db"
	capture "$db" >"$BATS_TEST_TMPDIR/live.bson"
	n=$(oplog-show "$BATS_TEST_TMPDIR/live.bson" | wc -l)
	[ "$n" -ge 20 ]
	run oplog-apply "$BATS_TEST_TMPDIR/live.bson" "$DST_URI"
	assert_success
	same_as_source "$db"
	before=$(for k in 1 2 3; do mongo_dump "$DST_URI" "$db.c$k"; done)
	for k in 2 7 $((n / 2)) $((n - 3)) "$n"; do
		oplog-show "$BATS_TEST_TMPDIR/live.bson" | tail -n "+$k" | json2bson >"$BATS_TEST_TMPDIR/suffix.bson"
		run oplog-apply -q --batch 3 "$BATS_TEST_TMPDIR/suffix.bson" "$DST_URI"
		assert_success
		assert_equal "$(for k in 1 2 3; do mongo_dump "$DST_URI" "$db.c$k"; done)" "$before"
	done
}

@test "the checkpoint records the last ts and count; --resume replays only the late window before it" {
	db=$(unique_db resume)
	workload "$db"
	# Past the late window (OPLOG_LATE_WINDOW_S, 2 s) of the workload.
	sleep 3
	mongo_cmd "$SRC_URI" "$db" '{"insert": "late", "documents": [{"_id": 1}]}'
	capture "$db" >"$BATS_TEST_TMPDIR/live.bson"
	last=$(oplog-show "$BATS_TEST_TMPDIR/live.bson" | tail -n 1 | jq -c '.ts["$timestamp"]')
	run oplog-apply --name "$db" "$BATS_TEST_TMPDIR/live.bson" "$DST_URI"
	assert_success
	run mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}"
	assert_success
	checkpoint=$(jq -c '.cursor.firstBatch[0]' <<<"$output")
	assert_equal "$(jq -c '.ts["$timestamp"]' <<<"$checkpoint")" "$last"
	assert_equal "$(jq -r '.count' <<<"$checkpoint")" "$(oplog-show "$BATS_TEST_TMPDIR/live.bson" | wc -l)"
	[ "$(jq -r '.wall["$date"]' <<<"$checkpoint")" != null ]
	# Documents changed on the target behind our back: the one whose
	# entries are older than the window stays changed, the one inside
	# the window is written again (a source may show entries late).
	mongo_cmd "$DST_URI" "$db" '{"update": "c1", "updates": [{"q": {"_id": 1}, "u": {"marker": true}}]}'
	mongo_cmd "$DST_URI" "$db" '{"update": "late", "updates": [{"q": {"_id": 1}, "u": {"marker": true}}]}'
	run oplog-apply --resume --name "$db" "$BATS_TEST_TMPDIR/live.bson" "$DST_URI"
	assert_success
	assert_output --partial ' 1 applied'
	run mongo_dump "$DST_URI" "$db.c1"
	assert_output --partial marker
	run mongo_dump "$DST_URI" "$db.late"
	assert_output '{ "_id" : { "$numberInt" : "1" } }'
}

@test "kill -9 in the middle of --jobs 4, then --resume: the same final state as one clean --jobs 1 run" {
	db=$(unique_db crash)
	"$GEN_OPLOG" --entries 600 --namespaces 1 --seed 11 | oplog-filter --rename "bench0.*=${db}_a.*" >"$BATS_TEST_TMPDIR/a.bson"
	"$GEN_OPLOG" --entries 600 --namespaces 1 --seed 11 | oplog-filter --rename "bench0.*=${db}_b.*" >"$BATS_TEST_TMPDIR/b.bson"
	run oplog-apply -q --jobs 1 "$BATS_TEST_TMPDIR/a.bson" "$DST_URI"
	assert_success
	oplog-apply -q --jobs 4 --batch 5 --name "$db" "$BATS_TEST_TMPDIR/b.bson" "$DST_URI" &
	pid=$!
	for _ in $(seq 100); do
		n=$(mongo_cmd "$DST_URI" "${db}_b" '{"count": "c0"}' | jq .n)
		[ "${n:-0}" -ge 20 ] && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" || true
	run mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}"
	assert_output --partial '$timestamp'
	run oplog-apply --resume --jobs 4 --batch 5 --name "$db" "$BATS_TEST_TMPDIR/b.bson" "$DST_URI"
	assert_success
	refute_output --partial ' 0 applied'
	assert_equal "$(mongo_dump "$DST_URI" "${db}_b.c0")" "$(mongo_dump "$DST_URI" "${db}_a.c0")"
	[ "$(mongo_dump "$DST_URI" "${db}_a.c0" | wc -l)" -gt 10 ]
}

@test "a corrupt stream: the entries before it are applied and checkpointed, then exit 3 naming the offset" {
	db=$(unique_db corrupt)
	printf '%s\n' "{\"ts\": {\"\$timestamp\": {\"t\": 40, \"i\": 1}}, \"op\": \"i\", \"ns\": \"$db.c\", \"o\": {\"_id\": 1}}" \
		"{\"ts\": {\"\$timestamp\": {\"t\": 40, \"i\": 2}}, \"op\": \"i\", \"ns\": \"$db.c\", \"o\": {\"_id\": 2}}" |
		json2bson >"$BATS_TEST_TMPDIR/bad.bson"
	head -c 30 "$MR/../../bsondump/testdata/sample.bson" >>"$BATS_TEST_TMPDIR/bad.bson"
	run oplog-apply --name "$db" "$BATS_TEST_TMPDIR/bad.bson" "$DST_URI"
	assert_failure 3
	assert_output --partial 'bad.bson'
	assert_output --regexp 'entry 3 at byte [0-9]+'
	assert_equal "$(mongo_dump "$DST_URI" "$db.c" | wc -l)" 2
	run mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}"
	assert_output --partial '"t" : 40, "i" : 2'

	for f in bad_type partial_file random_bytes; do
		run oplog-apply --name "$db" "$FIXTURES/mongo-tools/bsondump/testdata/$f.bson" "$DST_URI"
		assert_failure 3
	done
	# An entry that is valid BSON but no usable oplog entry: exit 3 too.
	echo "{\"ts\": {\"\$timestamp\": {\"t\": 41, \"i\": 1}}, \"op\": \"u\", \"ns\": \"$db.c\", \"o\": {\"\$set\": {\"a\": 1}}}" |
		json2bson >"$BATS_TEST_TMPDIR/no-o2.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/no-o2.bson" "$DST_URI"
	assert_failure 3
	assert_output --partial 'u entry without o2._id'
}

# Wait up to 5 s for process pid to end (fail if it does not).
wait_exit() {
	local _
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill "$1"
	echo "process $1 did not stop" >&2
	return 1
}

@test "--follow applies a growing file while it grows and stops at the trailer; SIGTERM stops cleanly" {
	db=$(unique_db follow)
	spool=$BATS_TEST_TMPDIR/spool.bson
	: >"$spool"
	oplog-apply --follow --name "$db" "$spool" "$DST_URI" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	echo "{\"ts\": {\"\$timestamp\": {\"t\": 50, \"i\": 1}}, \"op\": \"i\", \"ns\": \"$db.c\", \"o\": {\"_id\": 1}}" | json2bson >>"$spool"
	for _ in $(seq 50); do
		[ "$(mongo_dump "$DST_URI" "$db.c" | wc -l)" -eq 1 ] && break
		sleep 0.1
	done
	assert_equal "$(mongo_dump "$DST_URI" "$db.c" | wc -l)" 1
	kill -0 "$pid"
	echo '{"ts": {"$timestamp": {"t": 50, "i": 1}}, "op": "n", "ns": "", "o": {"msg": "oplogkit end", "count": 1, "last": {"$timestamp": {"t": 50, "i": 1}}}}' | json2bson >>"$spool"
	wait_exit "$pid"
	wait "$pid"

	: >"$spool.2"
	oplog-apply --follow --name "$db" "$spool.2" "$DST_URI" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	sleep 0.5
	kill -TERM "$pid"
	wait_exit "$pid"
	wait "$pid"
	# A clean stop: the report, nothing else.
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --regexp '^oplog-apply: 0 entries read'
}

@test "the target down longer than --retry-for: exit 4, checkpoint intact, --resume finishes" {
	db=$(unique_db retry)
	for k in $(seq 1 40); do
		echo "{\"ts\": {\"\$timestamp\": {\"t\": $((60 + k)), \"i\": 1}}, \"op\": \"i\", \"ns\": \"$db.c\", \"o\": {\"_id\": $k}}"
	done | json2bson >"$BATS_TEST_TMPDIR/r.bson"
	oplog-show "$BATS_TEST_TMPDIR/r.bson" | head -n 20 | json2bson >"$BATS_TEST_TMPDIR/first.bson"
	run oplog-apply --name "$db" "$BATS_TEST_TMPDIR/first.bson" "$DST_URI"
	assert_success
	server_stop target
	run oplog-apply --resume --retry-for 2s --name "$db" "$BATS_TEST_TMPDIR/r.bson" "$DST_URI"
	server_start target
	assert_failure 4
	run mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}"
	assert_output --partial '"t" : 80, "i" : 1'
	run oplog-apply --resume --name "$db" "$BATS_TEST_TMPDIR/r.bson" "$DST_URI"
	assert_success
	# The 20 after the checkpoint, and the 3 of its late window (t 78..80).
	assert_output --partial ' 23 applied'
	assert_equal "$(mongo_dump "$DST_URI" "$db.c" | wc -l)" 40
}

@test "\$v:2 b entries (MongoDB 8.0 time-series columns) patch BinData bytes as mongod does" {
	db=$(unique_db binary)
	bin() { echo "{\"\$binary\": {\"base64\": \"$1\", \"subType\": \"$2\"}}"; }
	mongo_cmd "$DST_URI" "$db" "{\"insert\": \"buckets\", \"documents\": [{\"_id\": 1, \"control\": {\"version\": 2, \"count\": 2}, \"data\": {\"time\": $(bin YWJj 07), \"x\": $(bin eHl6 07)}, \"meta\": \"m\"}]}"
	# The shape mongod 8.0 logs for an insert into a compressed bucket: the
	# time column keeps 2 bytes of "abc" then gets "def"; x's offset is past
	# its end (a replay over a column a later entry shrank): unchanged.
	cat >"$BATS_TEST_TMPDIR/b.json" <<-EOF
	{"ts": {"\$timestamp": {"t": 30, "i": 1}}, "op": "u", "ns": "$db.buckets", "o2": {"_id": 1}, "o": {"\$v": 2, "diff": {"scontrol": {"u": {"count": 3}}, "sdata": {"i": {"y": $(bin AQI= 07)}, "b": {"time": {"o": 2, "d": $(bin ZGVm 00)}, "x": {"o": 9, "d": $(bin AA== 00)}}}}}}
	EOF
	json2bson <"$BATS_TEST_TMPDIR/b.json" >"$BATS_TEST_TMPDIR/b.bson"
	expected=$(echo "{\"_id\": 1, \"control\": {\"version\": 2, \"count\": 3}, \"data\": {\"time\": $(bin YWJkZWY= 07), \"x\": $(bin eHl6 07), \"y\": $(bin AQI= 07)}, \"meta\": \"m\"}" | json2bson | oplog-show)
	run oplog-apply "$BATS_TEST_TMPDIR/b.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.buckets")" "$expected"
	# Replayed over its own result: the same bytes (offset 2 again keeps "ab").
	run oplog-apply "$BATS_TEST_TMPDIR/b.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.buckets")" "$expected"
	# A b entry for a field that is not BinData: mongod's applier fails it; so does this.
	echo "{\"ts\": {\"\$timestamp\": {\"t\": 30, \"i\": 2}}, \"op\": \"u\", \"ns\": \"$db.buckets\", \"o2\": {\"_id\": 1}, \"o\": {\"\$v\": 2, \"diff\": {\"b\": {\"meta\": {\"o\": 0, \"d\": $(bin AA== 00)}}}}}" |
		json2bson >"$BATS_TEST_TMPDIR/bad.bson"
	run oplog-apply "$BATS_TEST_TMPDIR/bad.bson" "$DST_URI"
	assert_failure 3
	assert_output --partial 'not BinData'
}
