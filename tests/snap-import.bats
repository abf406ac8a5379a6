#!/usr/bin/env bats
# snap-import: snapshot streams, snap-export directories and mongodump
# directories into a server; refuses to call an incomplete snapshot done.

load lib/helpers
bats_require_minimum_version 1.5.0

DUMPS=$FIXTURES/mongo-tools/mongorestore/testdata
BSON=$FIXTURES/mongo-tools/bsondump/testdata

setup_file() {
	# The interop test needs mongodump: build MongoDB's tools once into the cache.
	PEERS=$("$ROOT/scripts/build-peers.sh")
	export PEERS
}

# Every index of NS as {name, key, unique, expireAfterSeconds}, sorted, one line.
indexes() {
	mongo_cmd "$1" "${2%%.*}" "{\"listIndexes\": \"${2#*.}\"}" |
		jq -c '.cursor.firstBatch | map({name, key, unique, expireAfterSeconds}) | sort_by(.name)'
}

# A snapshot of DB.c (N documents, an index) into FILE.
snapshot() {
	local db=$1 n=$2 file=$3
	seq 1 "$n" | awk '{printf "{\"_id\": %d, \"s\": \"value %d\"}\n", $1, $1}' |
		mongo_insert "$SRC_URI" "$db.c"
	mongo_cmd "$SRC_URI" "$db" '{"createIndexes": "c", "indexes": [{"key": {"s": 1}, "name": "s_1"}]}' >/dev/null
	snap-export --ns "$db.*" -o "$file" "$SRC_URI"
}

# estimated_bytes DB: the byte total snap-export gives DB.c: collStats'
# size where it is the documents' (see snap-export.bats), else null.
estimated_bytes() {
	mongo_cmd "$SRC_URI" "$1" '{"collStats": "c"}' |
		jq -r 'if (.size | tostring) != (.storageSize | tostring) then .size | tostring | tonumber else "null" end'
}

# assert_counted_against_estimate N BYTES PROM LOG: snap-import's
# --metrics file and log end with N documents done of N estimated (BYTES
# estimated, or null), phase done.
assert_counted_against_estimate() {
	grep -qx "oplogkit_documents_estimated{program=\"snap-import\",name=\"\"} $1" "$3" || fail "$(cat "$3")"
	grep -qx "oplogkit_documents_done_total{program=\"snap-import\",name=\"\"} $1" "$3" || fail "$(cat "$3")"
	assert_equal "$(tail -n 1 "$4" | jq -c '[.documents, .documents_total, .document_bytes_total, .phase]')" \
		"[$1,$1,$2,\"done\"]"
}

# The byte offsets where the frames of a stream begin, and its size.
frame_offsets() {
	python3 -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
at = 0
while at < len(data):
    print(at)
    at += struct.unpack("<i", data[at:at + 4])[0]
print(len(data))' "$1"
}

@test "snap-import --help prints usage on stdout and exits 0" {
	run snap-import --help
	assert_success
	assert_output --partial 'usage: snap-import'
	run snap-import --jobs 0 "$DST_URI"
	assert_failure 2
	run snap-import --into nodot /dev/null "$DST_URI"
	assert_failure 2
}

@test "an input that cannot be opened is exit 2 in snap-import and sync-check alike" {
	run --separate-stderr snap-import "$BATS_TEST_TMPDIR/missing.bson" "$DST_URI"
	assert_failure 2
	assert_equal "$stderr" "snap-import: $BATS_TEST_TMPDIR/missing.bson: cannot open: No such file or directory"
	run --separate-stderr sync-check --recheck "$BATS_TEST_TMPDIR/missing.bson" "$SRC_URI" "$DST_URI"
	assert_failure 2
	[[ $stderr == *"$BATS_TEST_TMPDIR/missing.bson"*"No such file or directory"* ]]
}

@test "a snapshot cut anywhere: exit 3 with a clear error, what came before stays" {
	db=$(unique_db cut)
	snapshot "$db" 40 "$BATS_TEST_TMPDIR/snap.bson"
	size=$(stat -c %s "$BATS_TEST_TMPDIR/snap.bson")
	offsets=($(frame_offsets "$BATS_TEST_TMPDIR/snap.bson"))
	header_end=${offsets[1]}
	trailer_start=${offsets[-2]}
	# Inside a frame: the stream reader names the entry and byte offset.
	for cut in 3 $((header_end + 7)) $((size / 2)) $((size - 1)); do
		run bash -c "head -c $cut '$BATS_TEST_TMPDIR/snap.bson' | snap-import --drop '$DST_URI'"
		assert_failure 3
		assert_output --regexp "snap-import: stdin: entry [0-9]+ at byte [0-9]+: truncated"
	done
	# On a frame boundary the stream is valid but has no trailer.
	for cut in "$header_end" "$trailer_start"; do
		run bash -c "head -c $cut '$BATS_TEST_TMPDIR/snap.bson' | snap-import --drop '$DST_URI'"
		assert_failure 3
		assert_output 'snap-import: stdin: incomplete snapshot: no trailer'
	done
	# Everything but the trailer arrived: the documents are in.
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$db.c")
}

@test "corrupt BSON input: exit 3 and a message naming the offset, never a crash" {
	for f in bad_cstring bad_type broken_array partial_file random_bytes invalid_field_name; do
		run snap-import "$BSON/$f.bson" "$DST_URI"
		assert_failure 3
		assert_output --regexp "snap-import: .*$f.bson: entry [0-9]+ at byte [0-9]+: "
	done
}

@test "an oplog is not a snapshot: exit 3, pointing at oplog-apply" {
	run snap-import --ns 'nothing.*' "$DUMPS/oplog_partial_skips/oplog.bson" "$DST_URI"
	assert_failure 3
	assert_output --regexp "entry [0-9]+ at byte [0-9]+: op 'd' is not a snapshot entry .*oplog-apply"
}

@test "a rerun converges; --drop replaces what the target held" {
	db=$(unique_db rerun)
	snapshot "$db" 100 "$BATS_TEST_TMPDIR/snap.bson"
	snap-import "$BATS_TEST_TMPDIR/snap.bson" "$DST_URI"
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 5}, "u": {"$set": {"s": "changed"}}}]}'
	echo '{"_id": "extra"}' | mongo_insert "$DST_URI" "$db.c"
	# Without --drop: the snapshot's documents win, others are left alone.
	run snap-import "$BATS_TEST_TMPDIR/snap.bson" "$DST_URI"
	assert_success
	diff <(mongo_dump "$SRC_URI" "$db.c"; echo '{ "_id" : "extra" }') <(mongo_dump "$DST_URI" "$db.c")
	run snap-import --drop "$BATS_TEST_TMPDIR/snap.bson" "$DST_URI"
	assert_success
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$db.c")
	assert_equal "$(indexes "$DST_URI" "$db.c")" "$(indexes "$SRC_URI" "$db.c")"
}

@test "snap-import --ns and --rename pick and move collections" {
	db=$(unique_db rename)
	other=$(unique_db renamed)
	echo '{"_id": 1, "in": "a"}' | mongo_insert "$SRC_URI" "$db.a"
	echo '{"_id": 1, "in": "b"}' | mongo_insert "$SRC_URI" "$db.b"
	snap-export --ns "$db.*" "$SRC_URI" >"$BATS_TEST_TMPDIR/snap.bson"
	run snap-import --ns "$db.a" --rename "$db.*=$other.*" "$BATS_TEST_TMPDIR/snap.bson" "$DST_URI"
	assert_success
	diff <(mongo_dump "$SRC_URI" "$db.a") <(mongo_dump "$DST_URI" "$other.a")
	assert_equal "$(mongo_dump "$DST_URI" "$other.b")" ""
	assert_equal "$(mongo_dump "$DST_URI" "$db.a")" ""
}

@test "mongodump directories from the fixtures import the documents and indexes they hold" {
	db=$(unique_db dumps)
	run snap-import --progress --rename "db1.*=$db.*" --rename "test.*=$db.*" \
		--rename "mongodump_test_db.*=$db.*" "$DUMPS/oplogdump" "$DST_URI"
	assert_success
	assert_output --partial 'oplog.bson: not imported: replay it with oplog-apply'
	assert_output --regexp "snap-import: $db.c1: 5 documents"
	diff <(oplog-show "$DUMPS/oplogdump/db1/c1.bson" | sort) <(mongo_dump "$DST_URI" "$db.c1" | sort)
	# admin.* is left out by default, like every other program's default.
	refute_output --partial 'admin.system.version'

	# This dump holds two documents with one key of a unique index (its
	# oplog deletes one): the data goes in, the index waits for the replay.
	run snap-import --rename "test.*=$db.*" "$DUMPS/duplicate_index_key_with_oplog" "$DST_URI"
	assert_success
	assert_output --partial "$db.foo: unique index a_1 not built: the snapshot holds duplicate keys"
	diff <(oplog-show "$DUMPS/duplicate_index_key_with_oplog/test/foo.bson" | sort) \
		<(mongo_dump "$DST_URI" "$db.foo" | sort)
	assert_equal "$(indexes "$DST_URI" "$db.foo")" \
		'[{"name":"_id_","key":{"_id":1},"unique":null,"expireAfterSeconds":null}]'
}

@test "a snap-export directory with a part missing is an incomplete snapshot: exit 3" {
	db=$(unique_db missing)
	seq 1 600 | awk '{printf "{\"_id\": %d}\n", $1}' | mongo_insert "$SRC_URI" "$db.c"
	snap-export --chunk-docs 200 --ns "$db.*" -o "$BATS_TEST_TMPDIR/dir/" "$SRC_URI"
	rm "$(ls "$BATS_TEST_TMPDIR"/dir/*.bson | tail -1)"
	run snap-import "$BATS_TEST_TMPDIR/dir" "$DST_URI"
	assert_failure 3
	assert_output --partial 'incomplete snapshot: a part is missing (rerun snap-export -o'
}

@test "snap-import --into loads a plain BSON file of documents" {
	db=$(unique_db into)
	run snap-import --into "$db.sample" "$BSON/sample.bson" "$DST_URI"
	assert_success
	diff <(oplog-show "$BSON/sample.bson" | sort) <(mongo_dump "$DST_URI" "$db.sample" | sort)
}

@test "a live mongodump of the source imports identically" {
	db=$(unique_db mongodump)
	seq 1 200 | awk '{printf "{\"_id\": %d, \"k\": \"k%d\", \"d\": {\"x\": [%d, {\"y\": 1}]}}\n", $1, $1, $1}' |
		mongo_insert "$SRC_URI" "$db.c"
	mongo_cmd "$SRC_URI" "$db" '{"createIndexes": "c", "indexes": [{"key": {"k": 1}, "name": "k_1", "unique": true}]}' >/dev/null
	run "$PEERS/mongodump" --quiet --uri "$SRC_URI" --db "$db" --out "$BATS_TEST_TMPDIR/dump"
	assert_success
	run snap-import "$BATS_TEST_TMPDIR/dump" "$DST_URI"
	assert_success
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$db.c")
	assert_equal "$(indexes "$DST_URI" "$db.c")" "$(indexes "$SRC_URI" "$db.c")"
}

@test "an index the server cannot build: exit 4 naming it, the documents are in" {
	db=$(unique_db ttl)
	# A TTL index: FerretDB has no expireAfterSeconds.
	run snap-import --rename "mongodump_test_db.*=$db.*" "$DUMPS/collMod_ttl_index" "$DST_URI"
	if [[ $status -eq 0 ]]; then
		assert_equal "$(indexes "$DST_URI" "$db.coll1" | jq -c '.[1]')" \
			'{"name":"a_1","key":{"a":1},"unique":null,"expireAfterSeconds":1000}'
	else
		assert_failure 4
		assert_output --partial "snap-import: $db.coll1: index a_1 failed: "
	fi
	diff <(oplog-show "$DUMPS/collMod_ttl_index/mongodump_test_db/coll1.bson" | sort) \
		<(mongo_dump "$DST_URI" "$db.coll1" | sort)
}

@test "snap-import --progress and --metrics count against the estimate in the stream's header" {
	db=$(unique_db estimate)
	other=$(unique_db estimated)
	snapshot "$db" 300 "$BATS_TEST_TMPDIR/snap.bson"
	echo '{"_id": 1}' | mongo_insert "$SRC_URI" "$db.skipped"
	snap-export --ns "$db.*" -o "$BATS_TEST_TMPDIR/two.bson" "$SRC_URI"
	size=$(estimated_bytes "$db")
	mb=
	[[ $size == null ]] || mb=/$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }')
	# --ns keeps one collection of two: the total is that collection's.
	run --separate-stderr snap-import --progress --ns "$db.c" --rename "$db.*=$other.*" \
		--metrics "$BATS_TEST_TMPDIR/import.prom" --metrics-log "$BATS_TEST_TMPDIR/import.log" \
		"$BATS_TEST_TMPDIR/two.bson" "$DST_URI"
	assert_success
	[[ $stderr =~ "snap-import: done: 300/300 documents (100%), "[0-9.]+"$mb MB, "[0-9]+" docs/s, ETA 0s" ]]
	assert_equal "$(mongo_dump "$DST_URI" "$other.c" | wc -l)" 300
	assert_counted_against_estimate 300 "$size" "$BATS_TEST_TMPDIR/import.prom" "$BATS_TEST_TMPDIR/import.log"
}

@test "a snap-export -o directory carries the estimate in its manifest: snap-import counts against it" {
	db=$(unique_db direstimate)
	other=$(unique_db direstimated)
	seq 1 500 | awk '{printf "{\"_id\": %d, \"s\": \"value %d\"}\n", $1, $1}' |
		mongo_insert "$SRC_URI" "$db.c"
	echo '{"_id": 1}' | mongo_insert "$SRC_URI" "$db.skipped"
	dir=$BATS_TEST_TMPDIR/dir/
	snap-export --chunk-docs 200 --ns "$db.*" -o "$dir" "$SRC_URI"
	# Several parts, none of which carries a count of its own.
	(($(ls "$dir"/*.bson | wc -l) > 2))
	for part in "$dir"/*.bson; do
		assert_equal "$(oplog-show --relaxed "$part" | head -1 | jq -c '.o.estimate')" null
	done
	size=$(estimated_bytes "$db")
	assert_equal "$(jq -c '.estimate.collections | map({ns, documents: (.documents."$numberLong" | tonumber)})' "$dir/manifest.json")" \
		"[{\"ns\":\"$db.c\",\"documents\":500},{\"ns\":\"$db.skipped\",\"documents\":1}]"
	# A rerun continues the plan, and counts against the estimate it drew.
	rm "$(ls "$dir"/*.bson | tail -1)"
	snap-export --chunk-docs 200 --ns "$db.*" -o "$dir" --metrics "$BATS_TEST_TMPDIR/rerun.prom" \
		"$SRC_URI" 2>/dev/null
	grep -qx "oplogkit_documents_estimated{program=\"snap-export\",name=\"\"} 501" "$BATS_TEST_TMPDIR/rerun.prom"
	# --ns keeps one collection of two: the total is that collection's.
	run --separate-stderr snap-import --progress --ns "$db.c" --rename "$db.*=$other.*" \
		--metrics "$BATS_TEST_TMPDIR/dir.prom" --metrics-log "$BATS_TEST_TMPDIR/dir.log" \
		"$dir" "$DST_URI"
	assert_success
	[[ $stderr =~ "snap-import: done: 500/500 documents (100%), " ]]
	[[ $stderr =~ "ETA 0s" ]]
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$other.c")
	assert_counted_against_estimate 500 "$size" "$BATS_TEST_TMPDIR/dir.prom" "$BATS_TEST_TMPDIR/dir.log"
}

@test "a snap-export directory whose manifest has no estimate (older snap-export) imports with no total" {
	db=$(unique_db dirnoestimate)
	other=$(unique_db dirnoestimated)
	seq 1 300 | awk '{printf "{\"_id\": %d}\n", $1}' | mongo_insert "$SRC_URI" "$db.c"
	dir=$BATS_TEST_TMPDIR/dir/
	snap-export --chunk-docs 200 --ns "$db.*" -o "$dir" "$SRC_URI"
	jq 'del(.estimate)' "$dir/manifest.json" >"$BATS_TEST_TMPDIR/m.json"
	mv "$BATS_TEST_TMPDIR/m.json" "$dir/manifest.json"
	run --separate-stderr snap-import --progress --rename "$db.*=$other.*" \
		--metrics "$BATS_TEST_TMPDIR/old.prom" "$dir" "$DST_URI"
	assert_success
	[[ $stderr =~ "snap-import: done: 300 documents, " ]]
	[[ $stderr != *ETA* && $stderr != *%* ]]
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$other.c")
	run grep -c '^oplogkit_documents_estimated{' "$BATS_TEST_TMPDIR/old.prom"
	assert_output 0
}

@test "a stream without an estimate (older snap-export) imports: no total, no percentage, no ETA" {
	db=$(unique_db noestimate)
	other=$(unique_db noestimated)
	snapshot "$db" 120 "$BATS_TEST_TMPDIR/snap.bson"
	# The header as version 1 wrote it before the estimate: o ends at t0.
	python3 -c '
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
at = data.index(b"\x03estimate\x00")
size = 1 + len(b"estimate\x00") + struct.unpack("<i", data[at + 10:at + 14])[0]
del data[at:at + size]
o = data.index(b"\x03o\x00")
struct.pack_into("<i", data, o + 3, struct.unpack("<i", data[o + 3:o + 7])[0] - size)
struct.pack_into("<i", data, 0, struct.unpack("<i", data[0:4])[0] - size)
open(sys.argv[2], "wb").write(data)' "$BATS_TEST_TMPDIR/snap.bson" "$BATS_TEST_TMPDIR/old.bson"
	assert_equal "$(oplog-show "$BATS_TEST_TMPDIR/old.bson" | head -1 | jq -c '.o | keys')" \
		'["kind","msg","source","t0","version"]'
	run --separate-stderr snap-import --progress --rename "$db.*=$other.*" \
		--metrics "$BATS_TEST_TMPDIR/old.prom" --metrics-log "$BATS_TEST_TMPDIR/old.log" \
		"$BATS_TEST_TMPDIR/old.bson" "$DST_URI"
	assert_success
	[[ $stderr =~ "snap-import: done: 120 documents, "[0-9.]+" MB, "[0-9]+" docs/s"$'\n' ]]
	[[ $stderr != *ETA* && $stderr != *%* ]]
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$other.c")
	grep -qx "oplogkit_documents_done_total{program=\"snap-import\",name=\"\"} 120" "$BATS_TEST_TMPDIR/old.prom"
	run grep -c '^oplogkit_documents_estimated{' "$BATS_TEST_TMPDIR/old.prom"
	assert_output 0
	assert_equal "$(tail -1 "$BATS_TEST_TMPDIR/old.log" | jq -c '[.documents, .documents_total]')" '[120,null]'
}
