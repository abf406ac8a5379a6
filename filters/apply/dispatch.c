/*
 * dispatch.c - where an entry of oplog-apply goes: data ops to the
 * partitions (workers.c), commands to command.c, transactions to txn.c;
 * and the barrier, the checkpoint cadence and the fatal messages naming
 * the entry that all of them share. filters/oplog-apply.c only reads
 * the stream and hands each entry to apply_entry.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "checkpoint.h"
#include "clock.h"
#include "die.h"

#define MAX_DEPTH 8	/* applyOps inside applyOps */
#define CHECKPOINT_ROUNDS 10	/* between barriers: a checkpoint a second, or this many batches a job */

/*
 * What a batch handed over now claims: every entry up to done_ts is in it
 * or handed over before. The checkpoint never passes the first entry of
 * a transaction still held: a restart must read that entry again.
 */
timestamp_t
applier_claim(const struct applier *app)
{
	timestamp_t ts = app->done_ts, floor;

	if (txn_floor(app->txns, &floor) && ts_compare(floor, ts) < 0)
		ts = floor;
	return ts;
}

void
applier_flush(struct applier *app)
{
	timestamp_t ts = applier_claim(app);

	lease_check();	/* an applier that lost its name writes nothing more */
	workers_drain(app->workers, ts);
	workers_collect(app->workers, &app->count);
	checkpoint_advance(app, ts);
}

/*
 * The checkpoint follows what every partition has written, once a
 * second or every CHECKPOINT_ROUNDS batches per partition: more often
 * buys nothing (a crash re-applies the difference) and costs a round
 * trip on the reading thread.
 */
void
checkpoint_due(struct applier *app)
{
	uint64_t batches = workers_handed(app->workers) - app->handed_saved;
	timestamp_t ts;

	if (batches < (uint64_t)CHECKPOINT_ROUNDS * (uint64_t)app->jobs &&
	    clock_seconds_since(&app->saved_at) < 1.0)
		return;
	if (!workers_written(app->workers, applier_claim(app), &ts) ||
	    ts_compare(ts, app->saved_ts) == 0)
		return;
	workers_collect(app->workers, &app->count);
	checkpoint_advance(app, ts);
	app->handed_saved = workers_handed(app->workers);
}

static void entry_vdie(struct applier *, int, const char *, va_list)
    __attribute__((format(printf, 3, 0), noreturn));

static void
entry_vdie(struct applier *app, int status, const char *fmt, va_list ap)
{
	char why[768];

	vsnprintf(why, sizeof(why), fmt, ap);
	applier_flush(app);
	die(status, "%s: entry %" PRIu64 " at byte %" PRIu64 ": %s",
	    stream_name(app->reader), stream_count(app->reader), stream_offset(app->reader), why);
}

void
entry_die(struct applier *app, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	entry_vdie(app, status, fmt, ap);
	va_end(ap);
}

void
entry_fail(struct applier *app, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	entry_vdie(app, EXIT_BAD_STREAM, fmt, ap);
	va_end(ap);
}

static void
apply_data(struct applier *app, const bson_t *op)
{
	const char *ns = entry_ns(op);
	char why[256];

	if (!ns_match(app->filter, ns)) {
		app->count.skipped++;
		return;
	}
	if (!workers_add(app->workers, ns, op, applier_claim(app), why, sizeof(why)))
		entry_fail(app, "%s: %s", ns, why);
}

static bool
is_index_insert(const char *ns)
{
	size_t length = strlen(ns);

	return length > 15 && strcmp(ns + length - 15, ".system.indexes") == 0;
}

void
apply_op(struct applier *app, const bson_t *op, int depth)
{
	const char *kind = entry_op(op);

	if (depth > MAX_DEPTH)
		entry_fail(app, "applyOps nested deeper than %d", MAX_DEPTH);
	if (strcmp(kind, "n") == 0 || entry_flag(op, "fromMigrate")) {
		app->count.skipped++;
	} else if (strcmp(kind, "c") == 0) {
		applier_flush(app);	/* a command is a barrier */
		command_apply(app, op, depth);
		workers_indexes_changed(app->workers);
	} else if (strcmp(kind, "i") == 0 && is_index_insert(entry_ns(op))) {
		applier_flush(app);
		command_index_insert(app, op);
		workers_indexes_changed(app->workers);
	} else if (strcmp(kind, "i") == 0 || strcmp(kind, "u") == 0 || strcmp(kind, "d") == 0) {
		apply_data(app, op);
	} else if (strcmp(kind, "db") == 0) {
		app->count.skipped++;	/* old servers declared databases so */
	} else {
		entry_fail(app, "unknown op '%s'", kind);
	}
}

void
apply_ops_array(struct applier *app, const bson_t *entry, int depth)
{
	bson_iter_t iter, ops;
	bson_t o;

	if (!entry_object(entry, "o", &o) || !bson_iter_init_find(&iter, &o, "applyOps") ||
	    !BSON_ITER_HOLDS_ARRAY(&iter) || !bson_iter_recurse(&iter, &ops))
		entry_fail(app, "applyOps without its array of ops");
	while (bson_iter_next(&ops)) {
		const uint8_t *data;
		uint32_t length;
		bson_t op;

		if (!BSON_ITER_HOLDS_DOCUMENT(&ops))
			entry_fail(app, "applyOps op %s is not a document", bson_iter_key(&ops));
		bson_iter_document(&ops, &length, &data);
		if (!bson_init_static(&op, data, length))
			entry_fail(app, "applyOps op %s is corrupt", bson_iter_key(&ops));
		apply_op(app, &op, depth);
	}
}

/* Transactions (held, committed, discarded) are txn.c's; the rest are ops. */
void
apply_entry(struct applier *app, const bson_t *entry)
{
	if (!txn_apply_entry(app, entry))
		apply_op(app, entry, 0);
}
