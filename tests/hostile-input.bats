#!/usr/bin/env bats
# Hostile input: every corrupt fixture, the fuzzers' findings and the
# hand-made cases (a cut zstd stream, garbage after zstd frames, a frame
# one byte over the limit, stray bytes) against every program that reads
# a stream. Each hostile part follows a valid prefix the program accepts,
# so the test also sees that the error names the right entry and byte
# and that what came before it is not lost. Each run has `timeout 20`:
# 124 is a hang. Under SANITIZE=1, tests/run counts sanitizer reports.

load lib/helpers

JSON2BSON=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson
LIMIT=$((16 * 1024 * 1024 + 16 * 1024))

# le32 N: N as 4 little-endian bytes.
le32() {
	printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
	    $((($1 >> 16) & 255)) $((($1 >> 24) & 255)))"
}

# The valid prefixes: three inserts, a snapshot's start, three records.
oplog_prefix() {
	local db=$1 i
	for i in 1 2 3; do
		printf '{"ts":{"$timestamp":{"t":1700000000,"i":%d}},"op":"i","ns":"%s.c","o":{"_id":%d,"x":"v%d"}}\n' \
		    "$i" "$db" "$i" "$i"
	done | "$JSON2BSON"
}

snapshot_prefix() {
	local db=$1 ts='{"$timestamp":{"t":1700000000,"i":0}}' i
	{
		printf '{"ts":%s,"op":"n","ns":"","o":{"msg":"oplogkit stream","version":1,"kind":"snapshot","source":"","t0":%s}}\n' "$ts" "$ts"
		printf '{"ts":%s,"op":"c","ns":"%s.$cmd","o":{"create":"c"}}\n' "$ts" "$db"
		for i in 1 2; do
			printf '{"ts":%s,"op":"i","ns":"%s.c","o":{"_id":%d}}\n' "$ts" "$db" "$i"
		done
	} | "$JSON2BSON"
}

records_prefix() {
	local db=$1 i
	for i in 1 2 3; do
		printf '{"ns":"%s.c","_id":%d,"kind":"missing"}\n' "$db" "$i"
	done | "$JSON2BSON"
}

# hostile_inputs PREFIX DIR: one file per hostile case, each PREFIX then the case.
hostile_inputs() {
	local prefix=$1 dir=$2 f name
	mkdir -p "$dir"
	for f in "$FIXTURES"/mongo-tools/bsondump/testdata/{bad_cstring,bad_type,broken_array,partial_file,random_bytes,invalid_field_name}.bson \
	    "$FIXTURES"/mongo-tools/mongorestore/testdata/bad-format.archive; do
		name=${f##*/}
		cat "$prefix" "$f" >"$dir/fixture-$name"
	done
	for f in "$ROOT"/tests/fuzz/regressions/fuzz_stream-embedded-*; do
		cat "$prefix" "$f" >"$dir/fuzz-${f##*/}"
	done
	# A frame one byte over the limit: its length alone must stop the reader.
	{ cat "$prefix"; le32 $((LIMIT + 1)); head -c 64 /dev/zero; } >"$dir/frame-over-limit"
	{ cat "$prefix"; printf 'abc'; } >"$dir/three-stray-bytes"
	# zstd: the prefix and more entries, cut short; a whole frame, then garbage.
	cat "$prefix" "$prefix" "$prefix" | zstd -q -c | head -c -9 >"$dir/zstd-truncated"
	{ zstd -q -c "$prefix"; printf 'garbage after the last zstd frame'; } >"$dir/zstd-garbage"
}

# prepare_inputs PREFIX_FUNCTION DB: the hostile inputs made from the
# stream PREFIX_FUNCTION DB writes, in $BATS_TEST_TMPDIR/in; no failures yet.
prepare_inputs() {
	"$1" "$2" >"$BATS_TEST_TMPDIR/prefix"
	hostile_inputs "$BATS_TEST_TMPDIR/prefix" "$BATS_TEST_TMPDIR/in"
	failures=()
}

# expect_bad_stream NAME FILE CMD...: exit 3, a message naming the entry and
# byte, no hang, no sanitizer report; failures are collected in $failures.
expect_bad_stream() {
	local name=$1 file=$2 status
	shift 2
	timeout 20 "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" && status=0 || status=$?
	if ((status != 3)); then
		failures+=("$name ${file##*/}: exit $status, not 3: $(head -c 300 "$BATS_TEST_TMPDIR/err")")
	elif ! grep -Eq "^$name: .*(entry [0-9]+ at byte [0-9]+|record [0-9]+)" "$BATS_TEST_TMPDIR/err"; then
		failures+=("$name ${file##*/}: message names no entry and byte: $(head -c 300 "$BATS_TEST_TMPDIR/err")")
	elif grep -Eq 'Sanitizer|runtime error' "$BATS_TEST_TMPDIR/err"; then
		failures+=("$name ${file##*/}: sanitizer report")
	fi
}

report() {
	if ((${#failures[@]})); then
		printf '%s\n' "${failures[@]}"
		return 1
	fi
}

@test "oplog-show exits 3 naming entry and byte on every hostile input" {
	prepare_inputs oplog_prefix "$(unique_db show)"
	for f in "$BATS_TEST_TMPDIR"/in/*; do
		expect_bad_stream oplog-show "$f" oplog-show "$f"
	done
	report
}

@test "oplog-filter exits 3 naming entry and byte on every hostile input" {
	prepare_inputs oplog_prefix "$(unique_db filter)"
	for f in "$BATS_TEST_TMPDIR"/in/*; do
		expect_bad_stream oplog-filter "$f" oplog-filter -o "$BATS_TEST_TMPDIR/filtered" "$f"
		expect_bad_stream oplog-filter "$f" oplog-filter --ns 'x.*' -z -o "$BATS_TEST_TMPDIR/filtered" "$f"
	done
	report
}

@test "oplog-apply exits 3 naming entry and byte on every hostile input" {
	db=$(unique_db apply)
	prepare_inputs oplog_prefix "$db"
	n=0
	for f in "$BATS_TEST_TMPDIR"/in/*; do
		expect_bad_stream oplog-apply "$f" oplog-apply -q --name "$db-$((n++))" "$f" "$DST_URI"
	done
	report
}

@test "snap-import exits 3 naming entry and byte on every hostile input" {
	db=$(unique_db import)
	prepare_inputs snapshot_prefix "$db"
	for f in "$BATS_TEST_TMPDIR"/in/*; do
		expect_bad_stream snap-import "$f" snap-import "$f" "$DST_URI"
	done
	report
}

@test "sync-check --recheck exits 3 naming the record on every hostile input" {
	prepare_inputs records_prefix "$(unique_db recheck)"
	for f in "$BATS_TEST_TMPDIR"/in/*; do
		expect_bad_stream sync-check "$f" sync-check --recheck "$f" "$SRC_URI" "$DST_URI"
	done
	report
}

@test "the error names the first bad entry and its offset, after the valid ones" {
	oplog_prefix "$(unique_db offset)" >"$BATS_TEST_TMPDIR/prefix"
	size=$(stat -c %s "$BATS_TEST_TMPDIR/prefix")
	cat "$BATS_TEST_TMPDIR/prefix" "$FIXTURES/mongo-tools/bsondump/testdata/bad_type.bson" >"$BATS_TEST_TMPDIR/bad"
	run timeout 20 oplog-show "$BATS_TEST_TMPDIR/bad"
	assert_equal "$status" 3
	assert_output --partial "oplog-show: $BATS_TEST_TMPDIR/bad: entry 4 at byte $size: invalid BSON"
	assert_equal "$(grep -c '"op" : "i"' <<<"$output")" 3
}

@test "oplog-filter's output before a bad entry is exactly the valid prefix, plain and zstd" {
	oplog_prefix "$(unique_db prefix)" >"$BATS_TEST_TMPDIR/prefix"
	cat "$BATS_TEST_TMPDIR/prefix" "$FIXTURES/mongo-tools/bsondump/testdata/partial_file.bson" >"$BATS_TEST_TMPDIR/bad"
	run timeout 20 oplog-filter -o "$BATS_TEST_TMPDIR/plain" "$BATS_TEST_TMPDIR/bad"
	assert_equal "$status" 3
	# partial_file.bson's own two whole documents pass too: they are valid frames.
	head -c 164 "$FIXTURES/mongo-tools/bsondump/testdata/partial_file.bson" |
	    cat "$BATS_TEST_TMPDIR/prefix" - >"$BATS_TEST_TMPDIR/expected"
	cmp "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/plain"
	# From stdin, compressed: the zstd frame is closed, the content the same.
	run bash -c "timeout 20 oplog-filter -z -o '$BATS_TEST_TMPDIR/z' < '$BATS_TEST_TMPDIR/bad'"
	assert_equal "$status" 3
	zstd -q -t "$BATS_TEST_TMPDIR/z"
	zstd -q -d -c "$BATS_TEST_TMPDIR/z" | cmp "$BATS_TEST_TMPDIR/expected" -
}

@test "oplog-apply keeps what it applied before a bad entry and checkpoints the last good one" {
	db=$(unique_db keep)
	oplog_prefix "$db" >"$BATS_TEST_TMPDIR/prefix"
	for tail in bad_type.bson zstd; do
		if [[ $tail == zstd ]]; then
			# A whole zstd frame with the prefix, then one cut short.
			{ zstd -q -c "$BATS_TEST_TMPDIR/prefix"
			  oplog_prefix "$db-more" | zstd -q -c | head -c -5; } >"$BATS_TEST_TMPDIR/bad"
		else
			cat "$BATS_TEST_TMPDIR/prefix" "$FIXTURES/mongo-tools/bsondump/testdata/$tail" >"$BATS_TEST_TMPDIR/bad"
		fi
		run timeout 20 oplog-apply -q --name "$db-$tail" "$BATS_TEST_TMPDIR/bad" "$DST_URI"
		assert_equal "$status" 3
		run mongo_dump "$DST_URI" "$db.c"
		assert_equal "${#lines[@]}" 3
		assert_line --index 2 --partial '"x" : "v3"'
		run mongo_dump "$DST_URI" oplogkit.checkpoints
		assert_line --partial "\"_id\" : \"$db-$tail\", \"ts\" : { \"\$timestamp\" : { \"t\" : 1700000000, \"i\" : 3 } }"
	done
}

@test "snap-import keeps the documents before a bad entry and says the snapshot is not done" {
	db=$(unique_db snapkeep)
	snapshot_prefix "$db" >"$BATS_TEST_TMPDIR/prefix"
	cat "$BATS_TEST_TMPDIR/prefix" "$FIXTURES/mongo-tools/bsondump/testdata/random_bytes.bson" >"$BATS_TEST_TMPDIR/bad"
	run timeout 20 snap-import "$BATS_TEST_TMPDIR/bad" "$DST_URI"
	assert_equal "$status" 3
	run mongo_dump "$DST_URI" "$db.c"
	assert_equal "${#lines[@]}" 2
}

@test "an empty file is a valid stream of zero entries for every program" {
	: >"$BATS_TEST_TMPDIR/empty"
	run timeout 20 oplog-show "$BATS_TEST_TMPDIR/empty"
	assert_success
	assert_output ""
	run timeout 20 oplog-filter -o "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/empty"
	assert_success
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/out")" 0
	run timeout 20 oplog-apply -q --name "$(unique_db empty)" "$BATS_TEST_TMPDIR/empty" "$DST_URI"
	assert_success
	run timeout 20 snap-import "$BATS_TEST_TMPDIR/empty" "$DST_URI"
	assert_success
	run timeout 20 sync-check --recheck "$BATS_TEST_TMPDIR/empty" "$SRC_URI" "$DST_URI"
	assert_success
}

@test "a 3-byte file is a truncated stream for every program" {
	printf 'abc' >"$BATS_TEST_TMPDIR/three"
	f=$BATS_TEST_TMPDIR/three
	failures=()
	expect_bad_stream oplog-show "$f" oplog-show "$f"
	expect_bad_stream oplog-filter "$f" oplog-filter -o "$BATS_TEST_TMPDIR/out" "$f"
	expect_bad_stream oplog-apply "$f" oplog-apply -q --name "$(unique_db three)" "$f" "$DST_URI"
	expect_bad_stream snap-import "$f" snap-import "$f" "$DST_URI"
	expect_bad_stream sync-check "$f" sync-check --recheck "$f" "$SRC_URI" "$DST_URI"
	report
	run oplog-show "$f"
	assert_output --partial "entry 1 at byte 0: truncated: 3 stray bytes"
}

@test "a frame of exactly the limit is read; one byte more is refused by its length" {
	# {_id: 1, s: "x...x"}: 4 + (1+4+4) + (1+2+4+n+1) + 1 bytes.
	n=$((LIMIT - 22))
	{
		le32 "$LIMIT"
		printf '\x10_id\x00\x01\x00\x00\x00\x02s\x00'
		le32 $((n + 1))
		head -c "$n" /dev/zero | tr '\0' x
		printf '\x00\x00'
	} >"$BATS_TEST_TMPDIR/limit"
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/limit")" "$LIMIT"
	run timeout 20 oplog-show --stats "$BATS_TEST_TMPDIR/limit"
	assert_success
	assert_output --partial "entries 1 "
	# The same frame, one byte longer (its length field and one more x).
	{ le32 $((LIMIT + 1)); tail -c +5 "$BATS_TEST_TMPDIR/limit"; printf 'x'; } >"$BATS_TEST_TMPDIR/over"
	run timeout 20 oplog-show "$BATS_TEST_TMPDIR/over"
	assert_equal "$status" 3
	assert_output --partial "entry 1 at byte 0: frame length $((LIMIT + 1)) exceeds the limit of $LIMIT bytes"
}

@test "a string that is not UTF-8 is copied by oplog-filter and refused by oplog-show with its offset" {
	# The fuzzer's input: this entry, then stray bytes.
	head -c 59 "$ROOT/tests/fuzz/regressions/fuzz_stream-string-not-utf8" >"$BATS_TEST_TMPDIR/utf8"
	f=$BATS_TEST_TMPDIR/utf8
	run timeout 20 oplog-filter -o "$BATS_TEST_TMPDIR/copy" "$f"
	assert_success
	cmp "$f" "$BATS_TEST_TMPDIR/copy"
	run timeout 20 oplog-show "$f"
	assert_equal "$status" 3
	assert_output --partial "entry 1 at byte 0: cannot be shown as Extended JSON"
}
