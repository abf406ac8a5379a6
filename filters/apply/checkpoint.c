/*
 * checkpoint.c - the checkpoint {_id: NAME, ts, count, wall} that
 * oplog-apply keeps in oplogkit.checkpoints on the target after each
 * batch, so a crash costs a re-apply, never data.
 *
 * It never moves backwards: a run that starts behind it (no --resume)
 * leaves it alone until it passes it, and each write holds only while the
 * stored ts is not past the new one, so a checkpoint moved ahead by
 * anyone else is an error, never overwritten.
 */
#include <inttypes.h>
#include <time.h>

#include "checkpoint.h"
#include "conn.h"
#include "die.h"
#include "lag.h"

uint64_t
counters_applied(const struct counters *count)
{
	return count->inserts + count->updates + count->deletes + count->commands;
}

void
checkpoint_read(struct applier *app, timestamp_t *ts)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(app->client, LAG_CHECKPOINT_DB,
	    LAG_CHECKPOINT_COLLECTION);
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(app->name));
	retry_policy policy;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
		const bson_t *doc;
		bson_error_t error;
		bson_iter_t iter;

		if (mongoc_cursor_next(cursor, &doc)) {
			*ts = entry_ts(doc);
			if (bson_iter_init_find(&iter, doc, "count") && BSON_ITER_HOLDS_NUMBER(&iter))
				app->applied_total = (uint64_t)bson_iter_as_int64(&iter);
		}
		if (!mongoc_cursor_error(cursor, &error)) {
			mongoc_cursor_destroy(cursor);
			break;
		}
		mongoc_cursor_destroy(cursor);
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "%s: cannot read checkpoint '%s': %s", conn_masked(app->client),
			    app->name, error.message);
	}
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
}

void
checkpoint_advance(struct applier *app, timestamp_t ts)
{
	mongoc_collection_t *coll;
	bson_t *selector, *doc, *opts;
	retry_policy policy;
	bson_error_t error;
	bool written;
	char at[32];

	/* Behind or at it: nothing to write, and checkpoint_due need not ask again for a while. */
	clock_gettime(CLOCK_MONOTONIC, &app->saved_at);
	lease_check();
	if (ts_compare(ts, app->saved_ts) <= 0)
		return;
	coll = mongoc_client_get_collection(app->client, LAG_CHECKPOINT_DB,
	    LAG_CHECKPOINT_COLLECTION);
	/* Upsert: with a stored ts past ts the filter fails, the insert hits _id. */
	selector = BCON_NEW("_id", BCON_UTF8(app->name), "$or", "[",
	    "{", "ts", "{", "$lte", BCON_TIMESTAMP(ts.t, ts.i), "}", "}",
	    "{", "ts", "{", "$exists", BCON_BOOL(false), "}", "}", "]");
	doc = BCON_NEW("_id", BCON_UTF8(app->name), "ts", BCON_TIMESTAMP(ts.t, ts.i),
	    "count", BCON_INT64((int64_t)(app->applied_total + counters_applied(&app->count))),
	    "wall", BCON_DATE_TIME((int64_t)time(NULL) * 1000));
	opts = BCON_NEW("upsert", BCON_BOOL(true));
	retry_init(&policy, conn_retry_for());
	while (!(written = mongoc_collection_replace_one(coll, selector, doc, opts, NULL, &error)))
		if (error.code == 11000 || !retry_again(&policy, &error))
			break;
	bson_destroy(opts);
	bson_destroy(doc);
	bson_destroy(selector);
	mongoc_collection_destroy(coll);
	if (!written && error.code == 11000)
		die(EXIT_LEASE_HELD, "%s: checkpoint '%s' is past %s: another writer moved it; "
		    "not moving it back", conn_masked(app->client), app->name,
		    ts_format(ts, at, sizeof(at)));
	if (!written)
		die(EXIT_SERVER, "%s: cannot write checkpoint '%s': %s", conn_masked(app->client),
		    app->name, error.message);
	app->saved_ts = ts;
}
