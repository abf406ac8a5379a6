# apply-case.bash - one constructed stream applied to a real server and
# the documents compared, byte for byte (field order included), with what
# mongod's own oplog application makes of them. Load after lib/helpers.
#
# A case is three files in $BATS_TEST_TMPDIR: before.json (the documents
# of collection c before, one JSON document a line, may be empty),
# stream.json (the entries, @DB@ standing for the database) and
# after.json (c's documents after, sorted by _id as mongo_dump prints).
# A file named unique there gives c a unique index on k.

JSON2BSON=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/json2bson

json2bson() { "$JSON2BSON" "$@"; }

# Canonical Extended JSON lines of JSON documents, in the order given.
documents() { json2bson | oplog-show; }

# case_setup DB: collection c holding before.json, with the unique index
# on k when $BATS_TEST_TMPDIR/unique exists.
case_setup() {
	if [[ -s $BATS_TEST_TMPDIR/before.json ]]; then
		mongo_insert "$DST_URI" "$1.c" <"$BATS_TEST_TMPDIR/before.json"
	else
		mongo_cmd "$DST_URI" "$1" '{"create": "c"}' >/dev/null
	fi
	if [[ -e $BATS_TEST_TMPDIR/unique ]]; then
		mongo_cmd "$DST_URI" "$1" '{"createIndexes": "c", "indexes": [{"key": {"k": 1}, "name": "k_1", "unique": true}]}' >/dev/null
	fi
}

# case_stream DB: stream.json for DB, as BSON.
case_stream() { sed "s/@DB@/$1/g" "$BATS_TEST_TMPDIR/stream.json" | json2bson; }

# check_case NAME: the stream applied to a fresh database with --jobs 1
# and --jobs 4, then again over its own result, and with --batch 1 (no
# folding) to another fresh one: c must hold exactly after.json each time.
# CASE_DB is that last database, for checks of other collections.
check_case() {
	local db expected jobs
	expected=$(documents <"$BATS_TEST_TMPDIR/after.json")
	for jobs in 1 4; do
		db=$(unique_db "$1_$jobs")
		case_setup "$db"
		case_stream "$db" >"$BATS_TEST_TMPDIR/s.bson"
		run oplog-apply --jobs "$jobs" "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
		assert_success
		assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
		run oplog-apply --jobs "$jobs" "$BATS_TEST_TMPDIR/s.bson" "$DST_URI"
		assert_success
		assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
	done
	db=$(unique_db "$1_one")
	case_setup "$db"
	case_stream "$db" >"$BATS_TEST_TMPDIR/s1.bson"
	run oplog-apply --batch 1 "$BATS_TEST_TMPDIR/s1.bson" "$DST_URI"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" "$expected"
	CASE_DB=$db
}

# entry I OP COLL REST: one line of stream.json, at ts {t: 1, i: I}, on
# @DB@.COLL; REST is the rest of the entry's JSON (o, o2, b...).
entry() {
	echo "{\"ts\": {\"\$timestamp\": {\"t\": 1, \"i\": $1}}, \"op\": \"$2\", \"ns\": \"@DB@.$3\", $4}"
}
