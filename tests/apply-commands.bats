#!/usr/bin/env bats
# oplog-apply and the commands a target refuses: emulated where the
# target has the parts (renameCollection with dropTarget or across
# databases, create without options it lacks, emptycapped), skipped and
# listed where every document stays where MongoDB puts it (indexes,
# validators), a failure naming the entry otherwise; and transactions
# whose first entries precede the stream, refused with exit 5.

load lib/helpers

JSON2BSON=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson
json2bson() { "$JSON2BSON" "$@"; }

# docs JSON...: the documents as mongo_dump prints them (field order kept).
docs() { printf '%s\n' "$@" | json2bson | oplog-show; }

# stream NAME: the JSON entries on stdin as a BSON stream in $BATS_TEST_TMPDIR/NAME.bson.
stream() { json2bson >"$BATS_TEST_TMPDIR/$1.bson"; }

# The state of the namespaces given, as mongo_dump prints them, one block each.
state() {
	local ns
	for ns in "$@"; do
		echo "== $ns"
		mongo_dump "$DST_URI" "$ns"
	done
}

# apply_all_ways FILE NS...: apply FILE, again over its own result, and
# again with --batch 1; each must succeed and leave the same state of the
# namespaces given, which is printed (the warnings are not).
apply_all_ways() {
	local file=$1 first
	shift
	quiet_apply "$file" || return 1
	first=$(state "$@")
	quiet_apply "$file" || return 1
	[[ $(state "$@") == "$first" ]] || { echo "applied twice: state differs"; state "$@"; return 1; }
	quiet_apply --batch 1 "$file" || return 1
	[[ $(state "$@") == "$first" ]] || { echo "--batch 1: state differs"; state "$@"; return 1; }
	echo "$first"
}

# oplog-apply -q ARGS... DST_URI, its messages shown only when it fails.
quiet_apply() {
	oplog-apply -q "$@" "$DST_URI" 2>"$BATS_TEST_TMPDIR/apply.err" || {
		cat "$BATS_TEST_TMPDIR/apply.err"
		return 1
	}
}

ts() { echo "{\"\$timestamp\": {\"t\": $1, \"i\": $2}}"; }
UUID='{"$binary": {"base64": "UG740CdIQ0yW3Szj7wyRPQ==", "subType": "04"}}'

@test "renameCollection with dropTarget drops the target, then renames; later writes land in it" {
	db=$(unique_db droptarget)
	stream r <<-EOF
	{"ts": $(ts 100 1), "op": "i", "ns": "$db.a", "o": {"_id": 1, "from": "a", "z": [1, 2]}}
	{"ts": $(ts 100 2), "op": "i", "ns": "$db.b", "o": {"_id": 2, "from": "b"}}
	{"ts": $(ts 100 3), "op": "c", "ns": "$db.\$cmd", "o": {"renameCollection": "$db.a", "to": "$db.b", "stayTemp": false, "dropTarget": $UUID}}
	{"ts": $(ts 100 4), "op": "i", "ns": "$db.b", "o": {"_id": 3, "later": true}}
	{"ts": $(ts 100 5), "op": "u", "ns": "$db.b", "o2": {"_id": 1}, "o": {"\$v": 2, "diff": {"u": {"from": "moved"}}}}
	EOF
	run apply_all_ways "$BATS_TEST_TMPDIR/r.bson" "$db.a" "$db.b"
	assert_success
	assert_output "$(printf '%s\n' "== $db.a" "== $db.b" "$(docs '{"_id": 1, "from": "moved", "z": [1, 2]}' '{"_id": 3, "later": true}')")"
}

@test "renameCollection across databases moves documents and indexes, then drops the source" {
	db=$(unique_db across)
	stream r <<-EOF
	{"ts": $(ts 100 1), "op": "c", "ns": "$db.\$cmd", "o": {"create": "a"}}
	{"ts": $(ts 100 2), "op": "c", "ns": "$db.\$cmd", "o": {"createIndexes": "a", "v": 2, "key": {"k": 1}, "name": "k_1", "unique": true}}
	{"ts": $(ts 100 3), "op": "i", "ns": "$db.a", "o": {"_id": 1, "k": "x", "n": {"\$numberLong": "5"}}}
	{"ts": $(ts 100 4), "op": "i", "ns": "$db.a", "o": {"_id": 2, "k": "y"}}
	{"ts": $(ts 100 5), "op": "c", "ns": "admin.\$cmd", "o": {"renameCollection": "$db.a", "to": "${db}_2.c", "stayTemp": false, "dropTarget": false}}
	{"ts": $(ts 100 6), "op": "i", "ns": "${db}_2.c", "o": {"_id": 3, "k": "z"}}
	{"ts": $(ts 100 7), "op": "d", "ns": "${db}_2.c", "o": {"_id": 2}}
	EOF
	run apply_all_ways "$BATS_TEST_TMPDIR/r.bson" "$db.a" "${db}_2.c"
	assert_success
	assert_output "$(printf '%s\n' "== $db.a" "== ${db}_2.c" "$(docs '{"_id": 1, "k": "x", "n": {"$numberLong": "5"}}' '{"_id": 3, "k": "z"}')")"
	run mongo_cmd "$DST_URI" "${db}_2" '{"listIndexes": "c"}'
	assert_output --partial '"name" : "k_1", "unique" : true'
	# No copy left behind, no source left.
	run mongo_cmd "$DST_URI" "${db}_2" '{"listCollections": 1, "nameOnly": true}'
	refute_output --partial oplogkit_rename_tmp
	run mongo_cmd "$DST_URI" "$db" '{"listCollections": 1, "nameOnly": true}'
	refute_output --partial '"a"'
}

@test "renameCollection across databases with dropTarget replaces the target; a copy left by a stopped run is redone" {
	db=$(unique_db acrossdrop)
	mongo_cmd "$DST_URI" "${db}_2" '{"insert": "c", "documents": [{"_id": 9, "old": true}]}'
	# What a run stopped in the middle of the copy leaves.
	mongo_cmd "$DST_URI" "${db}_2" '{"insert": "oplogkit_rename_tmp_c", "documents": [{"_id": 7, "half": true}]}'
	stream r <<-EOF
	{"ts": $(ts 100 1), "op": "i", "ns": "$db.a", "o": {"_id": 1, "v": "a"}}
	{"ts": $(ts 100 2), "op": "c", "ns": "admin.\$cmd", "o": {"renameCollection": "$db.a", "to": "${db}_2.c", "stayTemp": false, "dropTarget": $UUID}}
	{"ts": $(ts 100 3), "op": "i", "ns": "${db}_2.c", "o": {"_id": 2, "v": "later"}}
	EOF
	run apply_all_ways "$BATS_TEST_TMPDIR/r.bson" "$db.a" "${db}_2.c" "${db}_2.oplogkit_rename_tmp_c"
	assert_success
	assert_output "$(printf '%s\n' "== $db.a" "== ${db}_2.c" "$(docs '{"_id": 1, "v": "a"}' '{"_id": 2, "v": "later"}')" "== ${db}_2.oplogkit_rename_tmp_c")"
}

@test "a rename into the selection from a collection left out fails naming the entry" {
	db=$(unique_db intosel)
	stream r <<-EOF
	{"ts": $(ts 100 1), "op": "i", "ns": "$db.keep", "o": {"_id": 1}}
	{"ts": $(ts 100 2), "op": "c", "ns": "$db.\$cmd", "o": {"renameCollection": "$db.other", "to": "$db.keep", "dropTarget": true}}
	{"ts": $(ts 100 3), "op": "i", "ns": "$db.keep", "o": {"_id": 2}}
	EOF
	run oplog-apply --name "$db" --ns "$db.keep" "$BATS_TEST_TMPDIR/r.bson" "$DST_URI"
	assert_failure 4
	assert_output --partial 'entry 2 at byte'
	assert_output --partial "the source is not selected"
	# Nothing after it applied, and the checkpoint stops before it.
	assert_equal "$(mongo_dump "$DST_URI" "$db.keep")" "$(docs '{"_id": 1}')"
	run mongo_dump "$DST_URI" oplogkit.checkpoints
	assert_line --partial "\"_id\" : \"$db\", \"ts\" : { \"\$timestamp\" : { \"t\" : 100, \"i\" : 1 } }"
}

@test "refusals that leave documents in place are skipped, listed in the report, exit 0" {
	db=$(unique_db harmless)
	stream h <<-EOF
	{"ts": $(ts 100 1), "op": "c", "ns": "$db.\$cmd", "o": {"create": "v", "validator": {"x": {"\$type": "int"}}, "validationLevel": "strict", "collation": {"locale": "fr"}}}
	{"ts": $(ts 100 2), "op": "i", "ns": "$db.v", "o": {"_id": 1, "x": 1}}
	{"ts": $(ts 100 3), "op": "c", "ns": "$db.\$cmd", "o": {"collMod": "v", "validator": {"x": {"\$type": "string"}}}}
	{"ts": $(ts 100 4), "op": "c", "ns": "$db.\$cmd", "o": {"createIndexes": "v", "v": 2, "key": {"x": 1}, "name": "x_1", "partialFilterExpression": {"x": {"\$gt": 0}}}}
	{"ts": $(ts 100 5), "op": "c", "ns": "$db.\$cmd", "o": {"create": "empty", "validator": {"y": 1}}}
	{"ts": $(ts 100 6), "op": "i", "ns": "$db.v", "o": {"_id": 2, "x": 2}}
	EOF
	run oplog-apply "$BATS_TEST_TMPDIR/h.bson" "$DST_URI"
	assert_success
	assert_output --partial 'refused 4'
	assert_output --partial "skipped, documents unaffected: entry 1: $db.v: create with options not supported by the target: validator, validationLevel, collation"
	assert_output --partial "skipped, documents unaffected: entry 3: $db.v: collMod not supported by the target"
	assert_output --partial "skipped, documents unaffected: entry 4: $db.v: createIndexes not supported by the target"
	assert_output --partial "skipped, documents unaffected: entry 5: $db.empty: create with options"
	# The collections exist (the empty one too), with every document.
	run mongo_cmd "$DST_URI" "$db" '{"listCollections": 1, "nameOnly": true}'
	assert_output --partial '"empty"'
	run apply_all_ways "$BATS_TEST_TMPDIR/h.bson" "$db.v" "$db.empty"
	assert_success
	assert_output "$(printf '%s\n' "== $db.v" "$(docs '{"_id": 1, "x": 1}' '{"_id": 2, "x": 2}')" "== $db.empty")"
}

@test "refusals that would change documents fail naming the entry: collMod cappedSize, views, time series, convertToCapped" {
	db=$(unique_db harmful)
	mongo_cmd "$DST_URI" "$db" '{"create": "c", "capped": true, "size": 100000}'
	local o
	for o in '{"collMod": "c", "cappedSize": 4096}' '{"create": "view", "viewOn": "c", "pipeline": []}' \
		'{"create": "ts", "timeseries": {"timeField": "t"}}' '{"convertToCapped": "c", "size": 4096}' \
		'{"importCollection": "c"}'; do
		stream bad <<-EOF
		{"ts": $(ts 100 1), "op": "i", "ns": "$db.c", "o": {"_id": 1}}
		{"ts": $(ts 100 2), "op": "c", "ns": "$db.\$cmd", "o": $o}
		{"ts": $(ts 100 3), "op": "i", "ns": "$db.c", "o": {"_id": 2}}
		EOF
		run oplog-apply "$BATS_TEST_TMPDIR/bad.bson" "$DST_URI"
		assert_failure 4
		assert_output --partial 'bad.bson: entry 2 at byte'
		assert_output --partial 'nothing after it applied'
		assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$(docs '{"_id": 1}')"
	done
	# A command of a database nothing of which is applied is no failure.
	stream other <<-EOF
	{"ts": $(ts 100 1), "op": "c", "ns": "config.\$cmd", "o": {"importCollection": "x"}}
	{"ts": $(ts 100 2), "op": "i", "ns": "$db.c", "o": {"_id": 3}}
	EOF
	run oplog-apply "$BATS_TEST_TMPDIR/other.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$(docs '{"_id": 1}' '{"_id": 3}')"
}

@test "emptycapped, which the target lacks, deletes every document of the collection" {
	db=$(unique_db emptycapped)
	stream e <<-EOF
	{"ts": $(ts 100 1), "op": "c", "ns": "$db.\$cmd", "o": {"create": "c", "capped": true, "size": 100000}}
	{"ts": $(ts 100 2), "op": "i", "ns": "$db.c", "o": {"_id": 1}}
	{"ts": $(ts 100 3), "op": "i", "ns": "$db.c", "o": {"_id": 2}}
	{"ts": $(ts 100 4), "op": "c", "ns": "$db.\$cmd", "o": {"emptycapped": "c"}}
	{"ts": $(ts 100 5), "op": "i", "ns": "$db.c", "o": {"_id": 3, "after": true}}
	EOF
	run apply_all_ways "$BATS_TEST_TMPDIR/e.bson" "$db.c"
	assert_success
	assert_output "$(printf '%s\n' "== $db.c" "$(docs '{"_id": 3, "after": true}')")"
}

# A transaction on lsid $LSID, txnNumber 7: two partial links, then the commit.
LSID='{"id": {"$binary": {"base64": "GK+8+nZ+Eem9p6vK9BEt9g==", "subType": "04"}}}'
txn_link() { # TS_I PREV_I O
	local prev='{"ts": {"$timestamp": {"t": 0, "i": 0}}, "t": {"$numberLong": "-1"}}'
	[[ $2 == 0 ]] || prev="{\"ts\": $(ts 200 "$2"), \"t\": {\"\$numberLong\": \"1\"}}"
	echo "{\"ts\": $(ts 200 "$1"), \"t\": {\"\$numberLong\": \"1\"}, \"op\": \"c\", \"ns\": \"admin.\$cmd\", \"lsid\": $LSID, \"txnNumber\": {\"\$numberLong\": \"7\"}, \"prevOpTime\": $prev, \"o\": $3}"
}
txn_insert() { echo "{\"op\": \"i\", \"ns\": \"$1\", \"o\": {\"_id\": $2}}"; }

@test "a transaction whose first links precede the stream is refused with exit 5 naming lsid and txnNumber" {
	db=$(unique_db txnbefore)
	{
		txn_link 1 0 "{\"applyOps\": [$(txn_insert "$db.t" 1)], \"partialTxn\": true}"
		txn_link 2 1 "{\"applyOps\": [$(txn_insert "$db.t" 2)], \"partialTxn\": true}"
		txn_link 3 2 "{\"applyOps\": [$(txn_insert "$db.t" 3)], \"count\": 3}"
	} >"$BATS_TEST_TMPDIR/whole.json"
	echo "{\"ts\": $(ts 100 1), \"op\": \"i\", \"ns\": \"$db.before\", \"o\": {\"_id\": 0}}" >"$BATS_TEST_TMPDIR/head.json"
	# Whole: applied, three documents.
	cat "$BATS_TEST_TMPDIR/head.json" "$BATS_TEST_TMPDIR/whole.json" | stream whole
	run apply_all_ways "$BATS_TEST_TMPDIR/whole.bson" "$db.t"
	assert_success
	assert_output "$(printf '%s\n' "== $db.t" "$(docs '{"_id": 1}' '{"_id": 2}' '{"_id": 3}')")"

	local cut
	for cut in 1 2; do
		# The first link (or both partial links) before the stream.
		{ cat "$BATS_TEST_TMPDIR/head.json"; tail -n +$((cut + 1)) "$BATS_TEST_TMPDIR/whole.json"; } | stream cut
		run oplog-apply --name "cut$db" "$BATS_TEST_TMPDIR/cut.bson" "$DST_URI"
		assert_failure 5
		assert_output --partial 'txnNumber 7 began before this stream'
		assert_output --partial 'GK+8+nZ+Eem9p6vK9BEt9g=='
		assert_output --partial "entry $((4 - cut)) at byte"
	done
	# A prepared transaction whose prepare is not in the stream.
	{
		cat "$BATS_TEST_TMPDIR/head.json"
		txn_link 9 4 '{"commitTransaction": 1, "commitTimestamp": {"$timestamp": {"t": 200, "i": 8}}}'
	} | stream commit
	run oplog-apply "$BATS_TEST_TMPDIR/commit.bson" "$DST_URI"
	assert_failure 5
	assert_output --partial 'txnNumber 7 began before this stream'
	# Nothing of the cut transactions reached the target.
	assert_equal "$(mongo_dump "$DST_URI" "$db.t" | wc -l)" 3
}

@test "a commit whose earlier links the --resume checkpoint covers is applied" {
	db=$(unique_db txnresume)
	{
		echo "{\"ts\": $(ts 100 1), \"op\": \"i\", \"ns\": \"$db.before\", \"o\": {\"_id\": 0}}"
		txn_link 1 0 "{\"applyOps\": [$(txn_insert "$db.t" 1)], \"partialTxn\": true}"
		txn_link 2 1 "{\"applyOps\": [$(txn_insert "$db.t" 2)], \"count\": 2}"
	} | stream whole
	run oplog-apply --name "r$db" "$BATS_TEST_TMPDIR/whole.bson" "$DST_URI"
	assert_success
	# The stream after the first link, resumed from a checkpoint past it: the
	# checkpoint shows the transaction applied (it never passes an open one).
	oplog-show "$BATS_TEST_TMPDIR/whole.bson" | tail -n 1 | json2bson >"$BATS_TEST_TMPDIR/tail.bson"
	run oplog-apply --resume --name "r$db" "$BATS_TEST_TMPDIR/tail.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.t")" "$(docs '{"_id": 1}' '{"_id": 2}')"
	# Without the checkpoint: refused.
	run oplog-apply --resume --name "other$db" "$BATS_TEST_TMPDIR/tail.bson" "$DST_URI"
	assert_failure 5
}
