#!/usr/bin/env bats
# SIGINT/SIGTERM: a program stopped by either leaves a stream the next
# stage reads whole (zstd frames closed) and, for an applier, a
# checkpoint the next run resumes from.

load lib/helpers

GEN=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/gen-oplog

@test "oplog-filter -z on a pipe stopped by SIGINT or SIGTERM closes its zstd frame and exits 0" {
	cd "$BATS_TEST_TMPDIR"
	for sig in INT TERM; do
		mkfifo "pipe-$sig"
		{ "$GEN" --entries 2000 --seed 7; sleep 10; } >"pipe-$sig" &
		writer=$!
		oplog-filter -z -o "out-$sig.zst" <"pipe-$sig" &
		filter=$!
		sleep 1
		kill -"$sig" "$filter"
		status=0
		wait "$filter" || status=$?
		kill "$writer" 2>/dev/null || true
		assert_equal "$status" 0
		zstd -q -t "out-$sig.zst"
		run oplog-show --stats "out-$sig.zst"
		assert_success
		assert_line --partial "entries 2000 "
	done
}

@test "oplog-apply --follow stopped by SIGTERM or SIGINT checkpoints, and --resume goes on from there" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db sig)
	for i in $(seq 1 200); do
		printf '{"ts":{"$timestamp":{"t":1700000000,"i":%d}},"op":"i","ns":"%s.c","o":{"_id":%d}}\n' "$i" "$db" "$i"
	done | "${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson" >all.bson
	# The spool holds the first 100 entries; the rest comes later.
	oplog-filter --until 1700000000,100 -o spool all.bson
	for sig in TERM INT; do
		oplog-apply -q --follow --name "$db-$sig" spool "$DST_URI" &
		pid=$!
		sleep 1.5
		kill -"$sig" "$pid"
		status=0
		wait "$pid" || status=$?
		assert_equal "$status" 0
		run mongo_dump "$DST_URI" oplogkit.checkpoints
		assert_line --partial "\"_id\" : \"$db-$sig\", \"ts\" : { \"\$timestamp\" : { \"t\" : 1700000000, \"i\" : 100 } }"
	done
	# The rest arrives; a resumed run applies it.
	run oplog-apply -q --resume --name "$db-TERM" all.bson "$DST_URI"
	assert_success
	run mongo_dump "$DST_URI" "$db.c"
	assert_equal "${#lines[@]}" 200
}
