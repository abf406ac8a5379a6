/*
 * writes.c - source-retire's first check: no write on the source after
 * the switch ts but the reverse stream's, and that stream still running.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "mongo-errors.h"
#include "ns.h"
#include "shell.h"
#include "retire.h"

/* ---- check 1: writes on the source after the switch ---- */

static struct victim *
plan_find(struct plan *plan, const char *ns)
{
	struct victim key = { (char *)ns, 0, 0 };

	if (plan->count == 0)
		return NULL;
	return bsearch(&key, plan->items, plan->count, sizeof(*plan->items), compare_victims);
}

static void
count_write(struct retire *x, struct plan *plan, const char *ns)
{
	struct victim *victim;
	char db[256];

	/* dropDatabase names "db.*": it touches whatever we would drop there. */
	if (strlen(ns) > 2 && strcmp(ns + strlen(ns) - 2, ".*") == 0) {
		ns_database(ns, db, sizeof(db));
		if (!ns_match_database(x->config->filter, db))
			return;
	} else if (!ns_match(x->config->filter, ns)) {
		return;
	}
	plan->writes++;
	if ((victim = plan_find(plan, ns)) != NULL)
		victim->writes++;
	else
		plan->other_writes++;	/* a namespace gone since, or a whole database */
}

/* Count the entry's writes on selected namespaces, applyOps' inner ones included. */
static void
entry_count_writes(struct retire *x, struct plan *plan, const bson_t *entry)
{
	const char *op = entry_op(entry);
	char names[2][256];
	bson_iter_t iter, ops;
	int k, n;

	if (strcmp(op, "i") == 0 || strcmp(op, "u") == 0 || strcmp(op, "d") == 0) {
		count_write(x, plan, entry_ns(entry));
		return;
	}
	if (strcmp(op, "c") != 0)
		return;
	if (strcmp(entry_command(entry), "applyOps") == 0) {
		if (!bson_iter_init(&iter, entry) || !bson_iter_find_descendant(&iter, "o.applyOps", &ops) ||
		    !BSON_ITER_HOLDS_ARRAY(&ops) || !bson_iter_recurse(&ops, &iter))
			return;
		while (bson_iter_next(&iter)) {
			const uint8_t *data;
			uint32_t length;
			bson_t inner;

			if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
				continue;
			bson_iter_document(&iter, &length, &data);
			if (bson_init_static(&inner, data, length))
				entry_count_writes(x, plan, &inner);
		}
		return;
	}
	n = command_namespaces(entry, names);
	for (k = 0; k < n; k++)
		count_write(x, plan, names[k]);
}

/* Scan the source's oplog after --since. False with a message when it cannot tell. */
static bool
scan_oplog(struct retire *x, mongoc_client_t *source, struct plan *plan)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(source, "local", "oplog.rs");
	bson_t *filter = BCON_NEW("ts", "{", "$gt",
	    BCON_TIMESTAMP(x->config->since.t, x->config->since.i), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, filter, NULL, NULL);
	timestamp_t oldest;
	const bson_t *entry;
	bson_error_t error;
	char ts[32];

	/* History older than the switch is gone: writes may be gone with it. */
	if (!conn_oldest_ts(source, &oldest.t, &oldest.i, &error))
		die(EXIT_SERVER, "%s: the oplog: %s", conn_masked(source), error.message);
	if (ts_compare(oldest, x->config->since) > 0) {
		warnmsg("the source's oplog starts at %s, after the switch ts: cannot tell what it "
		    "took since", ts_format(oldest, ts, sizeof(ts)));
		mongoc_cursor_destroy(cursor);
		bson_destroy(filter);
		mongoc_collection_destroy(oplog);
		return false;
	}
	while (mongoc_cursor_next(cursor, &entry))
		entry_count_writes(x, plan, entry);
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: reading local.oplog.rs: %s", conn_masked(source), error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	mongoc_collection_destroy(oplog);
	return true;
}

/* The reverse checkpoint's ts and wall (ms); false when there is none. */
static bool
reverse_checkpoint(struct retire *x, mongoc_client_t *source, timestamp_t *ts, int64_t *wall_ms)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(source, LAG_CHECKPOINT_DB,
	    LAG_CHECKPOINT_COLLECTION);
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(x->config->reverse_name));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	bson_error_t error;
	bson_iter_t iter;
	bool found = false;

	*wall_ms = 0;
	if (mongoc_cursor_next(cursor, &doc)) {
		*ts = entry_ts(doc);
		found = true;
		if (bson_iter_init_find(&iter, doc, "wall") && BSON_ITER_HOLDS_DATE_TIME(&iter))
			*wall_ms = bson_iter_date_time(&iter);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: reading checkpoint %s: %s", conn_masked(source),
		    x->config->reverse_name, error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	return found;
}

/*
 * Whether a reverse stream runs, by its traces: its checkpoint on the
 * source is recent, or it has reached the target's newest entry.
 */
static bool
reverse_running(struct retire *x, mongoc_client_t *source, mongoc_client_t *target)
{
	timestamp_t checkpoint, newest;
	int64_t wall_ms, age_ms;
	bson_error_t error;
	char ts[32], top[32];

	if (!reverse_checkpoint(x, source, &checkpoint, &wall_ms)) {
		warnmsg("no reverse stream: no checkpoint %s in %s.%s on the source", x->config->reverse_name,
		    LAG_CHECKPOINT_DB, LAG_CHECKPOINT_COLLECTION);
		return false;
	}
	if (!conn_newest_ts(target, &newest.t, &newest.i, &error))
		die(EXIT_SERVER, "%s: the oplog: %s", conn_masked(target), error.message);
	age_ms = (int64_t)time(NULL) * 1000 - wall_ms;
	ts_format(checkpoint, ts, sizeof(ts));
	ts_format(newest, top, sizeof(top));
	if (ts_compare(checkpoint, newest) >= 0) {
		warnmsg("reverse stream %s: caught up (checkpoint %s, target newest %s)",
		    x->config->reverse_name, ts, top);
		return true;
	}
	if (wall_ms > 0 && age_ms < x->config->fresh_ms) {
		warnmsg("reverse stream %s: running (checkpoint %s written %" PRId64 " ms ago)",
		    x->config->reverse_name, ts, age_ms);
		return true;
	}
	warnmsg("reverse stream %s: not running (checkpoint %s written %" PRId64 " s ago, "
	    "target newest %s)", x->config->reverse_name, ts, age_ms / 1000, top);
	return false;
}

bool
writes_check(struct retire *x, mongoc_client_t *source, mongoc_client_t *target, struct plan *plan)
{
	char ts[32];
	size_t k;

	if (!scan_oplog(x, source, plan))
		return false;
	ts_format(x->config->since, ts, sizeof(ts));
	if (plan->writes == 0) {
		warnmsg("no writes on the selected namespaces after %s", ts);
		return true;
	}
	warnmsg("%" PRId64 " writes on the selected namespaces after %s", plan->writes, ts);
	if (reverse_running(x, source, target))
		return true;
	for (k = 0; k < plan->count; k++)
		if (plan->items[k].writes > 0)
			warnmsg("  %s: %" PRId64 " writes", plan->items[k].ns, plan->items[k].writes);
	if (plan->other_writes > 0)
		warnmsg("  elsewhere (dropped or whole databases): %" PRId64 " writes",
		    plan->other_writes);
	warnmsg("the source took writes after the switch and no reverse stream accounts for "
	    "them: something may still write there");
	return false;
}

