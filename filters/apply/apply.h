/*
 * apply.h - the parts of oplog-apply: the batch of data writes (batch.c),
 * the commands (command.c), the held transactions (txn.c), and the
 * applier they share, driven by filters/oplog-apply.c.
 *
 * Private to oplog-apply: no other program links these files.
 */
#ifndef OPLOGKIT_APPLY_H
#define OPLOGKIT_APPLY_H

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "entry.h"
#include "ns.h"
#include "stream.h"

/* What the report and --progress print. */
struct counters {
	uint64_t entries;	/* stream entries read */
	uint64_t inserts, updates, deletes, commands;	/* applied, inner ops included */
	uint64_t skipped;	/* n, fromMigrate, excluded, before --resume, no-effect */
	uint64_t missing;	/* updates whose document was gone */
	uint64_t reordered;	/* collections of a batch run again in stream order (unique keys) */
	uint64_t refused;	/* commands the target does not support */
	uint64_t tolerated;	/* commands already done (exists, not found) */
	uint64_t batches;
	uint64_t fallbacks;	/* $v:2 diffs applied by read-modify-write */
};

struct batch;
struct txn_table;

struct applier {
	mongoc_client_t *client;
	ns_filter *filter;
	stream_reader *reader;	/* for messages naming the entry */
	struct batch *batch;
	struct txn_table *txns;
	struct counters count;
	timestamp_t done_ts;	/* every entry up to here is in the batch or applied */
	timestamp_t saved_ts;	/* what the checkpoint says */
	uint64_t applied_total;	/* the checkpoint's count */
	const char *name;	/* the checkpoint's _id */
};

/* oplog-apply.c */

/* Flush the batch and write the checkpoint. Exits EXIT_SERVER on failure. */
void applier_flush(struct applier *app);

/* Apply one op: a top-level entry or an inner op of applyOps (depth > 0). */
void apply_op(struct applier *app, const bson_t *op, int depth);

/* Apply the inner ops of an applyOps entry in order. */
void apply_ops_array(struct applier *app, const bson_t *entry, int depth);

/* The entry is unusable: flush what was accepted, then exit EXIT_BAD_STREAM. */
void entry_fail(struct applier *app, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* batch.c: data writes grouped per collection, one entry per _id. */

struct batch *batch_new(mongoc_client_t *client, struct counters *count,
    const stream_reader *reader, size_t max_ops, size_t max_bytes);
void batch_free(struct batch *batch);

/*
 * Turn a data op (i, u, d) into a write. Returns false with why set when
 * the op is malformed. *full is set when the op cannot join this batch
 * (its _id is already in it, or a limit is reached): flush, then add again.
 */
bool batch_add(struct batch *batch, const char *ns, const bson_t *op, bool *full,
    char *why, size_t why_size);
bool batch_empty(const struct batch *batch);
size_t batch_size(const struct batch *batch);

/*
 * Write everything; exits EXIT_SERVER when the target fails for good or
 * a unique key conflicts in stream order (naming the entry).
 */
void batch_flush(struct batch *batch);

/* command.c */

/* Run a c op (never applyOps' transaction forms: the caller handles those). */
void command_apply(struct applier *app, const bson_t *op, int depth);

/* An i into db.system.indexes (servers before 4.2): build that index. */
void command_index_insert(struct applier *app, const bson_t *op);

/* txn.c: entries of a transaction held until it commits. */

struct txn_table *txn_table_new(size_t memory_max);
void txn_table_free(struct txn_table *table);

/* Hold entry (partialTxn or prepare) of its lsid+txnNumber; floor: done_ts before it. */
void txn_hold(struct txn_table *table, const bson_t *entry, timestamp_t floor);

/* Whether a transaction of entry's lsid+txnNumber is held. */
bool txn_held(struct txn_table *table, const bson_t *entry);

/* Apply every held entry of entry's transaction in order, then forget it. */
void txn_commit(struct txn_table *table, const bson_t *entry, struct applier *app);

/* Forget entry's transaction (abortTransaction). */
void txn_discard(struct txn_table *table, const bson_t *entry);

/* The lowest floor of the open transactions (false when none is open). */
bool txn_floor(const struct txn_table *table, timestamp_t *floor);

/* Number of transactions open. */
size_t txn_open_count(const struct txn_table *table);

#endif
