#!/usr/bin/env bats
# sync-check: two real servers compared namespace by namespace, index by
# index, document by document; and the lag against a checkpoint.

load lib/helpers
load lib/metrics
bats_require_minimum_version 1.5.0

# The same documents, with _ids of many types, on both sides of $db.c.
seed_both() {
	local docs='{"_id": 1, "a": "int"}
{"_id": {"$numberLong": "2"}, "a": "long"}
{"_id": 2.5, "a": "double"}
{"_id": -1e300, "a": "tiny"}
{"_id": "A", "a": "upper"}
{"_id": "a", "a": "lower"}
{"_id": "ab", "a": "longer"}
{"_id": {"x": 1}, "a": "doc"}
{"_id": {"x": 1, "y": 1}, "a": "doc2"}
{"_id": {"y": 0}, "a": "doc3"}
{"_id": {"x": "s"}, "a": "doc4"}
{"_id": {"$oid": "5f0000000000000000000001"}, "a": "oid"}
{"_id": {"$binary": {"base64": "AAE=", "subType": "00"}}, "a": "bin"}
{"_id": true, "a": "bool"}
{"_id": {"$date": "2020-01-01T00:00:00Z"}, "a": "date"}
{"_id": null, "a": "null"}'
	for uri in "$SRC_URI" "$DST_URI"; do
		mongo_cmd "$uri" "$db" '{"create": "c"}' >/dev/null
		mongo_cmd "$uri" "$db" '{"createIndexes": "c", "indexes": [{"key": {"a": 1, "b": -1}, "name": "a_b", "unique": true}]}' >/dev/null
		mongo_insert "$uri" "$db.c" <<<"$docs"
	done
}

setup() {
	db=$(unique_db sync)
}

teardown() {
	[[ -z ${pid:-} ]] || kill "$pid" 2>/dev/null || true
}

@test "sync-check exits 0 on equal collections with _ids of mixed types" {
	seed_both
	mongo_cmd "$SRC_URI" "$db" '{"insert": "d", "documents": [{"_id": 1}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "d", "documents": [{"_id": 1}]}'
	run --separate-stderr sync-check --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_success
	assert_output ''
	[[ $stderr == *"2 namespaces, 17 documents compared, 0 missing, 0 extra, 0 differ"* ]]
	# No lookup fallback was needed: our _id order is the server's.
	[[ $stderr != *"order is not ours"* ]]
}

@test "sync-check finds a missing, an extra and a differing document, a missing collection and a different index" {
	seed_both
	mongo_cmd "$DST_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": "ab"}, "limit": 1}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 3, "a": "only on the target"}]}'
	# Same fields, other order: a difference, as in MongoDB's dbHash.
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 7, "p": 1, "q": 2}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 7, "q": 2, "p": 1}]}'
	mongo_cmd "$SRC_URI" "$db" '{"insert": "gone", "documents": [{"_id": 1}]}'
	mongo_cmd "$SRC_URI" "$db" '{"createIndexes": "c", "indexes": [{"key": {"z": 1}, "name": "z"}]}'
	mongo_cmd "$DST_URI" "$db" '{"createIndexes": "c", "indexes": [{"key": {"z": -1}, "name": "z"}]}'

	run --separate-stderr sync-check --json --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_failure 1
	[[ $stderr == *"2 namespaces, 16 documents compared, 2 missing, 1 extra, 2 differ"* ]]
	run jq -c --arg db "$db" '{ns: (.ns | sub("^" + $db; "DB")), _id, kind, index}' <<<"$output"
	assert_line '{"ns":"DB.c","_id":"ab","kind":"missing","index":null}'
	assert_line '{"ns":"DB.c","_id":3,"kind":"extra","index":null}'
	assert_line '{"ns":"DB.c","_id":7,"kind":"differs","index":null}'
	assert_line '{"ns":"DB.gone","_id":null,"kind":"missing","index":null}'
	assert_line '{"ns":"DB.c","_id":null,"kind":"differs","index":"z"}'
	assert_equal "${#lines[@]}" 5
}

@test "sync-check writes differences as a BSON stream, and --recheck after the fix exits 0" {
	seed_both
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": {"x": 1}}, "u": {"$set": {"a": "changed"}}}]}'
	mongo_cmd "$DST_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 2.5}, "limit": 1}]}'
	run sync-check -o "$BATS_TEST_TMPDIR/diffs.bson" --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_failure 1
	run oplog-show "$BATS_TEST_TMPDIR/diffs.bson"
	assert_success
	assert_line --partial '"_id" : { "x" : { "$numberInt" : "1" } }, "kind" : "differs"'
	assert_line --partial '"_id" : { "$numberDouble" : "2.5" }, "kind" : "missing"'

	# Still different: the recheck says so again, and only that. No
	# applier runs here: a checkpoint name nobody wrote, or another test's
	# "default" would make these changes "in flight" (tests/in-flight.bats).
	run --separate-stderr sync-check --recheck "$BATS_TEST_TMPDIR/diffs.bson" --name "none_$db" "$SRC_URI" "$DST_URI"
	assert_failure 1
	[[ $stderr == *"2 records rechecked: 1 documents compared, 1 missing, 0 extra, 1 differ"* ]]

	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": {"x": 1}}, "u": {"$set": {"a": "doc"}}}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 2.5, "a": "double"}]}'
	run --separate-stderr sync-check --recheck "$BATS_TEST_TMPDIR/diffs.bson" --name "none_$db" "$SRC_URI" "$DST_URI"
	assert_success
	assert_output ''
	run sync-check --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_success
}

@test "sync-check --recheck reads its own --json output and rechecks a missing collection" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": "k", "v": 1}]}'
	run sync-check --json -o "$BATS_TEST_TMPDIR/diffs.json" --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_failure 1
	run cat "$BATS_TEST_TMPDIR/diffs.json"
	assert_output --partial '"kind" : "missing", "collection" : true'
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": "k", "v": 1}]}'
	run --separate-stderr sync-check --recheck "$BATS_TEST_TMPDIR/diffs.json" --json "$SRC_URI" "$DST_URI"
	assert_success
	assert_output ''
}

@test "sync-check -j 3 finds the same differences as one job" {
	for c in c1 c2 c3 c4; do
		mongo_cmd "$SRC_URI" "$db" "{\"insert\": \"$c\", \"documents\": [{\"_id\": 1}, {\"_id\": 2}]}"
		mongo_cmd "$DST_URI" "$db" "{\"insert\": \"$c\", \"documents\": [{\"_id\": 1}, {\"_id\": 2, \"x\": 1}]}"
	done
	run --separate-stderr sync-check --json --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_failure 1
	one=$(sort <<<"$output")
	run --separate-stderr sync-check -j 3 --json --ns "$db.*" "$SRC_URI" "$DST_URI"
	assert_failure 1
	assert_equal "$(sort <<<"$output")" "$one"
	assert_equal "${#lines[@]}" 4
}

# Write checkpoint NAME on the target at ts T,I.
checkpoint() {
	mongo_cmd "$DST_URI" oplogkit "{\"insert\": \"checkpoints\", \"documents\": [{\"_id\": \"$1\", \"ts\": {\"\$timestamp\": {\"t\": $2, \"i\": $3}}, \"count\": 1}]}" >/dev/null
}

@test "sync-check --lag-only measures a checkpoint behind and at the source's newest ts" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}'
	first=$(oplog-read --now "$SRC_URI")
	# The next inserts 2 s later: the checkpoint just before the first one
	# leaves it, the oldest change not applied, at least 2 s old.
	wait_for "the first insert to be 2 s old" clock_past "${first%,*}" 2
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 2}, {"_id": 3}]}'
	newest=$(oplog-read --now "$SRC_URI")
	t=${newest%,*} i=${newest#*,}
	# Three entries (our inserts) come after the ts two inserts back.
	behind=$(mongo_dump_bson "$SRC_URI" local.oplog.rs | oplog-show | tail -n 3 | head -n 1 |
		jq -r '.ts["$timestamp"] | "\(.t) \(.i)"')
	name=$(unique_db behind)
	checkpoint "$name" "${first%,*}" $((${first#*,} - 1))
	# The lag is the age now of that first insert, not newest minus checkpoint.
	run sync-check --lag-only --name "$name" "$SRC_URI" "$DST_URI"
	assert_success
	[[ $output =~ ^lag\ ([0-9]+)\ s,\ [0-9]+\ entries\ \(source\ newest\ $t,$i,\ checkpoint\ $name\ at\ ${first%,*},$((${first#*,} - 1))\)$ ]] ||
		fail "$output"
	lag=${BASH_REMATCH[1]}
	((lag >= 2 && lag <= $(date +%s) - ${first%,*})) || fail "lag $lag is not the age of $first"
	run sync-check --lag-only --max-lag 1s --name "$name" "$SRC_URI" "$DST_URI"
	assert_failure 1
	run sync-check --lag-only --max-lag 1h --name "$name" "$SRC_URI" "$DST_URI"
	assert_success

	name=$(unique_db near)
	checkpoint "$name" $behind
	run sync-check --lag-only --json --name "$name" "$SRC_URI" "$DST_URI"
	assert_success
	assert_equal "$(jq -c '[.entries, .source["$timestamp"].t]' <<<"$output")" "[2,$t]"
	# Two entries behind, most likely within the same second: still not
	# "0 s behind" for a gate, which means caught up.
	run sync-check --lag-only --max-lag 0s --name "$name" "$SRC_URI" "$DST_URI"
	assert_failure 1

	name=$(unique_db at)
	checkpoint "$name" "$t" "$i"
	run sync-check --lag-only --max-lag 0s --name "$name" "$SRC_URI" "$DST_URI"
	assert_success
	assert_output "lag 0 s, 0 entries (source newest $t,$i, checkpoint $name at $t,$i)"
}

@test "sync-check --lag-only without the checkpoint: unknown, and over any --max-lag" {
	run sync-check --lag-only --name "$(unique_db none)" "$SRC_URI" "$DST_URI"
	assert_success
	assert_output --partial "lag unknown: no checkpoint"
	run sync-check --lag-only --max-lag 1h --name "$(unique_db none)" "$SRC_URI" "$DST_URI"
	assert_failure 1
}

@test "sync-check --watch prints the lag every second until SIGINT, then exits 0" {
	name=$(unique_db watch)
	checkpoint "$name" 1 0
	sync-check --watch --name "$name" "$SRC_URI" "$DST_URI" >"$BATS_TEST_TMPDIR/out" &
	pid=$!
	# Each line costs two reads of the source's oplog, slow on FerretDB
	# with a long one: wait for the second line rather than a fixed time.
	for _ in $(seq 1 300); do
		(($(wc -l <"$BATS_TEST_TMPDIR/out") >= 2)) && break
		sleep 0.1
	done
	kill -INT "$pid"
	wait "$pid"
	run cat "$BATS_TEST_TMPDIR/out"
	((${#lines[@]} >= 2))
	assert_line --index 0 --regexp '^lag [0-9]+ s, [0-9]+ entries'
}

# move_checkpoint NAME T I: the applier's checkpoint NAME moved to T,I.
move_checkpoint() {
	mongo_cmd "$DST_URI" oplogkit "{\"update\": \"checkpoints\", \"updates\": [{\"q\": {\"_id\": \"$1\"}, \"u\": {\"\$set\": {\"ts\": {\"\$timestamp\": {\"t\": $2, \"i\": $3}}}}}]}" >/dev/null
}

watch_saw_entries() {
	[[ -n $(metric "$1" oplogkit_lag_entries) && $(metric_phase "$1") == watching ]]
}

watch_caught_up() {
	[[ $(metric "$1" oplogkit_lag_seconds) == 0.000 && $(metric "$1" oplogkit_lag_entries) == 0 &&
		$(metric "$1" oplogkit_checkpoint_timestamp_seconds) == "$2" ]]
}

@test "sync-check --watch --metrics: the lag is the age of the oldest change not applied, with its entries and the checkpoint; 0 once caught up" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 3}]}'
	newest=$(oplog-read --now "$SRC_URI")
	t=${newest%,*} i=${newest#*,}
	# A checkpoint an hour before the newest entry. The lag is not that
	# hour (newest ts minus checkpoint ts) but the age now of the first
	# entry after the checkpoint: the oldest change the applier lacks.
	name=$(unique_db watchm)
	checkpoint "$name" $((t - 3600)) 0
	after=$(mongo_dump_bson "$SRC_URI" local.oplog.rs | oplog-show |
		jq -c --argjson c $((t - 3600)) '.ts["$timestamp"] | select(.t > $c or (.t == $c and .i > 0)) | .t')
	first=$(head -n 1 <<<"$after")
	sync-check --watch --metrics "$BATS_TEST_TMPDIR/check.prom" --name "$name" \
		"$SRC_URI" "$DST_URI" >/dev/null 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for "a lag in check.prom" watch_saw_entries "$BATS_TEST_TMPDIR/check.prom"
	cp "$BATS_TEST_TMPDIR/check.prom" "$BATS_TEST_TMPDIR/behind.prom"
	assert_prometheus_text "$BATS_TEST_TMPDIR/behind.prom"
	assert_equal "$(metric "$BATS_TEST_TMPDIR/behind.prom" oplogkit_lag_entries)" "$(wc -l <<<"$after")"
	assert_equal "$(metric "$BATS_TEST_TMPDIR/behind.prom" oplogkit_checkpoint_timestamp_seconds)" $((t - 3600))
	assert_equal "$(metric "$BATS_TEST_TMPDIR/behind.prom" oplogkit_checkpoint_increment)" 0
	# Lag and the file's time are taken at the same instant: lag = then - first.
	lag=$(metric "$BATS_TEST_TMPDIR/behind.prom" oplogkit_lag_seconds)
	stamp=$(metric "$BATS_TEST_TMPDIR/behind.prom" oplogkit_metrics_updated_timestamp_seconds)
	awk -v lag="$lag" -v stamp="$stamp" -v first="$first" \
		'BEGIN { d = stamp - first - lag; exit !(lag > 0 && d < 0.002 && d > -0.002) }' ||
		fail "lag $lag is not $stamp - $first"
	# No oplog counters: sync-check moves no entries.
	run grep -c '^oplogkit_entries_read_total' "$BATS_TEST_TMPDIR/behind.prom"
	assert_output 0

	move_checkpoint "$name" "$t" "$i"
	wait_for "lag 0 in check.prom" watch_caught_up "$BATS_TEST_TMPDIR/check.prom" "$t"
	assert_equal "$(metric "$BATS_TEST_TMPDIR/check.prom" oplogkit_checkpoint_increment)" "$i"
	kill -INT "$pid"
	wait "$pid"
	pid=
	assert_prometheus_text "$BATS_TEST_TMPDIR/check.prom"
	assert_equal "$(metric_phase "$BATS_TEST_TMPDIR/check.prom")" stopped
	assert_equal "$(metric "$BATS_TEST_TMPDIR/check.prom" oplogkit_errors_total)" 0
}

@test "sync-check --metrics: a comparison's namespaces, documents and differences; a recheck's records" {
	seed_both
	mongo_cmd "$DST_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": "ab"}, "limit": 1}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 3, "a": "only on the target"}]}'
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": "A"}, "u": {"$set": {"a": "changed"}}}]}'
	mongo_cmd "$SRC_URI" "$db" '{"insert": "gone", "documents": [{"_id": 1}]}'
	run --separate-stderr sync-check -o "$BATS_TEST_TMPDIR/diffs.bson" --ns "$db.*" \
		--metrics "$BATS_TEST_TMPDIR/check.prom" --metrics-log "$BATS_TEST_TMPDIR/check.log" \
		"$SRC_URI" "$DST_URI"
	assert_failure 1
	[[ $stderr == *"2 namespaces, 15 documents compared, 2 missing, 1 extra, 1 differ"* ]]
	m=$BATS_TEST_TMPDIR/check.prom
	assert_prometheus_text "$m"
	assert_equal "$(metric_phase "$m")" done
	assert_equal "$(metric "$m" oplogkit_namespaces_planned)" 2
	assert_equal "$(metric "$m" oplogkit_namespaces_compared_total)" 2
	assert_equal "$(metric "$m" oplogkit_documents_compared_total)" 15
	assert_equal "$(metric "$m" oplogkit_documents_missing_total)" 2
	assert_equal "$(metric "$m" oplogkit_documents_extra_total)" 1
	assert_equal "$(metric "$m" oplogkit_documents_differ_total)" 1
	assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/check.log" | jq -c '[.program, .phase, .documents_missing_total, .documents_compared_total]')" \
		'["sync-check","done",2,15]'

	# Fixed on the target: the recheck looks at the four records again and finds none.
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": "ab", "a": "longer"}]}'
	mongo_cmd "$DST_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": 3}, "limit": 1}]}'
	mongo_cmd "$DST_URI" "$db" '{"update": "c", "updates": [{"q": {"_id": "A"}, "u": {"$set": {"a": "upper"}}}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "gone", "documents": [{"_id": 1}]}'
	run --separate-stderr sync-check --recheck "$BATS_TEST_TMPDIR/diffs.bson" \
		--metrics "$BATS_TEST_TMPDIR/recheck.prom" "$SRC_URI" "$DST_URI"
	assert_success
	m=$BATS_TEST_TMPDIR/recheck.prom
	assert_prometheus_text "$m"
	assert_equal "$(metric "$m" oplogkit_records_rechecked_total)" 4
	assert_equal "$(metric "$m" oplogkit_documents_in_flight_total)" 0
	assert_equal "$(metric "$m" oplogkit_documents_missing_total)" 0
	assert_equal "$(metric "$m" oplogkit_documents_differ_total)" 0
	assert_equal "$(metric_phase "$m")" done
}

@test "sync-check takes its URIs from files or the environment, and wants both" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}'
	echo "$SRC_URI" >"$BATS_TEST_TMPDIR/src"
	run env OPLOGKIT_TARGET_URI="$DST_URI" sync-check --source-uri-file "$BATS_TEST_TMPDIR/src" --ns "$db.*"
	assert_failure 1
	run sync-check "$SRC_URI"
	assert_failure 2
	assert_output --partial 'give both SOURCE and TARGET'
	run sync-check --help
	assert_success
	assert_output --partial 'usage: sync-check'
	run sync-check --jobs 0 "$SRC_URI" "$DST_URI"
	assert_failure 2
}

@test "sync-check exits 4 when a server cannot be reached" {
	run sync-check --retry-for 0 --ns "$db.*" "$SRC_URI" 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300'
	assert_failure 4
	assert_output --partial '127.0.0.1:1'
}

@test "sync-check on a terminal prints JSON lines, never BSON, and says how to --recheck; -o FILE names it" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 1}, {"_id": 2}]}'
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "a": 2}]}'
	# script(1) gives the program a terminal as its stdout.
	script -qec "sync-check --ns '$db.*' '$SRC_URI' '$DST_URI'; echo \"status \$?\"" /dev/null \
	    </dev/null >"$BATS_TEST_TMPDIR/tty"
	run cat "$BATS_TEST_TMPDIR/tty"
	assert_line --partial "status 1"
	assert_output --partial "\"ns\" : \"$db.c\""
	assert_output --partial 'look again at just those with --recheck FILE'
	# No BSON frame reached the terminal: not one NUL byte.
	assert_equal "$(tr -cd '\000' <"$BATS_TEST_TMPDIR/tty" | wc -c)" 0
	run --separate-stderr sync-check --ns "$db.*" -o "$BATS_TEST_TMPDIR/d.bson" "$SRC_URI" "$DST_URI"
	assert_failure 1
	[[ $stderr == *"sync-check --recheck $BATS_TEST_TMPDIR/d.bson"* ]]
	assert_equal "$(oplog-show "$BATS_TEST_TMPDIR/d.bson" | wc -l)" 2
}
