#!/usr/bin/env bats
# examples/: the scripts users copy, run as they are against the real test
# servers and fixtures. Each test checks what the user of the script wants:
# the documents that end up on the destination, the spool on the far side,
# the numbers the jq recipes print. (examples/to-kafka.sh needs a Kafka
# broker and is not tested here; its file says so.)

load lib/helpers
bats_require_minimum_version 1.5.0

DUMPS=$FIXTURES/mongo-tools/mongorestore/testdata

setup() {
	cd "$BATS_TEST_TMPDIR"
	EX=$ROOT/examples
	bg=
}

# A script left running by a failed test must not outlive it.
teardown() {
	[[ -z $bg ]] || kill -TERM "$bg" 2>/dev/null || true
}

# Documents as sorted, key-ordered canonical JSON lines: comparable
# whichever tool printed them.
normalized() { jq -S -c . | sort; }

# The collections oplogkit-loadgen writes.
LOADGEN_COLLECTIONS="users orders events"

# assert_same_db SRC_DB DST_DB: every loadgen collection holds the same
# documents on the source under SRC_DB and on the target under DST_DB.
assert_same_db() {
	local c n=0
	for c in $LOADGEN_COLLECTIONS; do
		diff <(mongo_dump "$SRC_URI" "$1.$c") <(mongo_dump "$DST_URI" "$2.$c") ||
			fail "$1.$c on the source and $2.$c on the target differ"
		n=$((n + $(mongo_dump "$DST_URI" "$2.$c" | wc -l)))
	done
	((n > 0)) || fail "no documents in $2 on the target"
}

# wait_caught_up NAME: the applier with checkpoint NAME has applied the
# source's newest entry (30 s at most).
wait_caught_up() {
	local i
	for ((i = 0; i < 150; i++)); do
		sync-check --lag-only --name "$1" "$SRC_URI" "$DST_URI" 2>/dev/null | grep -q ', 0 entries' &&
			return 0
		sleep 0.2
	done
	fail "checkpoint $1 did not reach the source's newest entry: $(sync-check --lag-only --name "$1" "$SRC_URI" "$DST_URI" 2>&1)"
}

# wait_for_line FILE TEXT: a background script printed TEXT (30 s at most).
wait_for_line() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$bg" 2>/dev/null || fail "the script ended early: $(cat "$1")"
		sleep 0.1
	done
	fail "no \"$2\" in $1: $(cat "$1")"
}

# stop_script: SIGTERM, as kill PID does; the script drains and exits.
stop_script() {
	local st=0
	kill -TERM "$bg"
	wait "$bg" || st=$?
	bg=
	((st == 0)) || fail "the script exited $st: $(cat err)"
}

# What a mongodump directory plus its oplog give for one collection: the
# dump's documents, then every insert of the oplog, applyOps included.
dump_plus_oplog() {
	local dir=$1 ns=$2 until=${3:-}
	{
		oplog-show "$dir/${ns%%.*}/${ns#*.}.bson"
		if [[ -n $until ]]; then
			oplog-filter --until "$until" "$dir/oplog.bson"
		else
			cat "$dir/oplog.bson"
		fi | oplog-show |
			jq -c --arg ns "$ns" 'if .op == "c" then .o.applyOps[] else . end | select(.op == "i" and .ns == $ns) | .o'
	} | normalized
}

@test "replay-mongodump-oplog.sh: the server ends with the dump plus its oplog, renamed, and a rerun changes nothing" {
	db=$(unique_db replay)
	RENAME="db1.*=$db.*" NAME=$db run --separate-stderr "$EX/replay-mongodump-oplog.sh" "$DUMPS/oplogdump" "$DST_URI"
	assert_success
	[[ $stderr == *"checkpoint $db at 1511064038,32"* ]] || fail "$stderr"
	expected=$(dump_plus_oplog "$DUMPS/oplogdump" db1.c1)
	assert_equal "$(wc -l <<<"$expected")" 10 # 5 dumped, 2 inserts and 3 in an applyOps
	assert_equal "$(mongo_dump "$DST_URI" "$db.c1" | normalized)" "$expected"
	# Nothing under the old name, nothing from admin.
	assert_equal "$(mongo_dump "$DST_URI" db1.c1 | grep -c 5a1101e6a8feb0cc944981a2)" 0

	# Replaying the same dump again is harmless: the same documents.
	RENAME="db1.*=$db.*" NAME=$db run "$EX/replay-mongodump-oplog.sh" "$DUMPS/oplogdump" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.c1" | normalized)" "$expected"
}

@test "replay-mongodump-oplog.sh UNTIL=: a point-in-time restore stops at that entry" {
	db=$(unique_db pitr)
	# 1511064038,29 is the applyOps of three inserts; the insert at ,32 is after it.
	RENAME="db1.*=$db.*" UNTIL=1511064038,29 OPLOGKIT_TARGET_URI=$DST_URI run "$EX/replay-mongodump-oplog.sh" "$DUMPS/oplogdump"
	assert_success
	expected=$(dump_plus_oplog "$DUMPS/oplogdump" db1.c1 1511064038,29)
	assert_equal "$(wc -l <<<"$expected")" 9
	assert_equal "$(mongo_dump "$DST_URI" "$db.c1" | normalized)" "$expected"
}

@test "replay-mongodump-oplog.sh: a truncated oplog.bson fails with oplog-filter's error and status 3" {
	db=$(unique_db truncated)
	mkdir -p dump/db1
	cp "$DUMPS/oplogdump/db1/c1.bson" "$DUMPS/oplogdump/db1/c1.metadata.json" dump/db1/
	head -c 400 "$DUMPS/oplogdump/oplog.bson" >dump/oplog.bson
	RENAME="db1.*=$db.*" run --separate-stderr "$EX/replay-mongodump-oplog.sh" dump "$DST_URI"
	assert_failure 3
	[[ $stderr == *"oplog-filter: dump/oplog.bson: entry 2 at byte 117: truncated"* ]] || fail "$stderr"
	[[ $stderr == *"replayed only up to the error above"* ]] || fail "$stderr"
	# The good entry before the damage was applied: 5 dumped + 1.
	assert_equal "$(mongo_dump "$DST_URI" "$db.c1" | wc -l)" 6

	run "$EX/replay-mongodump-oplog.sh" "$DUMPS/dump_local_oplog" "$DST_URI"
	assert_failure 2
	assert_output --partial 'dump_local_oplog/oplog.bson: no such file (was the dump taken with --oplog?)'
}

@test "rename-database.sh: under a write load, the new name ends equal to the old one, indexes included" {
	from=$(unique_db renfrom)
	to=$(unique_db rento)
	oplogkit-loadgen --uri "$SRC_URI" --db "$from" --ops 100 --seed 11 >/dev/null
	"$EX/rename-database.sh" "$from" "$to" "$SRC_URI" "$DST_URI" >out 2>err 3>&- &
	bg=$!
	wait_for_line err "replaying the changes after"
	# The application keeps writing to the old name after T0.
	oplogkit-loadgen --uri "$SRC_URI" --db "$from" --ops 150 --seed 12 >/dev/null
	wait_caught_up "rename-$to"
	stop_script
	assert_same_db "$from" "$to"
	# The copy carried the indexes, the unique one on users included.
	indexes() { mongo_cmd "$1" "$2" '{"listIndexes": "users"}' | jq -c '[.cursor.firstBatch[] | {key, unique}] | sort_by(.key | tostring)'; }
	assert_equal "$(indexes "$DST_URI" "$to")" "$(indexes "$SRC_URI" "$from")"
	# Nothing was written under the old name on the target.
	assert_equal "$(mongo_cmd "$DST_URI" "$from" '{"listCollections": 1}' | jq '.cursor.firstBatch | length')" 0
	grep -q 'checkpoint rename-'"$to" err || fail "$(cat err)"
}

@test "ship-over-ssh.sh: the compressed stream arrives whole in the far spool and is applied there" {
	db=$(unique_db shipped)
	mkdir far
	printf '%s\n' "$DST_URI" >far/target-uri
	t0=$(oplog-read --now "$SRC_URI")
	OPLOGKIT_SOURCE_URI=$SRC_URI OPLOGKIT_REMOTE='sh -c' REMOTE_URI_FILE=$PWD/far/target-uri \
		REMOTE_SPOOL="$PWD/far/it's.zst" NAME=$db \
		"$EX/ship-over-ssh.sh" far.example "$t0" >out 2>err 3>&- &
	bg=$!
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 200 --seed 21 >/dev/null
	wait_caught_up "$db"
	stop_script
	assert_same_db "$db" "$db"

	spool="far/it's.zst"
	# Compressed (the zstd magic), private to its owner.
	assert_equal "$(head -c 4 "$spool" | od -An -tx1 | tr -d ' ')" 28b52ffd
	assert_equal "$(stat -c %a "$spool")" 600
	# Whole: header, the 200 writes, the trailer that counts them.
	run oplog-show --relaxed "$spool"
	assert_equal "${#lines[@]}" 202
	assert_equal "$(jq -r .o.msg <<<"${lines[0]}")" "oplogkit stream"
	assert_equal "$(jq -c '.o | [.msg, .count]' <<<"${lines[201]}")" '["oplogkit end",200]'
	# The same entries a fresh read of the source gives.
	diff <(oplog-show "$spool" | grep -v '"op" : "n"') \
		<(oplog-read --since "$t0" --count 200 "$SRC_URI" | oplog-show | grep -v '"op" : "n"')
}

@test "inspect-with-jq.sh: counts per op, the updates of one namespace, a time range, as oplog-show --stats and oplog-filter count them" {
	db=$(unique_db inspect)
	t0=$(oplog-read --now "$SRC_URI")
	# 100 writes a second, so the stream spans a few seconds.
	oplogkit-loadgen --uri "$SRC_URI" --db "$db" --ops 200 --rate 100 --seed 31 >/dev/null
	timeout 30 oplog-read --since "$t0" --count 200 -z -o spool "$SRC_URI"
	oplog-show --stats spool >stats

	# counts: the "total" row of --stats (columns i u d c n), zero ones left out.
	run "$EX/inspect-with-jq.sh" counts spool
	assert_success
	assert_equal "$(sort <<<"$output")" \
		"$(awk '$1 == "total" { print "i " $2; print "u " $3; print "d " $4; print "c " $5; print "n " $6 }' stats | grep -v ' 0$' | sort)"

	# updates NS: as many as the u column of that namespace, all of it;
	# from stdin too.
	run --separate-stderr "$EX/inspect-with-jq.sh" updates "$db.orders" <spool
	assert_success
	updates=$(awk -v ns="$db.orders" '$1 == ns { print $3 }' stats)
	((updates > 0)) || fail "loadgen made no updates: $(cat stats)"
	assert_equal "${#lines[@]}" "$updates"
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r 'select(.change["$set"]._id == ._id) | ._id' | wc -l)" "$updates"

	# between FROM TO: the writes of the first two seconds, by Unix seconds
	# and by date, as oplog-filter --since/--until select them.
	from=$(oplog-show --relaxed spool | sed -n 2p | jq '.ts["$timestamp"].t')
	to=$((from + 1))
	run "$EX/inspect-with-jq.sh" between "$from" "$to" spool
	assert_success
	got=$(printf '%s\n' "${lines[@]}" | jq -c 'select(.op != "n")' | wc -l)
	want=$(oplog-filter --since "$((from - 1)),4294967295" --until "$to,4294967295" spool |
		oplog-show --relaxed | jq -c 'select(.op != "n")' | wc -l)
	((want > 0 && want < 200)) || fail "the range $from..$to holds $want of 200 writes"
	assert_equal "$got" "$want"
	run "$EX/inspect-with-jq.sh" between "$(date -u -d "@$from" +%Y-%m-%dT%H:%M:%SZ)" "$(date -u -d "@$to" +%Y-%m-%dT%H:%M:%SZ)" spool
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -c 'select(.op != "n")' | wc -l)" "$want"
}

@test "inspect-with-jq.sh: a corrupt stream fails with oplog-show's status; a wrong call prints the usage" {
	run --separate-stderr "$EX/inspect-with-jq.sh" counts "$FIXTURES/mongo-tools/bsondump/testdata/partial_file.bson"
	assert_failure 3
	[[ $stderr == *"partial_file.bson: entry 3 at byte 164: truncated"* ]] || fail "$stderr"
	run "$EX/inspect-with-jq.sh" between 1
	assert_failure 2
	assert_output --partial 'usage: inspect-with-jq.sh between FROM TO [FILE]'
}
