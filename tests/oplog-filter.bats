#!/usr/bin/env bats
# oplog-filter: keep, drop and rename the entries of a stream.

load lib/helpers
bats_require_minimum_version 1.5.0

setup() {
	TD=$FIXTURES/mongo-tools/bsondump/testdata
	RD=$FIXTURES/mongo-tools/mongorestore/testdata
	OD=$RD/oplogs/bson
	TXN=$FIXTURES/mongo-tools/common/txn/testdata/oplog_entries.json
	JSON_TO_BSON=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json-to-bson
	T=$BATS_TEST_TMPDIR
}

# show FILE JQ: each entry of the stream as jq's compact output of JQ.
show() { oplog-show --relaxed "$1" | jq -c "$2"; }

# txn_case NAME: the ops of one case of the transaction fixture, as a stream.
txn_case() { jq -c --arg c "$1" '.[$c].ops[]' "$TXN" | "$JSON_TO_BSON"; }

@test "oplog-filter without options copies every valid fixture byte for byte" {
	local f n=0
	for f in "$RD"/*/oplog.bson "$RD"/extra_oplog.bson "$RD"/dump_local_oplog/local/oplog.rs.bson \
	    "$RD"/*/*/*.bson "$OD"/*.bson "$TD"/{sample,all_types,all_in_one_doc,deep_nested}.bson; do
		oplog-filter "$f" >"$T/out" || fail "status $? on $f"
		cmp "$f" "$T/out" || fail "$f changed"
		oplog-filter <"$f" | cmp "$f" - || fail "$f changed through stdin"
		n=$((n + 1))
	done
	((n >= 25)) || fail "only $n fixtures found"
}

@test "oplog-filter rejects each corrupt fixture with status 3, entry and byte, after writing the valid entries before it" {
	local name
	for name in bad_cstring bad_type broken_array partial_file random_bytes invalid_field_name; do
		run --separate-stderr timeout 10 oplog-filter -o "$T/out" "$TD/$name.bson"
		assert_failure 3
		[[ $stderr =~ ^oplog-filter:\ .*$name.bson:\ entry\ ([0-9]+)\ at\ byte\ ([0-9]+):\ . ]] ||
			fail "message for $name: $stderr"
		# What came before the bad frame is written whole, and nothing else.
		cmp "$T/out" <(head -c "${BASH_REMATCH[2]}" "$TD/$name.bson") || fail "$name: output is not the valid prefix"
	done
	run timeout 10 oplog-filter "$RD/bad-format.archive"
	assert_failure 3
	assert_output --regexp "entry 1 at byte 0: "
}

@test "oplog-filter -z writes zstd that oplog-filter reads back to the same bytes" {
	oplog-filter -z "$RD/dump_local_oplog/local/oplog.rs.bson" >"$T/z"
	assert_equal "$(head -c 4 "$T/z" | od -An -tx1 | tr -d ' ')" 28b52ffd
	oplog-filter "$T/z" | cmp - "$RD/dump_local_oplog/local/oplog.rs.bson"
	oplog-filter --zstd=19 -o "$T/z19" "$RD/commit_indexes_build/oplog.bson"
	zstd -q -d -c "$T/z19" | cmp - "$RD/commit_indexes_build/oplog.bson"
	oplog-filter --ns 'commit_index.*' "$T/z19" | cmp - <(oplog-filter --ns 'commit_index.*' "$RD/commit_indexes_build/oplog.bson")
}

@test "oplog-filter --ns keeps exactly the entries of matching collections and the commands on them" {
	f=$RD/oplog_partial_skips/oplog.bson
	oplog-filter --ns 'db3.*' "$f" >"$T/out"
	assert_equal "$(show "$T/out" '[.ts,.ns]')" "$(show "$f" 'select(.ns | startswith("db3.")) | [.ts,.ns]')"
	assert_equal "$(show "$T/out" .op | sort | uniq -c | xargs)" "1 c 5 i"
	# Kept entries are the input's own bytes: the output is a subsequence.
	assert_equal "$(oplog-filter --ns 'db3.*' --ns 'config.*' "$f" | cmp - "$f" && echo same)" same
}

@test "oplog-filter --exclude drops matching namespaces, --ns-regex selects by regex" {
	f=$RD/oplog_partial_skips/oplog.bson
	run show <(oplog-filter --exclude 'config.system.*' "$f") .ns
	assert_success
	refute_output --partial config.system
	assert_equal "${#lines[@]}" "$(show "$f" 'select(.ns | startswith("config.system.") | not) | .ns' | wc -l)"
	# The create of config.cache.test names its collection in o: it goes by that name.
	assert_line '"config.$cmd"'
	run show <(oplog-filter --ns-regex '^config\.(cache|transactions)\.test$' "$f") '[.op,.ns,.o.create]'
	assert_success
	assert_output "$(printf '%s\n' '["c","config.$cmd","cache.test"]' '["i","config.cache.test",null]' '["c","config.$cmd","transactions.test"]')"
}

@test "oplog-filter --op keeps only the given operations" {
	f=$RD/commit_indexes_build/oplog.bson
	assert_equal "$(show <(oplog-filter --op n "$f") .op | sort | uniq -c | xargs)" "11 n"
	assert_equal "$(show <(oplog-filter --op i,c "$f") .op | sort | uniq -c | xargs)" "5 c 1 i"
	run oplog-filter --op i,x "$f"
	assert_failure 2
	assert_output --partial "--op 'i,x'"
}

@test "oplog-filter --since is exclusive and --until inclusive" {
	f=$RD/commit_indexes_build/oplog.bson
	# 1588114172,1 is the create, 1588114182,2 the first commitIndexBuild;
	# the fixture repeats two entries out of order at its end: every entry
	# is judged by its own ts, the filter does not stop at the first later one.
	run show <(oplog-filter --since 1588114172,1 --until 1588114182,2 "$f") '[.ts["$timestamp"].t, .ts["$timestamp"].i]'
	assert_success
	assert_output "$(printf '%s\n' '[1588114172,2]' '[1588114182,1]' '[1588114182,2]' '[1588114182,1]' '[1588114182,2]')"
	run show <(oplog-filter --since '{"$timestamp":{"t":1588114260,"i":1}}' "$f") .ts
	assert_output '{"$timestamp":{"t":1588114270,"i":1}}'
	run show <(oplog-filter --until 1588114149 "$f") .op
	assert_equal "${#lines[@]}" 0
	run oplog-filter --since yesterday "$f"
	assert_failure 2
}

@test "oplog-filter judges applyOps by its inner ops and keeps the original bytes when all match" {
	f=$RD/oplogdump/oplog.bson
	oplog-filter --ns 'db1.*' "$f" | cmp - "$f"
	assert_equal "$(oplog-filter --ns 'other.*' "$f" | wc -c)" 0
	assert_equal "$(oplog-filter --ns 'other.*' "$OD/vectored_insert.bson" | wc -c)" 0
	oplog-filter --ns 'mongodump_test_db.coll1' "$OD/linked_vectored_inserts.bson" | cmp - "$OD/linked_vectored_inserts.bson"
}

@test "oplog-filter keeps exactly the matching inner ops of an applyOps" {
	# One applyOps holding the ops of two real cases: txntest.b (i,u) then txntest.c (i,u,d).
	jq -c '.["small, unprepared"].ops[0] | .o.applyOps = ($all["applyops not transaction"].ops[0].o.applyOps + .o.applyOps)' \
	    --argjson all "$(cat "$TXN")" "$TXN" | "$JSON_TO_BSON" >"$T/mixed"
	run show <(oplog-filter --ns txntest.c "$T/mixed") '.o.applyOps | map([.op,.ns])'
	assert_success
	assert_output '[["i","txntest.c"],["u","txntest.c"],["d","txntest.c"]]'
	# The rest of the entry (lsid, txnNumber, ts) is untouched.
	assert_equal "$(show <(oplog-filter --ns txntest.c "$T/mixed") 'del(.o)')" "$(show "$T/mixed" 'del(.o)')"
	run show <(oplog-filter --op i,d --exclude txntest.c "$T/mixed") '.o.applyOps | map([.op,.ns])'
	assert_output '[["i","txntest.b"]]'
	run show <(oplog-filter --op u "$T/mixed") '.o.applyOps | map(.o2._id)'
	assert_output '[0,0]'
}

@test "oplog-filter keeps every emptied transaction link so the applier sees the transaction whole" {
	txn_case "large, unprepared" >"$T/txn"
	run show <(oplog-filter --ns 'other.*' "$T/txn") '[(.o|has("partialTxn")), (.o.applyOps|length), .o.count]'
	assert_success
	# Every link stays, empty (the commit's count is the source's): a
	# commit whose first links were gone would look begun before the stream.
	assert_output "$(printf '%s\n' '[true,0,null]' '[true,0,null]' '[false,0,6]')"
	# The applier takes the emptied transaction as whole.
	run oplog-apply -q <(oplog-filter --ns 'other.*' "$T/txn") "$DST_URI"
	assert_success
	txn_case "small, prepared, committed" >"$T/prep"
	run show <(oplog-filter --ns 'other.*' "$T/prep") '[(.o|keys_unsorted[0]), (.o.applyOps|length)]'
	assert_output "$(printf '%s\n' '["applyOps",0]' '["commitTransaction",0]')"
}

@test "oplog-filter keeps or drops each DDL fixture by the collection it acts on" {
	local f
	for f in collMod collMod_with_hidden commit_index create_index drop_collection drop_index; do
		oplog-filter --ns test.foo "$OD/$f.bson" | cmp - "$OD/$f.bson" || fail "$f not kept by --ns test.foo"
		assert_equal "$(oplog-filter --ns test.bar "$OD/$f.bson" | wc -c)" 0
		assert_equal "$(oplog-filter --exclude 'test.f*' "$OD/$f.bson" | wc -c)" 0
	done
	f=$OD/collMod_indexUniqueness.bson
	oplog-filter --ns mongodump_test_db.coll1 "$f" | cmp - "$f"
	assert_equal "$(oplog-filter --ns 'mongodump_test_db.coll2' "$f" | wc -c)" 0
	f=$RD/oplog_ignore_index/oplog.bson
	oplog-filter --ns test.skip_index_entries "$f" | cmp - "$f"
}

@test "oplog-filter keeps a dropDatabase only when the whole database is selected" {
	f=$OD/drop_db.bson
	oplog-filter --ns 'test.*' "$f" | cmp - "$f"
	oplog-filter --exclude 'other.*' "$f" | cmp - "$f"
	assert_equal "$(oplog-filter --ns 'other.*' "$f" | wc -c)" 0
	# Only test.foo selected: the destination drops test.foo, nothing else of test.
	run --separate-stderr show <(oplog-filter --ns test.foo --ns test.bar --ns other.x "$f") '[.ns,.o,.ts]'
	assert_success
	assert_output "$(printf '%s\n' '["test.$cmd",{"drop":"foo"},{"$timestamp":{"t":1616671599,"i":3}}]' \
	    '["test.$cmd",{"drop":"bar"},{"$timestamp":{"t":1616671599,"i":3}}]')"
	# Selected by a pattern: which collections is unknown; nothing dropped, a warning.
	run --separate-stderr oplog-filter --ns 'test.f*' "$f"
	assert_success
	assert_equal "$output" ""
	[[ $stderr == *"entry 1: dropDatabase test: the database is only partly selected"* ]] || fail "$stderr"
}

@test "oplog-filter turns a renameCollection that leaves or enters the selection into a drop" {
	# A renameCollection entry as mongod logs it, on the real drop entry's ts and ui.
	show "$OD/drop_collection.bson" '.ns = "admin.$cmd" | .o = {renameCollection: "test.foo", to: "test.bar", stayTemp: false} | del(.o2)' |
		"$JSON_TO_BSON" >"$T/rename"
	oplog-filter --ns 'test.*' "$T/rename" | cmp - "$T/rename"
	assert_equal "$(oplog-filter --ns 'other.*' "$T/rename" | wc -c)" 0
	run --separate-stderr show <(oplog-filter --ns test.foo "$T/rename") '[.op,.ns,.o,has("ui")]'
	assert_output '["c","test.$cmd",{"drop":"foo"},false]'
	assert_equal "$stderr" ""
	run --separate-stderr oplog-filter --ns test.bar -o "$T/out" "$T/rename"
	assert_success
	[[ $stderr == *"renameCollection test.foo -> test.bar: test.bar is selected but test.foo is not"* ]] || fail "$stderr"
	assert_equal "$(show "$T/out" '[.ns,.o]')" '["test.$cmd",{"drop":"bar"}]'
	run show <(oplog-filter --rename 'test.*=prod.*' "$T/rename") .o
	assert_output '{"renameCollection":"prod.foo","to":"prod.bar","stayTemp":false}'
}

@test "oplog-filter --rename rewrites ns and the namespaces inside commands" {
	f=$RD/create_indexes/oplog.bson
	run show <(oplog-filter --rename 'create_indexes.test=shop.items' --op c "$f") '[.ns, .o.create // .o.createIndexes, .o.idIndex.ns]'
	assert_success
	assert_output "$(printf '%s\n' '["shop.$cmd","items","shop.items"]' '["shop.$cmd","items",null]' '["shop.$cmd","items",null]')"
	# Everything but the names is as it was.
	assert_equal "$(show <(oplog-filter --rename 'create_indexes.*=shop.*' "$f") 'del(.ns, .o.create, .o.createIndexes, .o.idIndex.ns)')" \
	    "$(show "$f" 'del(.ns, .o.create, .o.createIndexes, .o.idIndex.ns)')"
	run show <(oplog-filter --rename 'commit_index.*=ci2.*_v2' "$RD/commit_indexes_build/oplog.bson") 'select(.op != "n") | [.ns, (.o|to_entries[0].value)]'
	assert_line --index 0 '["ci2.$cmd","test_v2"]'
	assert_line --index 1 '["ci2.test_v2",{"$oid":"5ea8b2fca5fd2094399b496a"}]'
	assert_equal "${#lines[@]}" 6
	run show <(oplog-filter --rename 'test.*=prod.*' "$OD/drop_db.bson") '[.ns,.o]'
	assert_output '["prod.$cmd",{"dropDatabase":1}]'
	run oplog-filter --rename 'a.*=b' "$f"
	assert_failure 2
}

@test "oplog-filter --rename of one collection drops it where it went when its database is dropped" {
	db=$(unique_db dropren)
	# The source: db.old and db.other, then dropDatabase db, then db.old again.
	cat >"$T/s.json" <<-EOF
	{"ts": {"\$timestamp": {"t": 50, "i": 1}}, "op": "i", "ns": "$db.old", "o": {"_id": 1}}
	{"ts": {"\$timestamp": {"t": 50, "i": 2}}, "op": "i", "ns": "$db.other", "o": {"_id": 2}}
	{"ts": {"\$timestamp": {"t": 50, "i": 3}}, "op": "c", "ns": "$db.\$cmd", "o": {"dropDatabase": 1}}
	{"ts": {"\$timestamp": {"t": 50, "i": 4}}, "op": "i", "ns": "$db.old", "o": {"_id": 3}}
	EOF
	"$JSON_TO_BSON" <"$T/s.json" >"$T/s"
	oplog-filter --rename "$db.old=${db}_2.kept" "$T/s" >"$T/out"
	# The dropDatabase still passes for db (db.other); db.old, now
	# ${db}_2.kept, is dropped there first, on the dropDatabase's ts.
	run show "$T/out" '[.op, .ns, .o, .ts["$timestamp"].i]'
	assert_output "$(printf '%s\n' "[\"i\",\"${db}_2.kept\",{\"_id\":1},1]" "[\"i\",\"$db.other\",{\"_id\":2},2]" \
	    "[\"c\",\"${db}_2.\$cmd\",{\"drop\":\"kept\"},3]" "[\"c\",\"$db.\$cmd\",{\"dropDatabase\":1},3]" \
	    "[\"i\",\"${db}_2.kept\",{\"_id\":3},4]")"
	# Applied: what mongod holds, renamed (only the document written after the drop).
	run oplog-apply -q "$T/out" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "${db}_2.kept")" "$(echo '{"_id": 3}' | "$JSON_TO_BSON" | oplog-show)"
	assert_equal "$(mongo_dump "$DST_URI" "$db.other")" ""
	# Selected by name: one drop, where it went; a rename within the
	# database needs none beside the dropDatabase that still passes.
	run show <(oplog-filter --ns "$db.old" --rename "$db.old=${db}_2.kept" "$T/s") 'select(.op == "c") | [.ns, .o]'
	assert_output "[\"${db}_2.\$cmd\",{\"drop\":\"kept\"}]"
	run show <(oplog-filter --rename "$db.old=$db.new" "$T/s") 'select(.op == "c") | [.ns, .o]'
	assert_output "[\"$db.\$cmd\",{\"dropDatabase\":1}]"
}

@test "oplog-filter --rename rewrites the inner ops of applyOps, selection by the old names" {
	run show <(oplog-filter --ns 'db1.*' --rename 'db1.c1=db2.c2' "$RD/oplogdump/oplog.bson") '[.ns, (.o.applyOps // [] | map(.ns))]'
	assert_success
	assert_output "$(printf '%s\n' '["db2.c2",[]]' '["admin.$cmd",["db2.c2","db2.c2","db2.c2"]]' '["db2.c2",[]]')"
}

@test "oplog-filter rewrites the trailer of a filtered snapshot so snap-import accepts it" {
	db=$(unique_db filter_snap)
	printf '{"_id":%d,"x":%d}\n' 1 1 2 2 3 3 | mongo_insert "$SRC_URI" "$db.keep"
	printf '{"_id":%d}\n' 1 2 | mongo_insert "$SRC_URI" "$db.skip"
	snap-export --ns "$db.*" "$SRC_URI" >"$T/snap"
	oplog-filter "$T/snap" | cmp - "$T/snap"
	oplog-filter --ns "$db.keep" --rename "$db.keep=$db.copy" "$T/snap" >"$T/filtered"
	# The trailer counts what was written: every entry but the two markers.
	entries=$(show "$T/filtered" 'select(.op != "n")' | wc -l)
	assert_equal "$(show "$T/filtered" 'select(.o.msg == "oplogkit end") | .o.count')" "$entries"
	run show "$T/filtered" 'select(.op != "n") | .ns'
	refute_output --partial "$db.skip"
	snap-import "$T/filtered" "$DST_URI"
	diff <(mongo_dump "$SRC_URI" "$db.keep") <(mongo_dump "$DST_URI" "$db.copy")
	assert_equal "$(mongo_dump "$DST_URI" "$db.skip" | wc -l)" 0
}

@test "oplog-filter --help, --version and bad options" {
	run oplog-filter --help
	assert_success
	assert_output --partial "usage: oplog-filter"
	run oplog-filter --version
	assert_success
	assert_output --partial "oplogkit"
	run oplog-filter --bogus
	assert_failure 2
	run oplog-filter --ns-regex '(' /dev/null
	assert_failure 2
	assert_output --partial "--ns-regex"
	run oplog-filter "$T/missing.bson"
	assert_failure
	assert_output --partial "missing.bson"
}

@test "a binary stream is never written to a terminal: exit 2 at once unless -o - insists" {
	# script(1) gives the programs a terminal as stdout.
	tty_run() { script -qec "$1; echo \"status \$?\"" /dev/null </dev/null; }
	run tty_run "oplog-filter '$TD/sample.bson'"
	assert_output --partial 'oplog-filter: stdout is a terminal: not writing a binary stream to it'
	assert_output --partial 'status 2'
	# Refused before any connection is tried: no server at this port.
	run tty_run "oplog-read 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100'"
	assert_output --partial 'oplog-read: stdout is a terminal'
	assert_output --partial 'status 2'
	run tty_run "snap-export 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100'"
	assert_output --partial 'snap-export: stdout is a terminal'
	assert_output --partial 'status 2'
	# -o - insists; a pipe or a file needs nothing.
	run tty_run "oplog-filter -o - '$TD/sample.bson' >/dev/null"
	assert_output --partial 'status 0'
	run tty_run "oplog-filter -o - '$TD/sample.bson' | wc -c"
	assert_output --partial "$(stat -c %s "$TD/sample.bson")"
	oplog-filter "$TD/sample.bson" | cmp - "$TD/sample.bson"
}

@test "the MongoDB Database Tools spellings --nsInclude/--nsExclude/--nsFrom/--nsTo filter as --ns/--exclude/--rename" {
	local f
	for f in "$RD"/*/oplog.bson; do
		oplog-filter --ns 'db*.*' --exclude 'db3.*' --rename 'db1.*=renamed.*' "$f" >"$T/want"
		oplog-filter --nsInclude 'db*.*' --nsExclude 'db3.*' --nsFrom 'db1.*' --nsTo 'renamed.*' \
			"$f" >"$T/got"
		cmp "$T/want" "$T/got" || fail "$f: the aliases filter differently"
	done
	# The aliases do act: something was renamed somewhere.
	cat "$RD"/*/oplog.bson | oplog-filter --nsInclude 'db1.*' --nsFrom 'db1.*' --nsTo 'renamed.*' |
		oplog-show --relaxed | jq -r .ns | grep -q '^renamed\.'
	run --separate-stderr oplog-filter --nsTo 'x.*' /dev/null
	assert_failure 2
	[[ $stderr == *"--nsTo 'x.*' has no --nsFrom before it"* ]]
}
