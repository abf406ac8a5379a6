/*
 * batch-internal.h - what the files of the batch share; apply.h holds
 * the batch's contract with the rest of oplog-apply.
 *
 *   batch.c        the batch itself: its writes per collection, the
 *                  _id table, how an entry joins (batch_add)
 *   batch-plan.c   one i, u, d entry turned into a write
 *   batch-fold.c   a later entry of an _id folded into its write
 *   batch-bulk.c   writes sent as bulks, their errors read back
 *   batch-flush.c  batch_flush: a collection's writes grouped by kind,
 *                  or in stream order when a unique key demands it
 *   batch-rmw.c    $v:2 diffs: conditional translations, and the
 *                  read-back and read-modify-write of the rest
 *
 * Private to these files: nothing else includes it.
 */
#ifndef OPLOGKIT_BATCH_INTERNAL_H
#define OPLOGKIT_BATCH_INTERNAL_H

#include "apply.h"

#define MAX_NAMESPACES 64
#define DUPLICATE_KEY 11000
#define UPDATE_CHUNK 50

enum write_kind {
	WRITE_INSERT,	/* i: an insert, a replacement where the _id exists */
	WRITE_REPLACE,	/* u with a whole document */
	WRITE_UPDATE,	/* u with operators, or an exact $v:2 translation */
	WRITE_DELETE,
	WRITE_DIFF,	/* $v:2 translation valid only under a condition, or upserting */
	WRITE_RMW,	/* updates applied here: read, diff_apply or operators_apply, replace */
};

/*
 * An update applied here: a $v:2 diff, or (operators) a $set/$unset
 * whose paths the server may apply otherwise than mongod; create: the
 * entry upserts (b: true).
 */
struct step {
	bson_t *diff;
	bool create;
	bool operators;
};

struct write {
	enum write_kind kind;
	uint32_t ops[3];	/* entries i, u, d folded into this write, for the counters */
	bool upsert;		/* never for WRITE_DIFF: a shape filter must not upsert */
	bool create;		/* $v:2 with b: a missing document is {_id} plus the diff */
	bson_t *selector;	/* {_id: X} */
	bson_t *doc;		/* replacement or update (empty for WRITE_RMW) */
	bson_t *condition;	/* WRITE_DIFF: joins the selector (may be empty) */
	struct step *steps;	/* updates, in stream order: WRITE_RMW applies them all */
	size_t nsteps;
	uint64_t entry, offset;	/* the stream entry, for messages */
};

struct ns_batch {
	char db[128], coll[256];
	bool ordered;		/* a unique secondary index: stream order, ordered bulks */
	struct write *writes;
	size_t count, size;
};

/* The _ids of the batch: open addressing over keys kept in one arena. */
struct id_slot {
	uint64_t hash;
	uint32_t offset, length;
	uint32_t ns, index;	/* the write that holds this _id */
	bool used;
};

struct batch {
	mongoc_client_t *client;
	struct counters *count;
	const stream_reader *reader;	/* names the entry of each write */
	bool in_order;		/* a duplicate key is a conflict, not a reason to reorder */
	bool reorder;		/* the grouped pass met a duplicate key: run again in order */
	size_t max_ops, max_bytes;
	struct ns_batch namespaces[MAX_NAMESPACES];
	int namespace_count;
	size_t ops, bytes;
	struct id_slot *ids;
	size_t id_capacity;
	uint8_t *keys;
	size_t keys_used, keys_size;
};

/* What a bulk did: its counts and write errors. */
struct outcome {
	int64_t matched, upserted;
	size_t error_count;
	uint32_t *error_index;	/* positions in the list given to execute */
	int32_t *error_code;
	char first_error[512];	/* of the first error that is not a duplicate key */
	char first_duplicate[512];	/* of the first duplicate key */
};

/* batch.c */

/* Free every write and forget every _id: the batch is empty again. */
void batch_clear(struct batch *batch);
/* The key of (namespace slot, _id); numbers by their double (1, 1L, 1.0 alike). */
void id_key(int slot, const bson_iter_t *id, bson_t *key);

/* batch-plan.c */

/* Build the write for op; false with why when the op is malformed. */
bool plan_write(struct write *write, const struct op_view *op, bson_iter_t *id, char *why,
    size_t why_size);
/* Forget what the write holds but its selector (NULL-safe). */
void write_forget(struct write *write);
/* Forget all the write holds. */
void write_clear(struct write *write);
/* Append a copy of step (its update copied) to the write's steps. */
void step_add(struct write *write, const struct step *step);
/* Apply step to doc into out (always initialized), as mongod does; false with why. */
bool step_apply(const struct step *step, const bson_t *doc, bson_t *out, char *why,
    size_t why_size);
/* The _id op writes (o2's for an update, o's otherwise) into *id. */
bool op_id(const struct op_view *op, bson_iter_t *id);

/* batch-fold.c */

/*
 * Fold next, a later entry of prev's _id, into prev: 1 when folded, 0
 * when it cannot be (flush first), -1 with why when a diff does not apply.
 */
int fold(struct write *prev, struct write *next, char *why, size_t why_size);

/* batch-bulk.c */

/* Run writes[list[0..n)] in bulks (at most UPDATE_CHUNK updates each); out is set. */
void execute(mongoc_client_t *client, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, bool bypass, struct outcome *out);
/* One bulk, ordered or not, retried whole; errors added to out, indexes from base. */
void execute_chunk(mongoc_collection_t *coll, const struct ns_batch *nb,
    const struct write *writes, const size_t *list, size_t n, bool bypass, bool ordered,
    size_t base, struct outcome *out);
void outcome_clear(struct outcome *out);
/* Run one write alone; returns whether it matched or upserted a document. */
bool run_alone(struct batch *batch, const struct ns_batch *nb, const struct write *write);
/* Which of a bulk's n writes failed on a duplicate key; dies on any other error. */
bool *duplicate_key_failures(struct batch *batch, const struct ns_batch *nb,
    const struct write *writes, const size_t *list, size_t n, const struct outcome *out);
/* A write of the bulk writes[list[0..n)] failed (at: the server's index): exit naming it. */
void die_bulk_write(struct batch *batch, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, uint32_t at, int code, const char *message)
    __attribute__((noreturn));
/* Updates and replacements of writes[0, n) that found no document, counted. */
void count_missing_of(struct batch *batch, const struct write *writes, size_t n,
    const struct outcome *out);
/* A duplicate key: reorder in the grouped pass, a conflict (exit) in stream order. */
void duplicate_key(struct batch *batch, const struct ns_batch *nb, const struct write *write,
    const char *message);
/* Exit EXIT_SERVER naming the write's entry. */
void die_write(const struct ns_batch *nb, const struct write *write, int code,
    const char *message) __attribute__((noreturn));
/* "NS: entry N at byte B: _id X" for messages; the caller frees it. */
char *write_name(const struct ns_batch *nb, const struct write *write);

/* batch-flush.c */

/* List the writes of the given kinds (mask of 1 << kind); returns how many. */
size_t select_writes(const struct ns_batch *nb, unsigned kinds, size_t *list);

/* batch-rmw.c */

/* The WRITE_DIFF and WRITE_RMW writes of the collection, in the grouped pass. */
void flush_diffs(struct batch *batch, const struct ns_batch *nb, size_t *list);
/* One diff in its place: its translation alone, read-modify-write on a miss. */
void run_diff(struct batch *batch, const struct ns_batch *nb, const struct write *write);

#endif
