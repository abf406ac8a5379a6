/*
 * apply.h - the parts of oplog-apply: the batch of data writes (batch.c
 * and batch-*.c, which share batch-internal.h), the partitions that
 * write them in parallel (workers.c), the commands
 * (command.c), the held transactions (txn.c), and the applier they
 * share (dispatch.c, where each entry goes), driven by the read loop of
 * filters/oplog-apply.c.
 *
 * Private to oplog-apply: no other program links these files.
 */
#ifndef OPLOGKIT_APPLY_H
#define OPLOGKIT_APPLY_H

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "entry.h"
#include "ns.h"
#include "stream.h"

/* What the report and --progress print: only uint64_t (workers_collect adds them up). */
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
struct workers;

struct applier {
	mongoc_client_t *client;	/* the reading thread's: commands, checkpoint */
	ns_filter *filter;
	stream_reader *reader;	/* for messages naming the entry */
	struct workers *workers;	/* the data writes, --jobs partitions */
	int jobs;
	struct txn_table *txns;
	struct counters count;
	timestamp_t done_ts;	/* every entry up to here is in the batch or applied */
	timestamp_t saved_ts;	/* what the checkpoint says */
	struct timespec saved_at;	/* when the checkpoint was last brought up to date */
	uint64_t handed_saved;	/* batches handed over when it was written */
	timestamp_t resumed_ts;	/* the checkpoint --resume started from (zero without) */
	uint64_t applied_total;	/* the checkpoint's count */
	const char *name;	/* the checkpoint's _id */
};

/* view.c: an entry decoded once, for every part to read. */

enum op_kind { OP_UNKNOWN, OP_INSERT, OP_UPDATE, OP_DELETE, OP_COMMAND, OP_NOOP, OP_DB };

/* A c op's command, as far as the dispatcher and txn.c tell them apart. */
enum command_kind { CMD_NONE, CMD_APPLY_OPS, CMD_COMMIT, CMD_ABORT, CMD_OTHER };

/* Borrowed from entry: valid while it is. Missing or mistyped fields read as empty. */
struct op_view {
	const bson_t *entry;
	enum op_kind kind;
	const char *op, *ns;	/* as written ("" when absent), for messages */
	bson_t o, o2;
	bool has_o, has_o2;
	timestamp_t ts;
	bool upsert;	/* b */
	bool from_migrate;
	bool index_insert;	/* an i into db.system.indexes (servers before 4.2) */
	const char *command;	/* a c op's: o's first key ("" otherwise) */
	enum command_kind command_kind;
	/* Transactions: */
	bool partial_txn;	/* partialTxn, on the entry or in o */
	bool prepare;	/* o.prepare */
	bool multi_op_type;	/* batched retryable writes: chained, not a transaction */
	timestamp_t previous;	/* prevOpTime's ts (zero: none, or the first link) */
	const uint8_t *lsid;	/* lsid's BSON bytes (NULL: none) */
	uint32_t lsid_length;
	int64_t txn_number;
};

/* Decode entry into *view; false with why when the entry cannot be read. */
bool op_view_decode(const bson_t *entry, struct op_view *view, char *why, size_t why_size);

/* dispatch.c: where each entry goes, and what every part shares. */

/* Apply one entry of the stream: a transaction's (txn.c) or an op. */
void apply_entry(struct applier *app, const bson_t *entry);

/*
 * What the batches handed over claim: done_ts, held back to the first
 * entry of a transaction still open (a restart must read it again).
 */
timestamp_t applier_claim(const struct applier *app);

/*
 * Move the checkpoint to what every partition has written, when a second
 * or CHECKPOINT_ROUNDS batches a job have passed since it last moved.
 */
void checkpoint_due(struct applier *app);

/*
 * A barrier: hand every batch over, wait until every partition wrote it,
 * and write the checkpoint. Exits EXIT_SERVER on failure.
 */
void applier_flush(struct applier *app);

/* Apply one op: a top-level entry or an inner op of applyOps (depth > 0). */
void apply_op(struct applier *app, const struct op_view *op, int depth);

/* Apply the inner ops of an applyOps entry in order. */
void apply_ops_array(struct applier *app, const struct op_view *entry, int depth);

/* Flush what was accepted, then exit with status naming the entry (file, number, offset). */
void entry_die(struct applier *app, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* The entry is unusable: flush what was accepted, then exit EXIT_BAD_STREAM. */
void entry_fail(struct applier *app, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/*
 * batch.c and batch-*.c: data writes grouped per collection, one write
 * per _id: later entries of an _id are folded into it where that gives
 * mongod's result.
 * Built by the reading thread, written by a worker with its own client.
 */

struct batch *batch_new(struct counters *count, const stream_reader *reader, size_t max_ops,
    size_t max_bytes);
void batch_free(struct batch *batch);

/* The hash of (ns, _id) of a data op, that picks its partition. */
uint64_t batch_route(const struct op_view *op);

/*
 * Turn a data op (i, u, d) into a write. Returns false with why set when
 * the op is malformed. *full is set when the op cannot join this batch
 * (it cannot be folded into its _id's write, or a limit is reached):
 * flush, then add again. ordered: the collection has a unique secondary
 * index, so its writes keep stream order (ordered bulks).
 */
bool batch_add(struct batch *batch, const struct op_view *op, bool ordered, bool *full, char *why,
    size_t why_size);
bool batch_empty(const struct batch *batch);
size_t batch_size(const struct batch *batch);

/*
 * Write everything with client; exits EXIT_SERVER when the target fails
 * for good or a unique key conflicts in stream order (naming the entry).
 */
void batch_flush(struct batch *batch, mongoc_client_t *client);

/* workers.c: --jobs threads with a client each, fed batches by partition. */

struct workers *workers_new(mongoc_client_t *client, const char *uri, const char *tls_ca_file,
    int jobs, const stream_reader *reader, size_t max_ops, size_t max_bytes);
void workers_free(struct workers *pool);

/*
 * Add a data op to its partition's batch, handing the batch over first
 * when the op cannot join it; claim: every entry before this one is in a
 * batch. False with why when the op is malformed.
 */
bool workers_add(struct workers *pool, const struct op_view *op, timestamp_t claim, char *why,
    size_t why_size);

/* How old the oldest entry not yet handed over to an idle worker is (0: none). */
double workers_pending_age_ms(struct workers *pool);

/* How many batches were handed over so far. */
uint64_t workers_handed(const struct workers *pool);

/* Hand over the pending batches of the workers that are idle. */
void workers_cut(struct workers *pool, timestamp_t claim);

/* Hand everything over and wait until it is written. */
void workers_drain(struct workers *pool, timestamp_t claim);

/*
 * The ts every partition has written up to (claim: the reader's, for
 * partitions with nothing pending); false when one has not written yet.
 */
bool workers_written(struct workers *pool, timestamp_t claim, timestamp_t *ts);

/* Add to total what the workers counted since the last call. */
void workers_collect(struct workers *pool, struct counters *total);

/* A command ran: unique indexes may have come or gone; ask again. */
void workers_indexes_changed(struct workers *pool);

/* command.c */

/* What a command met on the target (other errors exit EXIT_SERVER naming the entry). */
enum command_outcome {
	COMMAND_DONE,
	COMMAND_ALREADY_DONE,	/* exists, not found: what a replay meets; counted as tolerated */
	COMMAND_REFUSED,	/* the target does not implement it: error says how */
};

/* Run command on db and say how it went. */
enum command_outcome command_run(struct applier *app, const char *db, const bson_t *command,
    bson_error_t *error);

/* The target cannot do what the entry says: flush, name the entry, exit EXIT_SERVER. */
void command_fail(struct applier *app, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Run a command whose refusal leaves documents in place (an index): refused is a listed skip. */
void command_run_harmless(struct applier *app, const char *ns, const char *db,
    const bson_t *command, const char *name);

/* create as logged (o); refused: again without the options documents do not need, listed. */
void command_create(struct applier *app, const char *db, const bson_t *o, const char *ns);

/* Drop db.coll; a missing one is done, a refusal a failure. */
void command_drop(struct applier *app, const char *db, const char *coll);

/* Print the refusals skipped because documents were unaffected, one per line, to stderr. */
void command_report(void);

/* Run a c op (never applyOps' transaction forms: the caller handles those). */
void command_apply(struct applier *app, const struct op_view *op, int depth);

/* An i into db.system.indexes (servers before 4.2): build that index. */
void command_index_insert(struct applier *app, const struct op_view *op);

/* rename.c */

/* renameCollection ns[0] to ns[1], emulating dropTarget and a move across databases. */
void rename_apply(struct applier *app, const bson_t *o, char ns[2][256]);

/* txn.c: entries of a transaction held until it commits. */

struct txn_table *txn_table_new(size_t memory_max);
void txn_table_free(struct txn_table *table);

/*
 * Apply entry if it belongs to a transaction (applyOps, commitTransaction,
 * abortTransaction): hold it, commit or discard. Exits EXIT_HISTORY_LOST
 * on a commit whose first links precede the stream. False: not such an entry.
 */
bool txn_apply_entry(struct applier *app, const struct op_view *entry);

/* Hold entry (partialTxn or prepare) of its lsid+txnNumber; floor: done_ts before it. */
void txn_hold(struct txn_table *table, const struct op_view *entry, timestamp_t floor);

/* Whether a transaction of entry's lsid+txnNumber is held. */
bool txn_held(struct txn_table *table, const struct op_view *entry);

/* Apply every held entry of entry's transaction in order, then forget it. */
void txn_commit(struct txn_table *table, const struct op_view *entry, struct applier *app);

/* Forget entry's transaction (abortTransaction). */
void txn_discard(struct txn_table *table, const struct op_view *entry);

/* The lowest floor of the open transactions (false when none is open). */
bool txn_floor(const struct txn_table *table, timestamp_t *floor);

/* Number of transactions open. */
size_t txn_open_count(const struct txn_table *table);

#endif
