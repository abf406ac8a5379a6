/*
 * test_pushdown - reading FerretDB's explain for an _id lookup and the
 * choice oplog-apply makes from it (common/pushdown.c): n finds by _id
 * where the server indexes {_id: X} and scans a $in, one $in otherwise.
 * The replies are FerretDB v1.24.2's own, trimmed (PostgreSQL and SQLite
 * backends), and MongoDB's shape, which has no filterPushdown.
 */
#include <stdio.h>

#include "pushdown.h"

static int failures;

static int
of_json(const char *json)
{
	bson_error_t error;
	bson_t *reply = bson_new_from_json((const uint8_t *)json, -1, &error);
	int pushed;

	if (reply == NULL) {
		fprintf(stderr, "test_pushdown: bad JSON %s: %s\n", json, error.message);
		failures++;
		return -3;
	}
	pushed = pushdown_of_reply(reply);
	bson_destroy(reply);
	return pushed;
}

static void
expect_int(int got, int want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "test_pushdown: %s: got %d, want %d\n", what, got, want);
		failures++;
	}
}

static void
test_replies(void)
{
	expect_int(of_json("{\"queryPlanner\": {\"Plan\": {\"Node Type\": \"Seq Scan\"}},"
	    " \"filterPushdown\": true, \"ok\": 1}"), 1, "PostgreSQL, {_id: 5}");
	expect_int(of_json("{\"queryPlanner\": {\"Plan\": {\"Node Type\": \"Seq Scan\"}},"
	    " \"filterPushdown\": false, \"ok\": 1}"), 0, "PostgreSQL, {_id: {$in: [5]}}");
	expect_int(of_json("{\"queryPlanner\": {\"Plan\": [\"SCAN c_e60c2c52\"]},"
	    " \"filterPushdown\": false, \"ok\": 1}"), 0, "SQLite, {_id: 5}");
	/* FerretDB on a collection that does not exist: false whatever the filter. */
	expect_int(of_json("{\"queryPlanner\": {}, \"filterPushdown\": false, \"ok\": 1}"), -2,
	    "a collection not there yet");
	expect_int(of_json("{\"queryPlanner\": {\"winningPlan\": {\"stage\": \"IDHACK\"}}, \"ok\": 1}"),
	    -1, "MongoDB");
}

static void
expect_bool(bool got, bool want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "test_pushdown: %s: got %s, want %s\n", what,
		    got ? "one by one" : "one $in", want ? "one by one" : "one $in");
		failures++;
	}
}

static void
test_choice(void)
{
	/* PostgreSQL: integer _ids by index, a $in scans (the case that cost --jobs 4 its gain). */
	expect_bool(pushdown_one_by_one(1, 0, BSON_TYPE_INT64), true, "PostgreSQL, int64 _id");
	expect_bool(pushdown_one_by_one(1, 0, BSON_TYPE_INT32), true, "PostgreSQL, int32 _id");
	/* SQLite: an integer _id is a scan either way: one scan, not n. */
	expect_bool(pushdown_one_by_one(0, 0, BSON_TYPE_INT64), false, "SQLite, int64 _id");
	expect_bool(pushdown_one_by_one(1, 0, BSON_TYPE_OID), true, "SQLite, ObjectId _id");
	/* A server that pushes down the $in too: one round trip. */
	expect_bool(pushdown_one_by_one(1, 1, BSON_TYPE_OID), false, "$in pushed down");
	/* Unknown (MongoDB, no answer yet): what SQLite does. */
	expect_bool(pushdown_one_by_one(-1, -1, BSON_TYPE_OID), true, "unknown, ObjectId _id");
	expect_bool(pushdown_one_by_one(-1, -1, BSON_TYPE_UTF8), true, "unknown, string _id");
	expect_bool(pushdown_one_by_one(-1, -1, BSON_TYPE_INT64), false, "unknown, int64 _id");
	expect_bool(pushdown_one_by_one(-2, 0, BSON_TYPE_INT64), false, "not there yet, int64 _id");
}

int
main(void)
{
	test_replies();
	test_choice();
	if (failures > 0) {
		fprintf(stderr, "test_pushdown: %d failure(s)\n", failures);
		return 1;
	}
	return 0;
}
