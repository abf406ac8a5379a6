#!/usr/bin/env bats
# oplog-read: tails the source's local.oplog.rs into a stream, stops
# cleanly with a trailer, resumes a spool without gaps or duplicates, and
# refuses to paper over lost history.

load lib/helpers
bats_require_minimum_version 1.7.0
# A reader that waits for entries that never come must fail, not hang.
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

# "T,I" of every data entry (markers left out) of the stream on stdin.
ts_list() {
	oplog-show | jq -r 'select(.op != "n" or .ns != "") | .ts["$timestamp"] | "\(.t),\(.i)"'
}

# "T,I" of the source's oplog entries after SINCE (exclusive), in the oplog's order.
oplog_after() {
	mongo_dump_bson "$SRC_URI" local.oplog.rs | ts_list |
		awk -F, -v t="${1%,*}" -v i="${1#*,}" '$1 > t || ($1 == t && $2 > i)'
}

# The newest ts of the source's oplog.
newest() { oplog-read --now "$SRC_URI"; }

# Whether "T,I" a is at or after b.
ts_at_or_after() {
	[[ ${1%,*} -gt ${2%,*} || (${1%,*} -eq ${2%,*} && ${1#*,} -ge ${2#*,}) ]]
}

# Wait (up to 20 s) until the spool FILE holds the entry TS: the reader is live.
wait_for_ts() {
	local file=$1 ts=$2 last
	for _ in {1..100}; do
		last=$(ts_list <"$file" 2>/dev/null | tail -n 1)
		if [[ -n $last ]] && ts_at_or_after "$last" "$ts"; then
			return 0
		fi
		sleep 0.2
	done
	echo "spool $file never reached $ts (last: ${last:-none})" >&2
	cat "$BATS_TEST_TMPDIR/err" >&2 2>/dev/null || true
	return 1
}

# Byte offsets where each frame of a plain stream ends.
frame_ends() {
	local file=$1 offset=0 size length
	size=$(stat -c %s "$file")
	while ((offset < size)); do
		length=$(od -An -tu4 -j "$offset" -N4 "$file" | tr -d ' ')
		offset=$((offset + length))
		echo "$offset"
	done
}

insert() { mongo_cmd "$SRC_URI" "$1" "{\"insert\": \"c\", \"documents\": [$2]}" >/dev/null; }

# The spool's trailer as one JSON line ("" when it has none).
trailer() { oplog-show "$1" | jq -c 'select(.o.msg == "oplogkit end") | .o'; }

# begin_spool NAME [FILE]: $db (unique_db NAME), $spool (FILE in the test's
# directory, spool.bson by default) and $since, the source's newest ts
# before the test writes.
begin_spool() {
	db=$(unique_db "$1")
	spool=$BATS_TEST_TMPDIR/${2:-spool.bson}
	since=$(newest)
}

# spool_ids SPOOL DB: the _ids of DB.c's entries in SPOOL, one a line.
spool_ids() { oplog-show "$1" | jq -c --arg ns "$2.c" 'select(.ns == $ns) | .o._id'; }

# assert_spool_ids SPOOL DB ID...: DB.c's entries in SPOOL are of these int _ids, in this order.
assert_spool_ids() {
	local spool=$1 db=$2 id want=()
	shift 2
	for id; do want+=("{\"\$numberInt\":\"$id\"}"); done
	run spool_ids "$spool" "$db"
	assert_output "$(printf '%s\n' "${want[@]}")"
}

# stop_reader PID: SIGTERM to a reader, which must exit 0.
stop_reader() {
	local rc=0
	kill -TERM "$1"
	wait "$1" || rc=$?
	assert_equal "$rc" 0
}

@test "oplog-read --help prints usage and exits 0; a bad option exits 2" {
	run oplog-read --help
	assert_success
	assert_output --partial "usage: oplog-read"
	run oplog-read --bogus "$SRC_URI"
	assert_failure 2
	run oplog-read --since yesterday "$SRC_URI"
	assert_failure 2
	assert_output --partial "--since: not a timestamp: 'yesterday'"
	run oplog-read --since 1,0 --resume x.bson "$SRC_URI"
	assert_failure 2
}

@test "oplog-read --now prints the ts of the newest oplog entry" {
	db=$(unique_db now)
	insert "$db" '{"_id": 1}'
	run oplog-read --now "$SRC_URI"
	assert_success
	assert_output "$(oplog_after 0,0 | tail -n 1)"
	# The URI may come from the environment or a file instead, out of ps(1).
	newest=$output
	OPLOGKIT_SOURCE_URI=$SRC_URI run oplog-read --now
	assert_output "$newest"
	echo "$SRC_URI" >"$BATS_TEST_TMPDIR/uri"
	run oplog-read --now --uri-file "$BATS_TEST_TMPDIR/uri"
	assert_output "$newest"
	# Or from --uri, as the MongoDB Database Tools take it (not --uri-file's abbreviation).
	run oplog-read --now --uri "$SRC_URI"
	assert_success
	assert_output "$newest"
}

@test "oplog-read --progress reports entries, bytes, rate and lag on stderr only" {
	insert "$(unique_db progress)" '{"_id": 1}, {"_id": 2}, {"_id": 3}'
	run --separate-stderr oplog-read --since 0 --count 3 --progress -o "$BATS_TEST_TMPDIR/spool.bson" "$SRC_URI"
	assert_success
	assert_output ""
	[[ $stderr =~ oplog-read:\ 3\ entries,\ 0\.[0-9]\ MB,\ [0-9]+\ entries/s,\ lag\ [0-9]+s,\ last\ [0-9]+,[0-9]+ ]]
}

@test "oplog-read writes an insert, an update and a delete on the source, with header and trailer" {
	db=$(unique_db iud)
	since=$(newest)
	insert "$db" '{"_id": 1, "a": 1}'
	mongo_cmd "$SRC_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 2}}}]}' >/dev/null
	mongo_cmd "$SRC_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 1}, "limit": 1}]}' >/dev/null
	until=$(newest)

	run oplog-read --since "$since" --until "$until" -o "$BATS_TEST_TMPDIR/spool.bson" "$SRC_URI"
	assert_success
	assert_file_permission 600 "$BATS_TEST_TMPDIR/spool.bson"
	run bash -c "oplog-show '$BATS_TEST_TMPDIR/spool.bson' | jq -r 'select(.ns == \"$db.c\") | .op' | tr -d '\n'"
	assert_output iud
	# The header names the source and t0 = --since; the trailer counts and ends at --until.
	header=$(oplog-show "$BATS_TEST_TMPDIR/spool.bson" | head -n 1 | jq -c .o)
	assert_equal "$(jq -r .kind <<<"$header")" oplog
	assert_equal "$(jq -r .source <<<"$header")" "$SRC_URI"
	assert_equal "$(jq -r '.t0["$timestamp"] | "\(.t),\(.i)"' <<<"$header")" "$since"
	assert_equal "$(trailer "$BATS_TEST_TMPDIR/spool.bson" | jq -r '.last["$timestamp"] | "\(.t),\(.i)"')" "$until"
	assert_equal "$(trailer "$BATS_TEST_TMPDIR/spool.bson" | jq -r '.count["$numberLong"]')" 3
}

@test "oplog-read --since is exclusive and accepts T,I and Extended JSON" {
	db=$(unique_db since)
	insert "$db" '{"_id": 1}'
	insert "$db" '{"_id": 2}'
	insert "$db" '{"_id": 3}'
	first=$(mongo_dump_bson "$SRC_URI" local.oplog.rs | oplog-show |
		jq -r --arg ns "$db.c" 'select(.ns == $ns) | .ts["$timestamp"] | "\(.t),\(.i)"' | head -n 1)
	t=${first%,*} i=${first#*,}

	for since in "$first" "{\"\$timestamp\": {\"t\": $t, \"i\": $i}}"; do
		run bash -c "oplog-read --since '$since' --count 2 '$SRC_URI' | oplog-show | jq -c 'select(.ns == \"$db.c\") | .o._id'"
		assert_success
		assert_output "$(printf '%s\n' '{"$numberInt":"2"}' '{"$numberInt":"3"}')"
	done
}

@test "oplog-read --count N stops after N entries with a trailer" {
	insert "$(unique_db count)" '{"_id": 1}, {"_id": 2}'
	oplog-read --since 0 --count 2 -o "$BATS_TEST_TMPDIR/spool.bson" "$SRC_URI"
	run ts_list <"$BATS_TEST_TMPDIR/spool.bson"
	assert_output "$(oplog_after 0,0 | head -n 2)"
	assert_equal "$(trailer "$BATS_TEST_TMPDIR/spool.bson" | jq -r '.count["$numberLong"]')" 2
}

@test "oplog-read flushes each batch at once and stops on SIGTERM with a trailer and exit 0" {
	db=$(unique_db live)
	spool=$BATS_TEST_TMPDIR/spool.bson
	oplog-read -o "$spool" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	sleep 0.5
	insert "$db" '{"_id": 1}'
	wait_for_ts "$spool" "$(newest)"
	insert "$db" '{"_id": 2}'
	wait_for_ts "$spool" "$(newest)"
	stop_reader "$pid"
	assert_spool_ids "$spool" "$db" 1 2
	assert_equal "$(trailer "$spool" | jq -r '.count["$numberLong"]')" 2
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" ""
}

@test "oplog-read --zstd writes a zstd stream that readers decompress" {
	db=$(unique_db zstd)
	since=$(newest)
	insert "$db" '{"_id": 1}'
	oplog-read -z --since "$since" --count 1 -o "$BATS_TEST_TMPDIR/spool.zst" "$SRC_URI"
	assert_equal "$(head -c 4 "$BATS_TEST_TMPDIR/spool.zst" | od -An -tx1 | tr -d ' ')" 28b52ffd
	run ts_list <"$BATS_TEST_TMPDIR/spool.zst"
	assert_output "$(oplog_after "$since" | head -n 1)"
}

@test "oplog-read --since older than the oldest oplog entry exits 5: history lost" {
	insert "$(unique_db lost)" '{"_id": 1}'
	oldest=$(oplog_after 0,0 | head -n 1)
	run oplog-read --since 1,0 --count 1 "$SRC_URI"
	assert_failure 5
	assert_output --partial "history lost: oldest entry $oldest is after --since 1,0"

	# Exactly the oldest entry is no loss, and 0 means the whole oplog.
	run bash -c "oplog-read --since '$oldest' --count 1 '$SRC_URI' | oplog-show | wc -l"
	assert_success
	assert_output 3
	run bash -c "oplog-read --since 0 --count 1 '$SRC_URI' | oplog-show | sed -n 2p | jq -r '.ts[\"\$timestamp\"] | \"\(.t),\(.i)\"'"
	assert_output "$oldest"
}

@test "oplog-read --resume after kill -9 under a write load leaves no gap and no duplicate" {
	begin_spool resume
	seq 1 1500 | sed 's/.*/{"_id": &}/' | mongo_insert "$SRC_URI" "$db.c" 1 &
	load=$!
	oplog-read --since "$since" -o "$spool" "$SRC_URI" &
	reader=$!
	for _ in {1..50}; do
		(($(ts_list <"$spool" 2>/dev/null | wc -l) >= 100)) && break
		sleep 0.1
	done
	kill -KILL "$reader"
	wait "$reader" || true
	kill -0 "$load"	# the crash came while the writes went on
	oplog-read --resume "$spool" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	reader=$!
	wait "$load"
	wait_for_ts "$spool" "$(newest)"
	kill -TERM "$reader"
	wait "$reader"

	ts_list <"$spool" >"$BATS_TEST_TMPDIR/spool.ts"
	oplog_after "$since" >"$BATS_TEST_TMPDIR/oplog.ts"
	# All 1500 inserts, each once, strictly increasing, exactly the oplog's entries.
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/spool.ts")" 1500
	sort -t, -k1,1n -k2,2n -u "$BATS_TEST_TMPDIR/spool.ts" | diff - "$BATS_TEST_TMPDIR/spool.ts"
	diff "$BATS_TEST_TMPDIR/oplog.ts" "$BATS_TEST_TMPDIR/spool.ts"
	# One header, one trailer: the resumed spool is still one stream.
	assert_equal "$(oplog-show "$spool" | jq -r 'select(.op == "n") | .o.msg' | tr '\n' /)" \
		"oplogkit stream/oplogkit end/"
	assert_equal "$(trailer "$spool" | jq -r '.count["$numberLong"]')" 1500
}

@test "oplog-read --resume drops a last entry cut short, says so, and appends after the one before" {
	begin_spool cut
	insert "$db" '{"_id": 1, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'
	insert "$db" '{"_id": 2, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'
	oplog-read --since "$since" --count 2 -o "$spool" "$SRC_URI"
	# Cut the trailer and part of the second entry, as a crash mid-write would.
	ends=($(frame_ends "$spool"))
	assert_equal "${#ends[@]}" 4
	truncate -s $((ends[1] + 20)) "$spool"
	insert "$db" '{"_id": 3}'
	until=$(newest)

	run oplog-read --resume "$spool" --until "$until" "$SRC_URI"
	assert_success
	assert_output --partial "$spool: entry 3 was cut short"
	assert_output --partial "resuming after entry 2"
	assert_spool_ids "$spool" "$db" 1 2 3
	diff <(oplog_after "$since") <(ts_list <"$spool")
}

@test "oplog-read --resume continues a zstd spool killed mid-stream" {
	begin_spool zresume spool.zst
	insert "$db" '{"_id": 1}'
	oplog-read -z --since "$since" -o "$spool" "$SRC_URI" &
	reader=$!
	wait_for_ts "$spool" "$(newest)"
	kill -KILL "$reader"
	wait "$reader" || true
	run oplog-show "$spool"
	assert_failure 3	# an unclosed zstd frame
	insert "$db" '{"_id": 2}'
	until=$(newest)

	run oplog-read --resume "$spool" --until "$until" "$SRC_URI"
	assert_success
	assert_output --partial "zstd frame was not closed"
	assert_spool_ids "$spool" "$db" 1 2
	assert_equal "$(head -c 4 "$spool" | od -An -tx1 | tr -d ' ')" 28b52ffd
	diff <(oplog_after "$since") <(ts_list <"$spool")
}

@test "oplog-read --resume refuses a damaged spool with exit 3 and leaves it alone" {
	spool=$BATS_TEST_TMPDIR/spool.bson
	oplog-read --since 0 --count 2 -o "$spool" "$SRC_URI"
	printf 'this is not BSON at all' >>"$spool"
	before=$(md5sum <"$spool")
	run oplog-read --resume "$spool" "$SRC_URI"
	assert_failure 3
	assert_output --partial "refusing to resume: $spool: entry 5 at byte"
	assert_equal "$(md5sum <"$spool")" "$before"
}

@test "oplog-read reconnects across a source restart without gap or duplicate" {
	begin_spool restart
	oplog-read --since "$since" -o "$spool" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	reader=$!
	insert "$db" '{"_id": 1}'
	wait_for_ts "$spool" "$(newest)"
	server_restart source
	insert "$db" '{"_id": 2}'
	wait_for_ts "$spool" "$(newest)"
	stop_reader "$reader"
	assert_spool_ids "$spool" "$db" 1 2
	diff <(oplog_after "$since") <(ts_list <"$spool")
}

@test "oplog-read exits 4 naming the last entry when the source stays away, and resumes later" {
	begin_spool away
	insert "$db" '{"_id": 1}'
	last=$(newest)
	oplog-read --since "$since" --retry-for 2s -o "$spool" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	reader=$!
	wait_for_ts "$spool" "$last"
	server_stop source
	rc=0
	wait "$reader" || rc=$?
	server_start source
	assert_equal "$rc" 4
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial "gave up after"
	assert_output --partial "$spool ends at entry $last, resume after it"
	# The spool is whole, without a trailer, and --resume carries on.
	run oplog-show "$spool"
	assert_success
	assert_equal "$(trailer "$spool")" ""
	insert "$db" '{"_id": 2}'
	oplog-read --resume "$spool" --until "$(newest)" "$SRC_URI"
	assert_spool_ids "$spool" "$db" 1 2
}

@test "oplog-read keeps the entries FerretDB makes visible late under concurrent writers" {
	# FerretDB takes ts before inserting the entry: with several writers an
	# entry can show up after a later one. None may be missed or doubled.
	since=$(newest)
	spool=$BATS_TEST_TMPDIR/spool.bson
	oplog-read --since "$since" -o "$spool" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	reader=$!
	pids=
	for seed in 1 2 3 4; do
		oplogkit-loadgen --uri "$SRC_URI" --db "$(unique_db late$seed)" --seed "$seed" --ops 150 >/dev/null &
		pids="$pids $!"
	done
	for pid in $pids; do wait "$pid"; done
	wait_for_ts "$spool" "$(newest)"
	sleep 3	# a late entry may still come in after the newest one
	kill -TERM "$reader"
	wait "$reader"
	# Every entry after since, each once, whatever the order it came in.
	diff <(oplog_after "$since" | sort) <(ts_list <"$spool" | sort)
	run sh -c "ts_list() { :; }; '$ROOT/bin/oplog-show' '$spool' | jq -r 'select(.op != \"n\") | .ts[\"\$timestamp\"] | \"\(.t),\(.i)\"' | sort | uniq -d"
	assert_output ''
}

@test "oplog-read --until a ts in the past reads the entries up to it, then stops" {
	db=$(unique_db until_past)
	since=$(newest)
	insert "$db" '{"_id": 1}, {"_id": 2}, {"_id": 3}'
	until=$(newest)
	sleep 3	# past the idle-oplog clock test's 2 s
	run timeout 30 oplog-read --since "$since" --until "$until" -o "$BATS_TEST_TMPDIR/spool.bson" "$SRC_URI"
	assert_success
	assert_equal "$(ts_list <"$BATS_TEST_TMPDIR/spool.bson")" "$(oplog_after "$since" | awk -F, -v t="${until%,*}" -v i="${until#*,}" '$1 < t || ($1 == t && $2 <= i)')"
	assert_equal "$(ts_list <"$BATS_TEST_TMPDIR/spool.bson" | wc -l)" 3
}

# Transaction links as mongod logs them, for local.oplog.rs: on the
# second $F after the newest entry's, i from 1 up (FerretDB's i is a
# counter across seconds, far past that by now, so no ts is taken twice);
# fabricated_end then writes a real entry after them, so that what later
# tests call the newest entry comes after them too. teardown deletes
# them, and the config.transactions entries of the test, whatever the
# test's outcome: left in the source's oplog, a link would reach every
# later capture of it (oplog-filter keeps a transaction's links even when
# none of their ops is selected), a transaction begun before the stream.
LSID_A='{"id": {"$binary": {"base64": "GK+8+nZ+Eem9p6vK9BEt9g==", "subType": "04"}}}'
LSID_B='{"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}}'
at() { echo "{\"\$timestamp\": {\"t\": $F, \"i\": $1}}"; }
teardown() {
	[[ -n ${F:-} ]] || return 0
	mongo_cmd "$SRC_URI" local "{\"delete\": \"oplog.rs\", \"deletes\": [{\"q\": {\"ts\": {\"\$gte\": $(at 1), \"\$lte\": $(at 99)}}, \"limit\": 0}]}" >/dev/null
	mongo_cmd "$SRC_URI" config '{"delete": "transactions", "deletes": [{"q": {"oplogkitTest": true}, "limit": 0}]}' >/dev/null
}
fabricated_start() { F=$(newest); F=$((${F%,*} + 1)); }
fabricated_end() {
	while (($(date +%s) <= F + 1)); do sleep 0.2; done
	insert "$db" '{"_id": "after"}'
}
link() { # I LSID PREV_I (0: first link) O
	local prev='{"ts": {"$timestamp": {"t": 0, "i": 0}}, "t": {"$numberLong": "-1"}}'
	[[ $3 == 0 ]] || prev="{\"ts\": $(at "$3"), \"t\": {\"\$numberLong\": \"1\"}}"
	echo "{\"ts\": $(at "$1"), \"t\": {\"\$numberLong\": \"1\"}, \"op\": \"c\", \"ns\": \"admin.\$cmd\", \"lsid\": $2, \"txnNumber\": {\"\$numberLong\": \"1\"}, \"prevOpTime\": $prev, \"o\": $4}"
}
txn_op() { echo "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"$db.t\", \"o\": {\"_id\": $1}}]$2}"; }
plain() { echo "{\"ts\": $(at "$1"), \"op\": \"i\", \"ns\": \"$db.x\", \"o\": {\"_id\": $2}}"; }
oplog_write() { mongo_cmd "$SRC_URI" local "{\"insert\": \"oplog.rs\", \"documents\": [$(paste -sd, -)]}" >/dev/null; }
i_list() { oplog-show "$1" | jq -r 'select(.op != "n") | .ts["$timestamp"].i'; }

@test "oplog-read --since inside open transactions starts with their earlier links, and only those" {
	db=$(unique_db opentxn)
	fabricated_start
	{
		link 1 "$LSID_B" 0 "$(txn_op '"b1"' ', "partialTxn": true')"	# B: ends before the start
		link 2 "$LSID_B" 1 "$(txn_op '"b2"' ', "count": 2')"
		link 3 "$LSID_A" 0 "$(txn_op 1 ', "partialTxn": true')"	# A: open at the start
		plain 4 10
		link 5 "$LSID_A" 3 "$(txn_op 2 ', "partialTxn": true')"	# the start
		plain 6 11
		link 7 "$LSID_A" 5 "$(txn_op 3 ', "count": 3')"
	} | oplog_write
	run --separate-stderr oplog-read --since "$F,5" --until "$F,7" -o "$BATS_TEST_TMPDIR/s.bson" "$SRC_URI"
	assert_success
	[[ $stderr == *"falls inside open transactions: the stream starts with the 2 link(s)"* ]] || fail "$stderr"
	# A's links at or before the start, then everything after it.
	assert_equal "$(i_list "$BATS_TEST_TMPDIR/s.bson" | tr '\n' ' ')" "3 5 6 7 "
	# Applied: the whole transaction and the write after the start (10 is the snapshot's).
	run oplog-apply -q "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.t" | jq -c '._id."$numberInt"' | tr '\n' ' ')" '"1" "2" "3" '
	assert_equal "$(mongo_dump "$DST_URI" "$db.x" | jq -c '._id."$numberInt"')" '"11"'
	fabricated_end
}

@test "oplog-read exits 5 on a link whose transaction began before the start and was not seen open then" {
	db=$(unique_db latetxn)
	fabricated_start
	link 1 "$LSID_A" 0 "$(txn_op 1 ', "partialTxn": true')" | oplog_write
	oplog-read --since "$F,1" -o "$BATS_TEST_TMPDIR/s.bson" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	reader=$!
	# The reader is past its start (its header is out) before the commit comes.
	for _ in {1..100}; do [[ -s $BATS_TEST_TMPDIR/s.bson ]] && break; sleep 0.1; done
	link 2 "$LSID_A" 1 "$(txn_op 2 ', "count": 2')" | oplog_write
	status=0
	wait "$reader" || status=$?
	assert_equal "$status" 5
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial 'txnNumber 1 began at or before --since'
	assert_output --partial 'GK+8+nZ+Eem9p6vK9BEt9g=='
	fabricated_end
}

@test "oplog-read --since inside a prepared transaction not yet committed starts with its links, found in config.transactions" {
	db=$(unique_db preparedtxn)
	fabricated_start
	{
		link 1 "$LSID_A" 0 "$(txn_op 1 ', "partialTxn": true')"
		link 2 "$LSID_A" 1 "$(txn_op 2 ', "prepare": true')"	# the start
	} | oplog_write
	# What mongod keeps for a prepared transaction: its session, state and
	# prepare. No entry after the start names the prepare yet (its commit
	# comes later): only config.transactions says it is open.
	mongo_cmd "$SRC_URI" config "{\"insert\": \"transactions\", \"documents\": [{\"_id\": $LSID_A, \"txnNum\": {\"\$numberLong\": \"1\"}, \"state\": \"prepared\", \"lastWriteOpTime\": {\"ts\": $(at 2), \"t\": {\"\$numberLong\": \"1\"}}, \"oplogkitTest\": true}]}" >/dev/null
	oplog-read --since "$F,2" -o "$BATS_TEST_TMPDIR/s.bson" "$SRC_URI" 2>"$BATS_TEST_TMPDIR/err" &
	reader=$!
	for _ in {1..100}; do [[ $(i_list "$BATS_TEST_TMPDIR/s.bson" | wc -l) -ge 2 ]] && break; sleep 0.1; done
	kill -TERM "$reader"
	wait "$reader"
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial 'falls inside open transactions: the stream starts with the 2 link(s)'
	assert_equal "$(i_list "$BATS_TEST_TMPDIR/s.bson" | head -n 2 | tr '\n' ' ')" "1 2 "
	# With the commit the reader would read next, the applier has the whole transaction.
	{
		oplog-show "$BATS_TEST_TMPDIR/s.bson" | jq -c 'select(.op != "n")'
		link 3 "$LSID_A" 2 "{\"commitTransaction\": 1, \"commitTimestamp\": $(at 2)}"
	} | "${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson" >"$BATS_TEST_TMPDIR/c.bson"
	run oplog-apply -q "$BATS_TEST_TMPDIR/c.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.t" | jq -c '._id."$numberInt"' | tr '\n' ' ')" '"1" "2" '
	fabricated_end
}
