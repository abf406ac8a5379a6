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
apply_data(struct applier *app, const struct op_view *op)
{
	char why[256];

	if (!ns_match(app->filter, op->ns)) {
		app->count.skipped++;
		return;
	}
	if (!workers_add(app->workers, op, applier_claim(app), why, sizeof(why)))
		entry_fail(app, "%s: %s", op->ns, why);
}

void
apply_op(struct applier *app, const struct op_view *op, int depth)
{
	if (depth > MAX_DEPTH)
		entry_fail(app, "applyOps nested deeper than %d", MAX_DEPTH);
	if (op->kind == OP_NOOP || op->from_migrate) {
		app->count.skipped++;
		return;
	}
	switch (op->kind) {
	case OP_COMMAND:
		applier_flush(app);	/* a command is a barrier */
		command_apply(app, op, depth);
		workers_indexes_changed(app->workers);
		break;
	case OP_INSERT:
	case OP_UPDATE:
	case OP_DELETE:
		if (!op->index_insert) {
			apply_data(app, op);
			break;
		}
		applier_flush(app);
		command_index_insert(app, op);
		workers_indexes_changed(app->workers);
		break;
	case OP_DB:
		app->count.skipped++;	/* old servers declared databases so */
		break;
	default:
		entry_fail(app, "unknown op '%s'", op->op);
	}
}

void
apply_ops_array(struct applier *app, const struct op_view *entry, int depth)
{
	bson_iter_t iter, ops;

	if (!entry->has_o || !bson_iter_init_find(&iter, &entry->o, "applyOps") ||
	    !BSON_ITER_HOLDS_ARRAY(&iter) || !bson_iter_recurse(&iter, &ops))
		entry_fail(app, "applyOps without its array of ops");
	while (bson_iter_next(&ops)) {
		struct op_view view;
		const uint8_t *data;
		uint32_t length;
		char why[128];
		bson_t op;

		if (!BSON_ITER_HOLDS_DOCUMENT(&ops))
			entry_fail(app, "applyOps op %s is not a document", bson_iter_key(&ops));
		bson_iter_document(&ops, &length, &data);
		if (!bson_init_static(&op, data, length) || !op_view_decode(&op, &view, why, sizeof(why)))
			entry_fail(app, "applyOps op %s is corrupt", bson_iter_key(&ops));
		apply_op(app, &view, depth);
	}
}

/* Transactions (held, committed, discarded) are txn.c's; the rest are ops. */
void
apply_entry(struct applier *app, const bson_t *entry)
{
	struct op_view view;
	char why[128];

	if (!op_view_decode(entry, &view, why, sizeof(why)))
		entry_fail(app, "%s", why);
	if (!txn_apply_entry(app, &view))
		apply_op(app, &view, 0);
}
