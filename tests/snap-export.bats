#!/usr/bin/env bats
# snap-export: a server's collections, as of T0, as one snapshot stream or
# a resumable directory of part streams, read back by snap-import, oplog-show
# and MongoDB's own bsondump.

load lib/helpers
bats_require_minimum_version 1.5.0

ALL_TYPES=$FIXTURES/mongo-tools/bsondump/testdata/all_types.bson

setup_file() {
	# The interop tests need MongoDB's tools: build them once into the cache.
	PEERS=$("$ROOT/scripts/build-peers.sh")
	export PEERS
}

# Every index of NS as {name, key, unique}, sorted by name, one line.
indexes() {
	mongo_cmd "$1" "${2%%.*}" "{\"listIndexes\": \"${2#*.}\"}" |
		jq -c '.cursor.firstBatch | map({name, key, unique}) | sort_by(.name)'
}

# The collections of DB with their options, sorted by name, one line.
collections() {
	mongo_cmd "$1" "$2" '{"listCollections": 1}' |
		jq -c '.cursor.firstBatch | map({name, options}) | sort_by(.name)'
}

# A source database worth copying: every BSON type the server stores, a
# document near 16 MiB, arrays nested (through documents), a capped collection, a secondary
# and a unique index.
populate() {
	local db=$1 line n=0
	while IFS= read -r line; do
		# FerretDB refuses some types (undefined, minKey, code...): keep the rest.
		printf '%s\n' "$line" | mongo_insert "$SRC_URI" "$db.types" >/dev/null 2>&1 || :
	done < <(oplog-show "$ALL_TYPES")
	n=$(mongo_dump "$SRC_URI" "$db.types" | wc -l)
	[ "$n" -ge 14 ]
	{
		printf '{"_id": "big", "s": "'
		head -c $((16 * 1024 * 1024 - 4096)) /dev/zero | tr '\0' x
		printf '"}\n'
		# FerretDB stores no array directly inside an array: nest through documents.
		echo '{"_id": "nested", "a": [1, {"b": [2, {"c": [3, {"d": []}]}]}], "m": {"x": {"y": [{"z": [{}]}]}}}'
	} | mongo_insert "$SRC_URI" "$db.shapes"
	seq 1 300 | awk '{printf "{\"_id\": %d, \"n\": %d, \"u\": \"u%d\"}\n", $1, $1 % 7, $1}' |
		mongo_insert "$SRC_URI" "$db.plain"
	mongo_cmd "$SRC_URI" "$db" '{"createIndexes": "plain", "indexes": [
		{"key": {"n": 1}, "name": "n_1"},
		{"key": {"u": 1}, "name": "u_1", "unique": true}]}' >/dev/null
	mongo_cmd "$SRC_URI" "$db" '{"create": "capped", "capped": true, "size": 65536}' >/dev/null
	echo '{"_id": 1}' | mongo_insert "$SRC_URI" "$db.capped"
}

# Whether DB on the target equals DB on the source: documents, indexes, options.
assert_same_database() {
	local db=$1 coll
	for coll in types shapes plain capped; do
		diff <(mongo_dump "$SRC_URI" "$db.$coll") <(mongo_dump "$DST_URI" "$db.$coll")
		assert_equal "$(indexes "$DST_URI" "$db.$coll")" "$(indexes "$SRC_URI" "$db.$coll")"
	done
	assert_equal "$(collections "$DST_URI" "$db")" "$(collections "$SRC_URI" "$db")"
}

@test "snap-export --help prints usage on stdout and exits 0" {
	run snap-export --help
	assert_success
	assert_output --partial 'usage: snap-export'
	run snap-export --consistency=maybe "$SRC_URI"
	assert_failure 2
	assert_output --partial 'fuzzy or lock'
}

@test "snap-export | snap-import copies every document, index and option" {
	db=$(unique_db roundtrip)
	populate "$db"
	snap-export --ns "$db.*" "$SRC_URI" >"$BATS_TEST_TMPDIR/snap.bson"
	run snap-import "$BATS_TEST_TMPDIR/snap.bson" "$DST_URI"
	assert_success
	assert_same_database "$db"
	# The near-16 MiB document made it whole.
	size=$(mongo_dump "$DST_URI" "$db.shapes" | head -1 | wc -c)
	[ "$size" -gt $((16 * 1024 * 1024 - 4096)) ]
}

@test "a snapshot is create, inserts, then createIndexes per collection, all at T0" {
	db=$(unique_db shape)
	seq 1 5 | awk '{printf "{\"_id\": %d}\n", $1}' | mongo_insert "$SRC_URI" "$db.c"
	mongo_cmd "$SRC_URI" "$db" '{"createIndexes": "c", "indexes": [{"key": {"x": -1}, "name": "x_-1", "unique": true}]}'
	# T0 is the newest oplog entry at the start (nothing writes meanwhile).
	newest=$(mongo_dump_bson "$SRC_URI" local.oplog.rs | oplog-show | tail -1 | jq -c .ts)
	snap-export --ns "$db.*" "$SRC_URI" | oplog-show >"$BATS_TEST_TMPDIR/snap.json"
	run jq -r '[.op, .ns, (.o | keys_unsorted[0])] | join(" ")' "$BATS_TEST_TMPDIR/snap.json"
	assert_output "n  msg
c $db.\$cmd create
i $db.c _id
i $db.c _id
i $db.c _id
i $db.c _id
i $db.c _id
c $db.\$cmd createIndexes
n  msg"
	assert_equal "$(jq -c .ts "$BATS_TEST_TMPDIR/snap.json" | sort -u)" "$newest"
	run jq -c 'select(.o.createIndexes) | .o' "$BATS_TEST_TMPDIR/snap.json"
	assert_output '{"createIndexes":"c","v":{"$numberInt":"2"},"key":{"x":{"$numberInt":"-1"}},"name":"x_-1","unique":true}'
	run jq -c 'select(.op == "n") | .o.kind, .o.count' "$BATS_TEST_TMPDIR/snap.json"
	assert_output '"snapshot"
null
null
{"$numberLong":"7"}'
}

@test "snap-export --t0 stamps the caller's T0 on the header and every entry" {
	db=$(unique_db t0)
	echo '{"_id": 1}' | mongo_insert "$SRC_URI" "$db.c"
	run bash -c "snap-export --t0 1700000000,7 --ns '$db.*' '$SRC_URI' | oplog-show | jq -c '.ts, .o.t0 // empty' | sort -u"
	assert_success
	assert_output '{"$timestamp":{"t":1700000000,"i":7}}'
}

@test "snap-export --consistency=lock on a server without fsyncLock: exit 4, nothing written" {
	out=$BATS_TEST_TMPDIR/locked.bson
	run snap-export --consistency=lock -o "$out" "$SRC_URI"
	assert_failure 4
	assert_output --partial 'cannot lock writes'
	assert_output --partial 'use --consistency=fuzzy'
	assert_file_not_exists "$out"
	run bash -c "snap-export --consistency=lock '$SRC_URI' 2>/dev/null | wc -c"
	assert_output '0'
}

@test "snap-export --jobs 4 over _id ranges gives the same entries as --jobs 1" {
	db=$(unique_db jobs)
	seq 1 2000 | awk '{printf "{\"_id\": %d, \"v\": \"%d\"}\n", $1, $1 * 3}' | mongo_insert "$SRC_URI" "$db.a"
	seq 1 700 | awk '{printf "{\"_id\": \"k%05d\"}\n", $1}' | mongo_insert "$SRC_URI" "$db.b"
	mongo_cmd "$SRC_URI" "$db" '{"createIndexes": "a", "indexes": [{"key": {"v": 1}, "name": "v_1"}]}'
	snap-export --ns "$db.*" --t0 1,1 "$SRC_URI" | oplog-show | sort >"$BATS_TEST_TMPDIR/one"
	snap-export --ns "$db.*" --t0 1,1 --jobs 4 --chunk-docs 150 "$SRC_URI" >"$BATS_TEST_TMPDIR/four.bson"
	oplog-show "$BATS_TEST_TMPDIR/four.bson" | sort >"$BATS_TEST_TMPDIR/four"
	diff "$BATS_TEST_TMPDIR/one" "$BATS_TEST_TMPDIR/four"
	[ "$(grep -c '"op" : "i"' "$BATS_TEST_TMPDIR/four")" -eq 2700 ]
	# Interleaved or not, each collection's create precedes its inserts,
	# and its indexes follow them.
	oplog-show "$BATS_TEST_TMPDIR/four.bson" | jq -r '
		[.op, (if .op == "c" then (.o.create // .o.createIndexes) else (.ns | split(".")[1]) end),
		 (.o | keys_unsorted[0])] | join(" ")' >"$BATS_TEST_TMPDIR/order"
	for c in a b; do
		create=$(grep -n "^c $c create\$" "$BATS_TEST_TMPDIR/order" | cut -d: -f1)
		first=$(grep -n "^i $c " "$BATS_TEST_TMPDIR/order" | head -1 | cut -d: -f1)
		last=$(grep -n "^i $c " "$BATS_TEST_TMPDIR/order" | tail -1 | cut -d: -f1)
		[ "$create" -lt "$first" ]
		for index in $(grep -n "^c $c createIndexes" "$BATS_TEST_TMPDIR/order" | cut -d: -f1); do
			[ "$index" -gt "$last" ]
		done
	done
}

@test "snap-export -o DIR writes whole part files and a rerun skips the finished ones" {
	db=$(unique_db resume)
	seq 1 1000 | awk '{printf "{\"_id\": %d, \"x\": %d}\n", $1, $1}' | mongo_insert "$SRC_URI" "$db.c"
	echo '{"_id": "only"}' | mongo_insert "$SRC_URI" "$db.d"
	dir=$BATS_TEST_TMPDIR/parts
	run snap-export -o "$dir/" --chunk-docs 200 --ns "$db.*" "$SRC_URI"
	assert_success
	parts=$(jq '.parts | length' "$dir/manifest.json")
	[ "$parts" -ge 5 ]
	for f in "$dir"/*.bson; do
		run bash -c "oplog-show '$f' | tail -1 | jq -r .o.msg"
		assert_output 'oplogkit end'
	done
	# An interrupted run leaves a part unfinished (here: removed) ...
	victim=$(ls "$dir"/*.bson | sed -n 3p)
	keep=$(ls "$dir"/*.bson | sed -n 1p)
	before=$(stat -c %Y.%i "$keep")
	rm "$victim"
	sleep 1
	run snap-export -o "$dir" --ns "$db.*" "$SRC_URI"
	assert_success
	assert_output --partial "$((parts - 1)) of $parts parts already complete, skipped"
	assert_file_exists "$victim"
	assert_equal "$(stat -c %Y.%i "$keep")" "$before"
	# ... and the directory imports as the whole collection.
	run snap-import "$dir" "$DST_URI"
	assert_success
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$db.c")
	diff <(mongo_dump "$SRC_URI" "$db.d") <(mongo_dump "$DST_URI" "$db.d")
}

@test "snap-export -z writes a zstd stream that snap-import reads" {
	db=$(unique_db zstd)
	seq 1 50 | awk '{printf "{\"_id\": %d, \"pad\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n", $1}' |
		mongo_insert "$SRC_URI" "$db.c"
	snap-export -z --ns "$db.*" -o "$BATS_TEST_TMPDIR/snap.zst" "$SRC_URI"
	run bash -c "head -c 4 '$BATS_TEST_TMPDIR/snap.zst' | od -An -tx1"
	assert_output ' 28 b5 2f fd'
	snap-import "$BATS_TEST_TMPDIR/snap.zst" "$DST_URI"
	diff <(mongo_dump "$SRC_URI" "$db.c") <(mongo_dump "$DST_URI" "$db.c")
}

@test "bsondump reads a snap-export stream entry for entry" {
	db=$(unique_db bsondump)
	seq 1 20 | awk '{printf "{\"_id\": %d}\n", $1}' | mongo_insert "$SRC_URI" "$db.c"
	snap-export --ns "$db.*" -o "$BATS_TEST_TMPDIR/snap.bson" "$SRC_URI"
	run "$PEERS/bsondump" --quiet "$BATS_TEST_TMPDIR/snap.bson"
	assert_success
	assert_equal "$(printf '%s\n' "$output" | wc -l)" "$(oplog-show "$BATS_TEST_TMPDIR/snap.bson" | wc -l)"
	assert_line --partial '"msg":"oplogkit end"'
	[ "$(printf '%s\n' "$output" | grep -c '"op":"i"')" -eq 20 ]
}

@test "snap-export of an unreachable server: exit 4 and a message, no stream" {
	run bash -c "snap-export 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500' > '$BATS_TEST_TMPDIR/none.bson'"
	assert_failure 4
	assert_output --partial 'snap-export:'
	run stat -c %s "$BATS_TEST_TMPDIR/none.bson"
	assert_output '0'
}

@test "snap-export carries the source's collStats count and size in its header; --progress and --metrics count against them" {
	db=$(unique_db estimate)
	seq 1 250 | awk '{printf "{\"_id\": %d, \"s\": \"value %d\"}\n", $1, $1}' |
		mongo_insert "$SRC_URI" "$db.c"
	# The byte total is collStats' size where it is the documents' (MongoDB),
	# none where it is the storage's (FerretDB 1.24: size == storageSize).
	size=$(mongo_cmd "$SRC_URI" "$db" '{"collStats": "c"}' |
		jq -r 'if (.size | tostring) != (.storageSize | tostring) then .size | tostring | tonumber else "" end')
	run --separate-stderr snap-export --progress --ns "$db.*" -o "$BATS_TEST_TMPDIR/snap.bson" \
		--metrics "$BATS_TEST_TMPDIR/export.prom" --metrics-log "$BATS_TEST_TMPDIR/export.log" "$SRC_URI"
	assert_success
	estimate=$(oplog-show --relaxed "$BATS_TEST_TMPDIR/snap.bson" | head -1 | jq -c .o.estimate)
	if [[ -n $size ]]; then
		assert_equal "$estimate" "{\"documents\":250,\"bytes\":$size,\"collections\":[{\"ns\":\"$db.c\",\"documents\":250,\"bytes\":$size}]}"
		mb=/$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }')
		grep -qx "oplogkit_document_bytes_estimated{program=\"snap-export\",name=\"\"} $size" "$BATS_TEST_TMPDIR/export.prom"
	else
		assert_equal "$estimate" "{\"documents\":250,\"collections\":[{\"ns\":\"$db.c\",\"documents\":250}]}"
		mb=
		run grep -c '^oplogkit_document_bytes_estimated{' "$BATS_TEST_TMPDIR/export.prom"
		assert_output 0
	fi
	[[ $stderr =~ "snap-export: done: 250/250 documents (100%), "[0-9.]+"$mb MB, "[0-9]+" docs/s, ETA 0s" ]]
	grep -qx "oplogkit_documents_estimated{program=\"snap-export\",name=\"\"} 250" "$BATS_TEST_TMPDIR/export.prom"
	grep -qx "oplogkit_documents_done_total{program=\"snap-export\",name=\"\"} 250" "$BATS_TEST_TMPDIR/export.prom"
	grep -q 'oplogkit_phase{.*phase="done"} 1' "$BATS_TEST_TMPDIR/export.prom"
	assert_equal "$(tail -1 "$BATS_TEST_TMPDIR/export.log" | jq -c '[.documents, .documents_total, .phase]')" \
		'[250,250,"done"]'
}
