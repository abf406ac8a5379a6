/*
 * lag.c - the source's newest oplog ts against the target's checkpoint,
 * and the lag in oplogkit's one meaning: the age of the oldest source
 * change the checkpoint does not cover, 0 once it covers the newest.
 */
#include <string.h>
#include <time.h>

#include "conn.h"
#include "lag.h"

bool
lag_checkpoint(mongoc_client_t *target, const char *name, timestamp_t *ts, bool *found,
    bson_error_t *error)
{
	bson_t *command = BCON_NEW("find", BCON_UTF8(LAG_CHECKPOINT_COLLECTION),
	    "filter", "{", "_id", BCON_UTF8(name), "}", "limit", BCON_INT32(1),
	    "singleBatch", BCON_BOOL(true));
	bson_iter_t iter, batch;
	bson_t reply;
	bool ok;

	*found = false;
	ts->t = ts->i = 0;
	ok = conn_command(target, LAG_CHECKPOINT_DB, command, &reply, error);
	bson_destroy(command);
	if (!ok) {
		bson_destroy(&reply);
		return false;
	}
	/* The first document of cursor.firstBatch, and its Timestamp ts. */
	if (bson_iter_init(&iter, &reply) &&
	    bson_iter_find_descendant(&iter, "cursor.firstBatch", &batch) &&
	    BSON_ITER_HOLDS_ARRAY(&batch) && bson_iter_recurse(&batch, &iter) &&
	    bson_iter_next(&iter) && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
		bson_iter_t doc;

		if (bson_iter_recurse(&iter, &doc) && bson_iter_find(&doc, "ts") &&
		    BSON_ITER_HOLDS_TIMESTAMP(&doc)) {
			bson_iter_timestamp(&doc, &ts->t, &ts->i);
			*found = true;
		}
	}
	bson_destroy(&reply);
	return true;
}

bool
lag_measure(mongoc_client_t *source, mongoc_client_t *target, const char *name,
    struct lag *lag, bson_error_t *error)
{
	memset(lag, 0, sizeof(*lag));
	if (!conn_newest_ts(source, &lag->newest.t, &lag->newest.i, error))
		return false;
	if (!lag_checkpoint(target, name, &lag->checkpoint, &lag->has_checkpoint, error))
		return false;
	if (!lag->has_checkpoint) {
		lag->seconds = (long)lag->newest.t;
	} else if (lag_caught_up(lag)) {
		lag->seconds = 0;
	} else {
		timestamp_t first;
		bool found;

		if (!lag_first_after(source, lag->checkpoint, &first, &found, error))
			return false;
		/* Not found: trimmed or raced away; the newest is then the oldest known. */
		if (!found)
			first = lag->newest;
		lag->seconds = (long)time(NULL) - (long)first.t;
		if (lag->seconds < 0)	/* the source's clock ahead of ours */
			lag->seconds = 0;
	}
	return true;
}

bool
lag_caught_up(const struct lag *lag)
{
	return lag->has_checkpoint && ts_compare(lag->checkpoint, lag->newest) >= 0;
}

bool
lag_entries_after(mongoc_client_t *source, timestamp_t ts, int64_t *count, bson_error_t *error)
{
	bson_t *command = BCON_NEW("count", BCON_UTF8("oplog.rs"),
	    "query", "{", "ts", "{", "$gt", BCON_TIMESTAMP(ts.t, ts.i), "}", "}");
	bson_iter_t iter;
	bson_t reply;
	bool ok;

	*count = 0;
	ok = conn_command(source, "local", command, &reply, error);
	bson_destroy(command);
	if (ok && bson_iter_init_find(&iter, &reply, "n") && BSON_ITER_HOLDS_NUMBER(&iter))
		*count = bson_iter_as_int64(&iter);
	bson_destroy(&reply);
	return ok;
}

bool
lag_within(const struct lag *lag, long max_ms)
{
	/* ts counts whole seconds: "0 s behind" can only mean caught up. */
	if (max_ms <= 0)
		return lag_caught_up(lag);
	return lag->has_checkpoint && lag->seconds * 1000 <= max_ms;
}

bool
lag_first_matching(mongoc_client_t *source, timestamp_t ts, const bson_t *also, timestamp_t *first,
    bool *found, bson_error_t *error)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(source, "local", "oplog.rs");
	bson_t *filter = BCON_NEW("ts", "{", "$gt", BCON_TIMESTAMP(ts.t, ts.i), "}");
	/* No sort: natural order is oldest first, and FerretDB reads its whole
	 * oplog for a sort (conn_oldest_ts asks the same way). */
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_iter_t iter;
	bool ok = true;

	if (also != NULL)
		bson_concat(filter, also);
	cursor = mongoc_collection_find_with_opts(oplog, filter, opts, NULL);
	*found = false;
	first->t = first->i = 0;
	if (mongoc_cursor_next(cursor, &doc)) {
		if (bson_iter_init_find(&iter, doc, "ts") && BSON_ITER_HOLDS_TIMESTAMP(&iter)) {
			bson_iter_timestamp(&iter, &first->t, &first->i);
			*found = true;
		}
	} else if (mongoc_cursor_error(cursor, error)) {
		ok = false;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(oplog);
	return ok;
}

bool
lag_first_after(mongoc_client_t *source, timestamp_t ts, timestamp_t *first, bool *found,
    bson_error_t *error)
{
	return lag_first_matching(source, ts, NULL, first, found, error);
}
