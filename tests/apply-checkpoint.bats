#!/usr/bin/env bats
# oplog-apply's checkpoint: one applier per --name (a lease in
# oplogkit.checkpoints), a checkpoint that never moves backwards, and
# no checkpoint for a stream of the wrong kind.

load lib/helpers

JSON2BSON=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson

# entries FROM TO DB: inserts of _id FROM..TO into DB.c, ts 1700000000,_id.
entries() {
	for i in $(seq "$1" "$2"); do
		printf '{"ts":{"$timestamp":{"t":1700000000,"i":%d}},"op":"i","ns":"%s.c","o":{"_id":%d}}\n' \
		    "$i" "$3" "$i"
	done | "$JSON2BSON"
}

# checkpoint_i NAME: the i of the checkpoint's ts (empty without one).
checkpoint_i() {
	mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$1\"}}" |
	    jq -r '.cursor.firstBatch[0].ts["$timestamp"].i // empty'
}

# wait_checkpoint NAME I: until the checkpoint is at I (fails after 60 s).
wait_checkpoint() {
	local n
	for n in $(seq 1 600); do
		[[ $(checkpoint_i "$1") != "$2" ]] || return 0
		sleep 0.1
	done
	echo "checkpoint $1 never reached $2 (at $(checkpoint_i "$1"))" >&2
	return 1
}

# wait_exit PID: its status in $exited once it has exited; one still
# running after 60 s is killed (137), which fails the test.
wait_exit() {
	local n
	for n in $(seq 1 600); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	exited=0
	wait "$1" || exited=$?
}

# follow_spool DB: a spool of DB's inserts 1..100 and, in the background,
# an applier following it under --name DB (its pid in $first), once its
# checkpoint is at 100.
follow_spool() {
	entries 1 100 "$1" >spool
	oplog-apply -q --follow --name "$1" spool "$DST_URI" &
	first=$!
	wait_checkpoint "$1" 100
}

# No applier outlives its test, whatever failed.
teardown() {
	local pid
	for pid in ${first:-} ${a:-} ${b:-}; do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

@test "a second oplog-apply on a held --name is refused with exit 8 naming the holder; the checkpoint never moves back" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db held)
	entries 1 50 "$db" >early.bson
	follow_spool "$db"
	# From the start, beside the first: refused before it writes anything.
	run oplog-apply -q --name "$db" early.bson "$DST_URI"
	assert_equal "$status" 8
	assert_output --partial "checkpoint '$db' is held by $(hostname):$first:"
	assert_equal "$(checkpoint_i "$db")" 100
	# The first still holds it and goes on.
	entries 101 150 "$db" >>spool
	wait_checkpoint "$db" 150
	kill -TERM "$first"
	wait_exit "$first"
	assert_equal "$exited" 0
	# Released: a run from further back is allowed, and leaves the checkpoint where it is.
	run oplog-apply -q --name "$db" early.bson "$DST_URI"
	assert_success
	assert_equal "$(checkpoint_i "$db")" 150
	run mongo_dump "$DST_URI" "$db.c"
	assert_equal "${#lines[@]}" 150
}

@test "an applier whose checkpoint another writer moved ahead stops with exit 8 and does not move it back" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db ahead)
	follow_spool "$db"
	mongo_cmd "$DST_URI" oplogkit "{\"update\": \"checkpoints\", \"updates\": [{\"q\": {\"_id\": \"$db\"}, \"u\": {\"\$set\": {\"ts\": {\"\$timestamp\": {\"t\": 1700000000, \"i\": 1000}}}}}]}" >/dev/null
	entries 101 120 "$db" >>spool
	wait_exit "$first"
	assert_equal "$exited" 8
	assert_equal "$(checkpoint_i "$db")" 1000
}

@test "after kill -9 a --resume on the same host takes the name at once and goes on from the checkpoint" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db killed)
	entries 1 200 "$db" >all.bson
	follow_spool "$db"
	kill -KILL "$first"
	wait_exit "$first"
	run oplog-apply -q --resume --name "$db" all.bson "$DST_URI"
	assert_success
	assert_equal "$(checkpoint_i "$db")" 200
	run mongo_dump "$DST_URI" "$db.c"
	assert_equal "${#lines[@]}" 200
}

@test "a holder killed but never reaped (a zombie) or whose pid now runs another program does not hold the name" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db zombie)
	entries 1 100 "$db" >spool
	entries 1 200 "$db" >all.bson
	# sleep never reaps its child: once killed, the applier stays a zombie.
	sh -c 'oplog-apply -q --follow --name "$1" spool "$2" & echo $! >apply.pid; exec sleep 120' \
	    sh "$db" "$DST_URI" &
	first=$!
	wait_checkpoint "$db" 100
	kill -KILL "$(cat apply.pid)"
	for n in $(seq 1 100); do
		[[ $(ps -o stat= -p "$(cat apply.pid)") != Z* ]] || break
		sleep 0.1
	done
	assert_equal "$(ps -o stat= -p "$(cat apply.pid)" | cut -c1)" Z
	run oplog-apply -q --resume --name "$db" all.bson "$DST_URI"
	assert_success
	assert_equal "$(checkpoint_i "$db")" 200
	# A lease of this host whose pid is this shell (not an oplog-apply) is free too.
	db2=$(unique_db reused)
	now=$(date +%s)
	mongo_cmd "$DST_URI" oplogkit "{\"insert\": \"checkpoints\", \"documents\": [{\"_id\": {\"lease\": \"$db2\", \"n\": 1}, \"lease\": \"$db2\", \"n\": 1, \"holder\": \"x\", \"host\": \"$(hostname)\", \"pid\": $$, \"expires\": {\"\$date\": {\"\$numberLong\": \"$(((now + 3600) * 1000))\"}}}]}" >/dev/null
	run oplog-apply -q --name "$db2" spool "$DST_URI"
	assert_success
	assert_equal "$(checkpoint_i "$db2")" 100
}

@test "a holder that stops renewing loses the name when its lease expires, then writes nothing more" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db frozen)
	entries 1 100 "$db" >spool
	entries 1 200 "$db" >all.bson
	oplog-apply -q --follow --lease 5s --name "$db" spool "$DST_URI" &
	first=$!
	wait_checkpoint "$db" 100
	kill -STOP "$first"
	# Alive but silent: refused until the lease expires, then taken over.
	run oplog-apply -q --resume --lease 5s --name "$db" all.bson "$DST_URI"
	assert_equal "$status" 8
	for n in $(seq 1 60); do
		run oplog-apply -q --resume --lease 5s --name "$db" all.bson "$DST_URI"
		[[ $status == 8 ]] || break
		sleep 0.5
	done
	assert_success
	assert_equal "$(checkpoint_i "$db")" 200
	# The old holder wakes up with more to apply: it stops before writing.
	kill -CONT "$first"
	entries 201 220 "$db" >>spool
	wait_exit "$first"
	assert_equal "$exited" 8
	assert_equal "$(checkpoint_i "$db")" 200
	run mongo_dump "$DST_URI" "$db.c"
	assert_equal "${#lines[@]}" 200
}

@test "a lease held on another host is refused until it expires, then taken" {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db remote)
	entries 1 10 "$db" >s.bson
	now=$(date +%s)
	mongo_cmd "$DST_URI" oplogkit "{\"insert\": \"checkpoints\", \"documents\": [{\"_id\": {\"lease\": \"$db\", \"n\": 7}, \"lease\": \"$db\", \"n\": 7, \"holder\": \"elsewhere:42:00\", \"host\": \"elsewhere\", \"pid\": $$, \"expires\": {\"\$date\": {\"\$numberLong\": \"$(((now + 3600) * 1000))\"}}}]}" >/dev/null
	run oplog-apply -q --name "$db" s.bson "$DST_URI"
	assert_equal "$status" 8
	assert_output --partial "held by elsewhere:42:00 until"
	assert_equal "$(checkpoint_i "$db")" ""
	mongo_cmd "$DST_URI" oplogkit "{\"update\": \"checkpoints\", \"updates\": [{\"q\": {\"_id\": {\"lease\": \"$db\", \"n\": 7}}, \"u\": {\"\$set\": {\"expires\": {\"\$date\": {\"\$numberLong\": \"$(((now - 1) * 1000))\"}}}}}]}" >/dev/null
	run oplog-apply -q --name "$db" s.bson "$DST_URI"
	assert_success
	assert_equal "$(checkpoint_i "$db")" 10
}

@test "two oplog-apply started at once on one --name: exactly one holds it" {
	cd "$BATS_TEST_TMPDIR"
	for round in 1 2 3; do
		db=$(unique_db "race$round")
		entries 1 10 "$db" >spool
		oplog-apply -q --follow --name "$db" spool "$DST_URI" 2>a.err &
		a=$!
		oplog-apply -q --follow --name "$db" spool "$DST_URI" 2>b.err &
		b=$!
		# The loser exits; a winner follows the spool until stopped.
		for n in $(seq 1 600); do
			kill -0 "$a" 2>/dev/null && kill -0 "$b" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$a" 2>/dev/null; then
			winner=$a loser=$b err=b.err
		else
			winner=$b loser=$a err=a.err
		fi
		wait_exit "$loser"
		assert_equal "$exited" 8
		grep -q "checkpoint '$db' is held by $(hostname):$winner:" "$err"
		kill -0 "$winner"
		wait_checkpoint "$db" 10
		kill -TERM "$winner"
		wait_exit "$winner"
		assert_equal "$exited" 0
	done
}

@test "a snapshot stream piped into oplog-apply exits 3 pointing to snap-import and writes no checkpoint" {
	db=$(unique_db snapin)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]}' >/dev/null
	run bash -c "snap-export --ns '$db.*' '$SRC_URI' | oplog-apply --name '$db' '$DST_URI'"
	assert_equal "$status" 3
	assert_output --partial "a snapshot stream, not an oplog: load it with snap-import"
	assert_equal "$(checkpoint_i "$db")" ""
	run mongo_cmd "$DST_URI" oplogkit "{\"find\": \"checkpoints\", \"filter\": {\"_id\": \"$db\"}}"
	assert_equal "$(jq '.cursor.firstBatch | length' <<<"$output")" 0
	run mongo_dump "$DST_URI" "$db.c"
	assert_equal "${#lines[@]}" 0
}
