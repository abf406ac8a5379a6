#!/usr/bin/env bats
# oplog-show: streams as Extended JSON lines (libbson's canonical or
# relaxed form, or bsondump's very text), and --stats.

load lib/helpers
bats_require_minimum_version 1.5.0

setup() {
	TD=$FIXTURES/mongo-tools/bsondump/testdata
	RD=$FIXTURES/mongo-tools/mongorestore/testdata
	# What MongoDB's bsondump printed for the same files (bsondump --quiet FILE),
	# kept so the comparison holds without it; regenerate them with it.
	EXPECTED=$ROOT/tests/data/bsondump
	TOOLS=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}
}

# MongoDB's bsondump, when `scripts/setup --peers` built it; else nothing.
peer_bsondump() {
	local bsondump=${OPLOGKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oplogkit}/peers/bsondump
	[[ -x $bsondump ]] && echo "$bsondump"
	return 0
}

# same_as_bsondump FILE EXPECTED [--pretty]: oplog-show's text is EXPECTED,
# byte for byte, and so is bsondump's own when it is here.
same_as_bsondump() {
	local bsondump
	oplog-show --format=bsondump $3 "$1" >"$BATS_TEST_TMPDIR/ours" ||
		fail "oplog-show failed on $1"
	cmp "$BATS_TEST_TMPDIR/ours" "$2" || fail "$1: oplog-show --format=bsondump $3 differs from $2"
	bsondump=$(peer_bsondump)
	if [[ -n $bsondump ]]; then
		"$bsondump" --quiet $3 "$1" >"$BATS_TEST_TMPDIR/theirs"
		cmp "$BATS_TEST_TMPDIR/theirs" "$2" || fail "$1: bsondump $3 no longer prints $2"
	fi
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

@test "oplog-show --format=bsondump prints byte for byte what MongoDB's bsondump prints" {
	same_as_bsondump "$TD/all_types.bson" "$EXPECTED/all_types.json"
	same_as_bsondump "$TD/all_in_one_doc.bson" "$EXPECTED/all_in_one_doc.json"
	same_as_bsondump "$TD/sample.bson" "$EXPECTED/sample.json"
	same_as_bsondump "$RD/oplogdump/oplog.bson" "$EXPECTED/oplog.json"
	# Doubles as bsondump writes them, not libbson's 17 digits.
	run grep -c '"ex":{"$numberDouble":"17.76"}' "$EXPECTED/all_types.json"
	assert_output 1
	# Every power of two, random doubles and decimals, every escape, every
	# binary subtype, objects nested around bsondump's limit (tests/tools/gen-values.c).
	"$TOOLS/gen-values" >"$BATS_TEST_TMPDIR/values.bson"
	same_as_bsondump "$BATS_TEST_TMPDIR/values.bson" "$EXPECTED/values.json"
}

@test "oplog-show --format=bsondump --pretty is bsondump --pretty" {
	same_as_bsondump "$TD/all_in_one_doc.bson" "$EXPECTED/all_in_one_doc.pretty.json" --pretty
}

@test "oplog-show --format=bsondump leaves out what bsondump leaves out (past 200 nested objects), saying so" {
	run --separate-stderr oplog-show --format=bsondump "$TD/deep_nested.bson"
	assert_success
	assert_output ''
	[[ $stderr == *"entry 1 at byte 0: nests more than 200 objects or holds a DBPointer namespace bsondump cannot read back: left out, as bsondump leaves it out"* ]] ||
		fail "no warning: $stderr"
	# The default format shows it (as deep as libbson shows anything).
	assert_equal "$(oplog-show "$TD/deep_nested.bson" | wc -l)" 1
}

@test "oplog-show --relaxed keeps an int64 past 2^53 exact for jq, as {\"\$numberLong\": ...}" {
	echo '{"big": {"$numberLong": "9007199254740993"}, "neg": [{"$numberLong": "-9223372036854775808"}], "small": {"$numberLong": "12"}, "i": 5}' |
		"$TOOLS/json2bson" >"$BATS_TEST_TMPDIR/big.bson"
	run oplog-show --relaxed "$BATS_TEST_TMPDIR/big.bson"
	assert_success
	assert_equal "$(jq -r '.big["$numberLong"]' <<<"$output")" 9007199254740993
	assert_equal "$(jq -r '.neg[0]["$numberLong"]' <<<"$output")" -9223372036854775808
	# What a double holds exactly stays a plain number.
	assert_equal "$(jq -c '[.small, .i]' <<<"$output")" '[12,5]'
	assert_equal "$(oplog-show --format=relaxed "$BATS_TEST_TMPDIR/big.bson")" "$output"
}

@test "oplog-show --format with an unknown name exits 2 and names the formats" {
	run oplog-show --format=yaml "$TD/sample.bson"
	assert_failure 2
	assert_output --partial 'is not canonical, relaxed or bsondump'
}
