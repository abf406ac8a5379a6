/*
 * batch.c - oplog-apply's data writes: i, u, d entries turned into
 * idempotent writes and grouped per collection into unordered bulk writes.
 *
 * A batch never holds two writes for one _id, so the order of writes
 * inside it matters only where two documents meet on a unique secondary
 * index: a write may take a key another document frees later in the
 * batch. The writes of a collection are kept in stream order; they run
 * grouped by kind (cheaper), and when that meets a duplicate key the
 * whole collection's part of the batch runs again, in stream order, in
 * ordered bulks. A duplicate key that remains in stream order is a real
 * conflict: exit 4 naming the entry, before the checkpoint moves.
 *
 * Every write is idempotent (replace by _id, $set/$unset of whole values,
 * delete by _id), so a bulk cut short by a network error, or a grouped
 * pass run again in order, is simply run again. The batch owns copies of
 * everything it holds.
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "apply.h"
#include "conn.h"
#include "diff.h"
#include "die.h"
#include "pushdown.h"

#define MAX_NAMESPACES 64
#define DUPLICATE_KEY 11000
#define UPDATE_CHUNK 50

enum write_kind {
	WRITE_INSERT,	/* i: an insert, a replacement where the _id exists */
	WRITE_REPLACE,	/* u with a whole document */
	WRITE_UPDATE,	/* u with operators, or an exact $v:2 translation */
	WRITE_DELETE,
	WRITE_DIFF,	/* $v:2 translation valid only under a condition, or upserting */
	WRITE_RMW,	/* $v:2 diff applied here: read, diff_apply, replace */
};

/* A $v:2 diff of a write; create: the entry upserts (b: true). */
struct step {
	bson_t *diff;
	bool create;
};

struct write {
	enum write_kind kind;
	uint32_t ops[3];	/* entries i, u, d folded into this write, for the counters */
	bool upsert;		/* never for WRITE_DIFF: a shape filter must not upsert */
	bool create;		/* $v:2 with b: a missing document is {_id} plus the diff */
	bson_t *selector;	/* {_id: X} */
	bson_t *doc;		/* replacement or update (empty for WRITE_RMW) */
	bson_t *condition;	/* WRITE_DIFF: joins the selector (may be empty) */
	struct step *steps;	/* $v:2 diffs, in stream order: WRITE_RMW applies them all */
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

struct outcome {
	int64_t matched, upserted;
	size_t error_count;
	uint32_t *error_index;	/* positions in the list given to execute */
	int32_t *error_code;
	char first_error[512];	/* of the first error that is not a duplicate key */
	char first_duplicate[512];	/* of the first duplicate key */
};

struct batch *
batch_new(struct counters *count, const stream_reader *reader, size_t max_ops, size_t max_bytes)
{
	struct batch *batch = xcalloc(1, sizeof(*batch));

	batch->reader = reader;
	batch->count = count;
	batch->max_ops = max_ops;
	batch->max_bytes = max_bytes;
	for (batch->id_capacity = 64; batch->id_capacity < max_ops * 2 + 16; batch->id_capacity *= 2)
		continue;
	batch->ids = xcalloc(batch->id_capacity, sizeof(*batch->ids));
	return batch;
}

/* Forget what the write holds but its selector (NULL-safe). */
static void
write_forget(struct write *write)
{
	size_t k;

	if (write->doc != NULL)
		bson_destroy(write->doc);
	if (write->condition != NULL)
		bson_destroy(write->condition);
	for (k = 0; k < write->nsteps; k++)
		bson_destroy(write->steps[k].diff);
	free(write->steps);
	write->doc = write->condition = NULL;
	write->steps = NULL;
	write->nsteps = 0;
}

static void
write_clear(struct write *write)
{
	write_forget(write);
	if (write->selector != NULL)
		bson_destroy(write->selector);
	write->selector = NULL;
}

static void
step_add(struct write *write, const bson_t *diff, bool create)
{
	write->steps = xrealloc(write->steps, (write->nsteps + 1) * sizeof(*write->steps));
	write->steps[write->nsteps++] = (struct step){ bson_copy(diff), create };
}

static void
batch_clear(struct batch *batch)
{
	int n;
	size_t k;

	for (n = 0; n < batch->namespace_count; n++) {
		for (k = 0; k < batch->namespaces[n].count; k++)
			write_clear(&batch->namespaces[n].writes[k]);
		free(batch->namespaces[n].writes);
	}
	memset(batch->namespaces, 0, sizeof(batch->namespaces));
	batch->namespace_count = 0;
	batch->ops = batch->bytes = 0;
	memset(batch->ids, 0, batch->id_capacity * sizeof(*batch->ids));
	batch->keys_used = 0;
}

void
batch_free(struct batch *batch)
{
	if (batch == NULL)
		return;
	batch_clear(batch);
	free(batch->ids);
	free(batch->keys);
	free(batch);
}

bool
batch_empty(const struct batch *batch)
{
	return batch->ops == 0;
}

size_t
batch_size(const struct batch *batch)
{
	return batch->ops;
}

static uint64_t
hash_bytes(uint64_t h, const uint8_t *p, size_t length)
{
	while (length-- > 0)
		h = (h ^ *p++) * 1099511628211ULL;	/* FNV-1a */
	return h;
}

/*
 * The key of (namespace, _id): the _id's BSON type and bytes. Numbers
 * are keyed by their double value, since 1, 1L and 1.0 are the same
 * _id to MongoDB; two distinct numbers that share a double only cost a
 * needless flush.
 */
static void
id_key(int slot, const bson_iter_t *id, bson_t *key)
{
	bson_init(key);
	BSON_APPEND_INT32(key, "n", slot);
	if (BSON_ITER_HOLDS_NUMBER(id))
		BSON_APPEND_DOUBLE(key, "", bson_iter_as_double(id));
	else
		bson_append_iter(key, "", 0, id);
}

/*
 * The slot of the key: the one holding it, or the free one where it
 * goes (slot->used tells which).
 */
static struct id_slot *
id_find(struct batch *batch, const bson_t *key, uint64_t *hash)
{
	const uint8_t *data = bson_get_data(key);
	size_t mask = batch->id_capacity - 1, k;

	*hash = hash_bytes(1469598103934665603ULL, data, key->len);
	for (k = *hash & mask; batch->ids[k].used; k = (k + 1) & mask) {
		struct id_slot *slot = &batch->ids[k];

		if (slot->hash == *hash && slot->length == key->len &&
		    memcmp(batch->keys + slot->offset, data, key->len) == 0)
			break;
	}
	return &batch->ids[k];
}

static void
id_add(struct batch *batch, struct id_slot *slot, uint64_t hash, const bson_t *key, int ns,
    size_t index)
{
	if (batch->keys_used + key->len > batch->keys_size) {
		batch->keys_size = (batch->keys_used + key->len) * 2;
		batch->keys = xrealloc(batch->keys, batch->keys_size);
	}
	memcpy(batch->keys + batch->keys_used, bson_get_data(key), key->len);
	*slot = (struct id_slot){ hash, (uint32_t)batch->keys_used, key->len, (uint32_t)ns,
	    (uint32_t)index, true };
	batch->keys_used += key->len;
}

static int
namespace_slot(struct batch *batch, const char *ns)
{
	const char *dot = strchr(ns, '.');
	struct ns_batch *nb;
	int n;

	for (n = 0; n < batch->namespace_count; n++) {
		nb = &batch->namespaces[n];
		if (strncmp(ns, nb->db, (size_t)(dot - ns)) == 0 && nb->db[dot - ns] == '\0' &&
		    strcmp(dot + 1, nb->coll) == 0)
			return n;
	}
	if (batch->namespace_count == MAX_NAMESPACES)
		return -1;
	nb = &batch->namespaces[batch->namespace_count];
	snprintf(nb->db, sizeof(nb->db), "%.*s", (int)(dot - ns), ns);
	snprintf(nb->coll, sizeof(nb->coll), "%s", dot + 1);
	return batch->namespace_count++;
}

/* The _id op writes (o2's for an update, o's otherwise) into *id. */
static bool
op_id(const struct op_view *op, bson_iter_t *id)
{
	if (op->kind == OP_UPDATE)
		return op->has_o2 && bson_iter_init_find(id, &op->o2, "_id");
	return op->has_o && bson_iter_init_find(id, &op->o, "_id");
}

static bson_t *
selector_new(const bson_iter_t *id)
{
	bson_t *selector = bson_new();

	bson_append_iter(selector, "_id", 3, id);
	return selector;
}

/* The document of a field of o, copied (NULL when absent). */
static bson_t *
subdocument_copy(const bson_t *o, const char *field)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;

	if (!bson_iter_init_find(&iter, o, field) || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return NULL;
	bson_iter_document(&iter, &length, &data);
	return bson_new_from_data(data, length);
}

/* o without its $v field: an update MongoDB accepts. */
static bson_t *
operators_copy(const bson_t *o)
{
	bson_t *update = bson_new();
	bson_iter_t iter;

	bson_iter_init(&iter, o);
	while (bson_iter_next(&iter))
		if (strcmp(bson_iter_key(&iter), "$v") != 0)
			bson_append_iter(update, NULL, 0, &iter);
	return update;
}

/* Whether o is the operator form: its first key other than $v starts with '$'. */
static bool
has_operators(const bson_t *o)
{
	bson_iter_t iter;

	bson_iter_init(&iter, o);
	while (bson_iter_next(&iter)) {
		if (strcmp(bson_iter_key(&iter), "$v") == 0)
			continue;
		return bson_iter_key(&iter)[0] == '$';
	}
	return false;
}

/*
 * u with $v:2: exact translation, conditional translation, or
 * read-modify-write. An upserting diff (b: true) is never sent as an
 * upsert: $set of a dotted path would create what mongod's applier does
 * not (a sub-diff of a missing field creates nothing), and with a shape
 * condition the upsert would try an insert over the existing _id. It
 * runs as a plain update; a miss reads the document back, and a missing
 * document becomes {_id} plus the diff, as mongod's upsert makes it.
 */
static bool
plan_diff(struct write *write, const bson_t *diff, char *why, size_t why_size)
{
	bson_t update, condition;
	bson_error_t error;
	bool translated;

	write->create = write->upsert;
	write->upsert = false;
	if (!diff_validate(diff, why, why_size))
		return false;
	step_add(write, diff, write->create);	/* kept to fold later diffs of the _id */
	memset(&error, 0, sizeof(error));
	translated = diff_to_update(diff, &update, &condition, &error);
	if (translated && bson_empty(&condition)) {
		write->doc = bson_copy(&update);
		if (write->create) {
			write->kind = WRITE_DIFF;
			write->condition = bson_copy(&condition);
		}
		bson_destroy(&update);
		bson_destroy(&condition);
		return true;
	}
	/*
	 * Exact only under a shape condition: read-modify-write instead. The
	 * condition in the selector would keep FerretDB from its _id index
	 * (a scan of the collection per write); a read by _id and a
	 * replacement by _id use it.
	 */
	if (translated) {
		bson_destroy(&update);
		bson_destroy(&condition);
		write->kind = WRITE_RMW;
		write->doc = bson_new();
		return true;
	}
	bson_destroy(&update);
	bson_destroy(&condition);
	if (error.domain == DIFF_ERROR_DOMAIN && error.code == DIFF_ERROR_INEXACT) {
		write->kind = WRITE_RMW;
		write->doc = bson_new();
		return true;
	}
	snprintf(why, why_size, "bad $v:2 diff: %s", error.message);
	return false;
}

/*
 * u: a whole document replaces; FerretDB logs every update as a $set of
 * the whole new document, _id included, which is a replacement too
 * (mongod never puts _id in $set), or $unset fields would survive.
 */
static bool
plan_update(struct write *write, const bson_t *o, char *why, size_t why_size)
{
	bson_t diff, *set;
	bson_iter_t iter;

	if (diff_from_oplog(o, &diff))
		return plan_diff(write, &diff, why, why_size);
	if (!has_operators(o)) {
		write->kind = WRITE_REPLACE;
		write->doc = bson_copy(o);
		return true;
	}
	set = subdocument_copy(o, "$set");
	if (set != NULL && bson_iter_init_find(&iter, set, "_id")) {
		write->kind = WRITE_REPLACE;
		write->doc = set;
		return true;
	}
	if (set != NULL)
		bson_destroy(set);
	write->doc = operators_copy(o);
	return true;
}

/* Build the write for op; false with why when the op is malformed. */
static bool
plan_write(struct write *write, const struct op_view *op, bson_iter_t *id, char *why,
    size_t why_size)
{
	memset(write, 0, sizeof(*write));
	write->ops[op->kind == OP_INSERT ? 0 : op->kind == OP_UPDATE ? 1 : 2] = 1;
	if (!op->has_o) {
		snprintf(why, why_size, "%s entry without its o document", op->op);
		return false;
	}
	if (op->kind == OP_UPDATE) {
		if (!op_id(op, id)) {
			snprintf(why, why_size, "u entry without o2._id");
			return false;
		}
		write->kind = WRITE_UPDATE;
		write->upsert = op->upsert;
		if (!plan_update(write, &op->o, why, why_size))
			return false;
	} else if (!op_id(op, id)) {
		snprintf(why, why_size, "%s entry without o._id", op->op);
		return false;
	} else if (op->kind == OP_INSERT) {
		write->kind = WRITE_INSERT;
		write->upsert = true;
		write->doc = bson_copy(&op->o);
	} else {
		write->kind = WRITE_DELETE;
		write->doc = bson_new();
	}
	write->selector = selector_new(id);
	return true;
}

/* "NS: entry N at byte B: _id X" for messages; the caller frees it. */
static char *
write_name(const struct ns_batch *nb, const struct write *write)
{
	char *id = bson_as_relaxed_extended_json(write->selector, NULL);
	char *name = bson_strdup_printf("%s.%s: entry %" PRIu64 " at byte %" PRIu64 ", %s", nb->db,
	    nb->coll, write->entry, write->offset, id);

	bson_free(id);
	return name;
}

/* Whether the document is known to exist after write (its content may not be). */
static bool
exists_after(const struct write *write)
{
	size_t k;

	if (write->kind == WRITE_INSERT || write->upsert)
		return true;
	for (k = 0; k < write->nsteps; k++)
		if (write->steps[k].create)
			return true;
	return false;
}

/* A translated diff becomes read-modify-write of its steps. */
static void
write_forget_translation(struct write *write)
{
	if (write->doc != NULL)
		bson_destroy(write->doc);
	if (write->condition != NULL)
		bson_destroy(write->condition);
	write->condition = NULL;
	write->doc = bson_new();
	write->kind = WRITE_RMW;
}

/* prev takes next's place: next's content moves into prev. */
static void
fold_take(struct write *prev, struct write *next)
{
	write_forget(prev);
	prev->kind = next->kind;
	prev->upsert = next->upsert;
	prev->create = next->create;
	prev->doc = next->doc;
	prev->condition = next->condition;
	prev->steps = next->steps;
	prev->nsteps = next->nsteps;
	next->doc = next->condition = NULL;
	next->steps = NULL;
	next->nsteps = 0;
}

/* The document prev writes whole (INSERT, REPLACE), turned by the diff into *doc. */
static bool
fold_diff_into(struct write *prev, const bson_t *base, const struct step *step, char *why,
    size_t why_size)
{
	bson_t result;

	if (!diff_apply(base, step->diff, &result, why, why_size)) {
		bson_destroy(&result);
		return false;
	}
	bson_destroy(prev->doc);
	prev->doc = bson_copy(&result);
	bson_destroy(&result);
	return true;
}

/*
 * Fold next, a later entry of the same _id, into prev so that one write
 * gives the document the two give in turn, as mongod would: what writes
 * a whole document takes over; a $v:2 diff of a document known here is
 * applied here (diff_apply is mongod's applier); a diff of a document
 * known only to the server joins prev's read-modify-write chain. Returns
 * 1 when folded, 0 when it cannot be (an operator update: the caller
 * flushes first), -1 with why when a diff does not apply.
 */
static int
fold(struct write *prev, struct write *next, char *why, size_t why_size)
{
	bool exists = exists_after(prev), whole = prev->kind == WRITE_INSERT ||
	    prev->kind == WRITE_REPLACE;

	if (next->kind == WRITE_DELETE || next->kind == WRITE_INSERT) {
		fold_take(prev, next);
	} else if (next->kind == WRITE_REPLACE) {
		if (prev->kind == WRITE_DELETE && !next->upsert)
			return 1;	/* no document to replace */
		next->upsert = next->upsert || exists;
		if (prev->kind == WRITE_INSERT || prev->kind == WRITE_DELETE)
			next->kind = WRITE_INSERT;	/* insert, replacing where it exists */
		fold_take(prev, next);
	} else if (next->nsteps == 0) {
		if (prev->kind == WRITE_DELETE && !next->upsert)
			return 1;
		return 0;	/* operators ($set, $inc...): only the server applies them */
	} else if (prev->kind == WRITE_DELETE) {
		if (!next->create)
			return 1;
		prev->kind = WRITE_INSERT;	/* prev->doc is the delete's empty one */
		prev->upsert = true;
		if (!fold_diff_into(prev, prev->selector, &next->steps[0], why, why_size))
			return -1;
	} else if (whole && (exists || !next->create)) {
		/* The document is prev's, or is missing and stays so. */
		if (!fold_diff_into(prev, prev->doc, &next->steps[0], why, why_size))
			return -1;
	} else if (prev->nsteps > 0 && !whole) {
		write_forget_translation(prev);
		step_add(prev, next->steps[0].diff, next->steps[0].create);
	} else {
		return 0;
	}
	return 1;
}

uint64_t
batch_route(const struct op_view *op)
{
	uint64_t hash = hash_bytes(1469598103934665603ULL, (const uint8_t *)op->ns, strlen(op->ns));
	bson_iter_t id;
	bson_t key;

	if (!op_id(op, &id))
		return hash;
	id_key(0, &id, &key);
	hash = hash_bytes(hash, bson_get_data(&key), key.len);
	bson_destroy(&key);
	return hash;
}

/* Where the new write goes, or why not; see batch_add. */
static bool
batch_place(struct batch *batch, int slot, const bson_iter_t *id, struct write *write,
    const bson_t *op, bool *full, char *why, size_t why_size)
{
	struct ns_batch *nb = &batch->namespaces[slot];
	struct write *prev;
	struct id_slot *seen;
	uint64_t hash;
	bson_t key;
	int folded;

	id_key(slot, id, &key);
	seen = id_find(batch, &key, &hash);
	if (batch->ops > 0 && (batch->ops >= batch->max_ops ||
	    batch->bytes + op->len > batch->max_bytes)) {
		bson_destroy(&key);
		*full = true;
		return true;
	}
	if (seen->used) {
		bson_destroy(&key);
		/* In stream order, folding may move a write only where none is between. */
		if (nb->ordered && seen->index + 1 != nb->count) {
			*full = true;
			return true;
		}
		prev = &nb->writes[seen->index];
		folded = fold(prev, write, why, why_size);
		if (folded < 0)
			return false;
		*full = folded == 0;
		if (folded > 0) {
			prev->ops[0] += write->ops[0];
			prev->ops[1] += write->ops[1];
			prev->ops[2] += write->ops[2];
			batch->ops++;
			batch->bytes += op->len;
		}
		return true;
	}
	id_add(batch, seen, hash, &key, slot, nb->count);
	bson_destroy(&key);
	if (batch->reader != NULL) {
		write->entry = stream_count(batch->reader);
		write->offset = stream_offset(batch->reader);
	}
	if (nb->count == nb->size) {
		nb->size = nb->size ? nb->size * 2 : 16;
		nb->writes = xrealloc(nb->writes, nb->size * sizeof(*nb->writes));
	}
	nb->writes[nb->count++] = *write;
	memset(write, 0, sizeof(*write));	/* the batch owns it now */
	batch->ops++;
	batch->bytes += op->len;
	return true;
}

bool
batch_add(struct batch *batch, const struct op_view *op, bool ordered, bool *full, char *why,
    size_t why_size)
{
	const char *ns = op->ns;
	struct write write;
	bson_iter_t id;
	bool ok;
	int slot;

	*full = false;
	if (strchr(ns, '.') == NULL || strlen(ns) >= 255) {
		snprintf(why, why_size, "bad namespace '%s'", ns);
		return false;
	}
	if (!plan_write(&write, op, &id, why, why_size)) {
		write_clear(&write);
		return false;
	}
	slot = namespace_slot(batch, ns);
	if (slot < 0) {
		*full = true;
		ok = true;
	} else {
		batch->namespaces[slot].ordered |= ordered;
		ok = batch_place(batch, slot, &id, &write, op->entry, full, why, why_size);
	}
	write_clear(&write);
	return ok;
}

static void
outcome_clear(struct outcome *out)
{
	free(out->error_index);
	free(out->error_code);
	memset(out, 0, sizeof(*out));
}

static int64_t
reply_int(const bson_t *reply, const char *field)
{
	bson_iter_t iter;

	return bson_iter_init_find(&iter, reply, field) ? bson_iter_as_int64(&iter) : 0;
}

/* Collect writeErrors; returns how many. */
static size_t
outcome_errors(struct outcome *out, const bson_t *reply)
{
	bson_iter_t iter, errors, error;

	if (!bson_iter_init_find(&iter, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &errors))
		return 0;
	while (bson_iter_next(&errors)) {
		bson_t doc;
		const uint8_t *data;
		uint32_t length;

		if (!BSON_ITER_HOLDS_DOCUMENT(&errors))
			continue;
		bson_iter_document(&errors, &length, &data);
		if (!bson_init_static(&doc, data, length))
			continue;
		out->error_index = xrealloc(out->error_index, (out->error_count + 1) * sizeof(uint32_t));
		out->error_code = xrealloc(out->error_code, (out->error_count + 1) * sizeof(int32_t));
		out->error_index[out->error_count] = (uint32_t)reply_int(&doc, "index");
		out->error_code[out->error_count] = (int32_t)reply_int(&doc, "code");
		if (bson_iter_init_find(&error, &doc, "errmsg") && BSON_ITER_HOLDS_UTF8(&error)) {
			char *first = out->error_code[out->error_count] == DUPLICATE_KEY ?
			    out->first_duplicate : out->first_error;

			if (first[0] == '\0')
				snprintf(first, sizeof(out->first_error), "%s", bson_iter_utf8(&error, NULL));
		}
		out->error_count++;
	}
	return out->error_count;
}

static void
bulk_add(mongoc_bulk_operation_t *bulk, const struct write *write)
{
	bson_t opts = BSON_INITIALIZER, selector;
	bson_error_t error;
	bool ok;

	/* Documents go as the source had them: the source server already validated. */
	BSON_APPEND_INT32(&opts, "validate", BSON_VALIDATE_NONE);
	if (write->kind != WRITE_DELETE)
		BSON_APPEND_BOOL(&opts, "upsert", write->upsert);
	switch (write->kind) {
	case WRITE_INSERT:
		bson_reinit(&opts);
		BSON_APPEND_INT32(&opts, "validate", BSON_VALIDATE_NONE);
		ok = mongoc_bulk_operation_insert_with_opts(bulk, write->doc, &opts, &error);
		break;
	case WRITE_REPLACE:
		ok = mongoc_bulk_operation_replace_one_with_opts(bulk, write->selector, write->doc,
		    &opts, &error);
		break;
	case WRITE_DELETE:
		bson_reinit(&opts);
		ok = mongoc_bulk_operation_remove_one_with_opts(bulk, write->selector, &opts, &error);
		break;
	default:
		bson_init(&selector);
		bson_concat(&selector, write->selector);
		if (write->kind == WRITE_DIFF)
			bson_concat(&selector, write->condition);
		ok = mongoc_bulk_operation_update_one_with_opts(bulk, &selector, write->doc, &opts,
		    &error);
		bson_destroy(&selector);
	}
	bson_destroy(&opts);
	if (!ok)
		die(EXIT_SERVER, "cannot queue a write: %s", error.message);
}

/*
 * Run writes[list[0..n-1]] as one bulk, unordered unless ordered (then
 * the server stops at the first error). Transient errors are retried
 * (the whole bulk: every write is idempotent); write errors are added
 * to out, their index counted from base; anything else exits EXIT_SERVER.
 */
static void
execute_chunk(mongoc_collection_t *coll, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, bool bypass, bool ordered, size_t base, struct outcome *out)
{
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(ordered));
	retry_policy policy;
	size_t k, errors_before = out->error_count;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
		bson_t reply;
		bson_error_t error;
		bool ok;

		/* The source accepted these documents; the target must not judge them again. */
		mongoc_bulk_operation_set_bypass_document_validation(bulk, bypass);
		for (k = 0; k < n; k++)
			bulk_add(bulk, &writes[list[k]]);
		ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0;
		mongoc_bulk_operation_destroy(bulk);
		if (ok || outcome_errors(out, &reply) > errors_before) {
			out->matched += reply_int(&reply, "nMatched");
			out->upserted += reply_int(&reply, "nUpserted");
			bson_destroy(&reply);
			break;
		}
		bson_destroy(&reply);
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "%s.%s: bulk write of %zu: %s%s", nb->db, nb->coll, n,
			    error.message, conn_error_transient(&error) ? " (retries gave up)" : "");
	}
	for (k = errors_before; k < out->error_count; k++)
		out->error_index[k] += (uint32_t)base;
	bson_destroy(opts);
}

/*
 * Run the writes in bulks of at most UPDATE_CHUNK updates: FerretDB 1.24
 * takes time quadratic in the size of one update command (1000 upserts:
 * minutes; 10 times 100: seconds), and each statement of one command
 * holds one of its 100 SQLite connections until the command ends, so a
 * command of about 100 statements waits for itself forever (seen at 100,
 * not at 60). Inserts and deletes go whole.
 */
static void
execute(mongoc_client_t *client, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, bool bypass, struct outcome *out)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, nb->db, nb->coll);
	size_t chunk = n, done;

	memset(out, 0, sizeof(*out));
	if (n > 0 && writes[list[0]].kind != WRITE_INSERT && writes[list[0]].kind != WRITE_DELETE)
		chunk = UPDATE_CHUNK;
	for (done = 0; done < n; done += chunk)
		execute_chunk(coll, nb, writes, list + done, n - done < chunk ? n - done : chunk, bypass,
		    false, done, out);
	mongoc_collection_destroy(coll);
}

static void
die_write(const struct ns_batch *nb, const struct write *write, int code, const char *message)
{
	die(EXIT_SERVER, "%s: write failed: %s (code %d)", write_name(nb, write), message, code);
}

/*
 * A duplicate key on a unique index. In the grouped pass it may be the
 * order's doing (the key is freed later in the stream): the collection's
 * writes run again in stream order. In stream order it is real: the
 * target holds a document the stream does not account for. Exit before
 * the checkpoint claims this entry or any after it.
 */
static void
duplicate_key(struct batch *batch, const struct ns_batch *nb, const struct write *write,
    const char *message)
{
	if (!batch->in_order) {
		batch->reorder = true;
		return;
	}
	die(EXIT_SERVER, "%s: duplicate key on a unique index, in stream order: %s",
	    write_name(nb, write), message[0] != '\0' ? message : "(no message)");
}

/* Run one write alone; returns whether it matched or upserted a document. */
static bool
run_alone(struct batch *batch, const struct ns_batch *nb, const struct write *write)
{
	struct outcome out;
	size_t zero = 0;
	bool hit;

	execute(batch->client, nb, write, &zero, 1, write->kind != WRITE_DELETE, &out);
	hit = out.matched + out.upserted > 0;
	if (out.error_count > 0) {
		if (out.error_code[0] != DUPLICATE_KEY)
			die_write(nb, write, out.error_code[0], out.first_error);
		duplicate_key(batch, nb, write, out.first_duplicate);
		hit = true;
	}
	outcome_clear(&out);
	return hit;
}

/* List the writes of the given kinds (mask of 1 << kind). */
static size_t
select_writes(const struct ns_batch *nb, unsigned kinds, size_t *list)
{
	size_t k, n = 0;

	for (k = 0; k < nb->count; k++)
		if (kinds & 1u << nb->writes[k].kind)
			list[n++] = k;
	return n;
}

/*
 * Deletes first, in a bulk of their own: they validate nothing, so they
 * go without bypassDocumentValidation, which some servers refuse on a
 * delete; and a delete can only free a unique key the rest may need.
 */
static void
flush_deletes(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_DELETE, list);
	struct outcome out;

	if (n == 0)
		return;
	execute(batch->client, nb, nb->writes, list, n, false, &out);
	if (out.error_count > 0)
		die_write(nb, &nb->writes[list[out.error_index[0] < n ? out.error_index[0] : 0]],
		    out.error_code[0], out.first_error);
	outcome_clear(&out);
}

/* The inserts that found their _id taken, as one bulk of replacements. */
static void
replace_again(struct batch *batch, const struct ns_batch *nb, const size_t *list,
    const bool *failed, size_t n)
{
	struct write *replaces = xcalloc(n, sizeof(*replaces));
	size_t *order = xcalloc(n, sizeof(*order)), m = 0, k;
	struct outcome out;

	for (k = 0; k < n; k++) {
		if (!failed[k])
			continue;
		replaces[m] = nb->writes[list[k]];
		replaces[m].kind = WRITE_REPLACE;
		order[m] = m;
		m++;
	}
	if (m > 0) {
		execute(batch->client, nb, replaces, order, m, true, &out);
		for (k = 0; k < out.error_count; k++) {
			uint32_t at = out.error_index[k] < m ? out.error_index[k] : 0;

			if (out.error_code[k] != DUPLICATE_KEY)
				die_write(nb, &replaces[at], out.error_code[k], out.first_error);
			run_alone(batch, nb, &replaces[at]);
		}
		outcome_clear(&out);
	}
	free(order);
	free(replaces);
}

/*
 * Which of the n writes of a bulk failed on a duplicate key (to be run
 * again alone); any other error ends the program. The caller frees it.
 */
static bool *
duplicate_key_failures(const struct ns_batch *nb, const struct write *writes, const size_t *list,
    size_t n, const struct outcome *out)
{
	bool *failed = xcalloc(n, sizeof(*failed));
	size_t k;

	for (k = 0; k < out->error_count; k++) {
		uint32_t at = out->error_index[k];

		if (at >= n)
			die(EXIT_SERVER, "%s.%s: bulk write error at %u of %zu", nb->db, nb->coll, at, n);
		if (out->error_code[k] != DUPLICATE_KEY)
			die_write(nb, &writes[list[at]], out->error_code[k], out->first_error);
		failed[at] = true;
	}
	return failed;
}

/*
 * Inserts as plain inserts, which are cheap, where an upsert by _id
 * costs a lookup (on FerretDB 1.24, a scan of the collection). The
 * ones whose _id is already there, a replay's, become replacements.
 */
static void
flush_inserts(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_INSERT, list);
	struct outcome out;
	bool *failed;

	if (n == 0)
		return;
	execute(batch->client, nb, nb->writes, list, n, true, &out);
	failed = duplicate_key_failures(nb, nb->writes, list, n, &out);
	outcome_clear(&out);
	replace_again(batch, nb, list, failed, n);
	free(failed);
}

/*
 * Replacements and updates in one bulk. A non-upsert update that
 * matched nothing found its document gone (a later delete removed it):
 * counted from the totals, since a bulk does not say which one missed.
 * Duplicate keys are run again alone, after the rest: a delete or update
 * of the same batch may have been what freed the key.
 */
static void
flush_plain(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_REPLACE | 1u << WRITE_UPDATE, list);
	int64_t upserts = 0, expected = 0, found;
	struct outcome out;
	bool *failed;
	size_t k;

	if (n == 0)
		return;
	execute(batch->client, nb, nb->writes, list, n, true, &out);
	failed = duplicate_key_failures(nb, nb->writes, list, n, &out);
	for (k = 0; k < n; k++) {
		const struct write *write = &nb->writes[list[k]];

		if (failed[k])
			continue;
		if (write->upsert)
			upserts++;
		else
			expected++;
	}
	found = out.matched + out.upserted - upserts;
	if (expected > found)
		batch->count->missing += (uint64_t)(expected - found);
	outcome_clear(&out);
	for (k = 0; k < n; k++)
		if (failed[k] && !run_alone(batch, nb, &nb->writes[list[k]]) &&
		    !nb->writes[list[k]].upsert)
			batch->count->missing++;
	free(failed);
}

static bool
find_by_id(mongoc_client_t *client, const struct ns_batch *nb, const bson_t *selector, bson_t *doc)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, nb->db, nb->coll);
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
	retry_policy policy;
	bool found;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, selector, opts, NULL);
		const bson_t *result;
		bson_error_t error;

		found = mongoc_cursor_next(cursor, &result);
		if (found)
			bson_copy_to(result, doc);
		if (found || !mongoc_cursor_error(cursor, &error)) {
			mongoc_cursor_destroy(cursor);
			break;
		}
		mongoc_cursor_destroy(cursor);
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "%s.%s: find: %s", nb->db, nb->coll, error.message);
	}
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
	return found;
}

/*
 * Room for one bson_t on the heap: libbson declares it 128-byte aligned,
 * which an array from calloc is not. Free with bson_destroy, then free.
 */
static bson_t *
bson_room(void)
{
	bson_t *room = aligned_alloc(128, sizeof(bson_t));

	if (room == NULL)
		die(EXIT_DIFFERENT, "out of memory");
	return room;
}

/* The key of a selector's _id, as id_key makes it (1, 1L and 1.0 alike). */
static void
selector_key(const bson_t *selector, bson_t *key)
{
	bson_iter_t id;

	if (bson_iter_init_find(&id, selector, "_id"))
		id_key(0, &id, key);
	else
		bson_init(key);
}

/*
 * Read the documents of writes[list[0..n)] in one query by _id ($in):
 * found[k] says whether docs[k] was found (and initialized). One round
 * trip for the batch, where one find per document would cost n.
 */
static void
find_by_ids(mongoc_client_t *client, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, bson_t **docs, bool *found)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, nb->db, nb->coll);
	bson_t filter = BSON_INITIALIZER, in, ids, **keys = xcalloc(n, sizeof(*keys));
	retry_policy policy;
	char index[16];
	const char *name;
	size_t k;

	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
	BSON_APPEND_ARRAY_BEGIN(&in, "$in", &ids);
	for (k = 0; k < n; k++) {
		bson_iter_t id;

		keys[k] = bson_room();
		selector_key(writes[list[k]].selector, keys[k]);
		if (bson_iter_init_find(&id, writes[list[k]].selector, "_id")) {
			bson_uint32_to_string((uint32_t)k, &name, index, sizeof(index));
			bson_append_iter(&ids, name, -1, &id);
		}
	}
	bson_append_array_end(&in, &ids);
	bson_append_document_end(&filter, &in);
	retry_init(&policy, conn_retry_for());
	for (;;) {
		mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
		const bson_t *result;
		bson_error_t error;

		memset(found, 0, n * sizeof(*found));
		while (mongoc_cursor_next(cursor, &result)) {
			bson_t key;

			selector_key(result, &key);
			for (k = 0; k < n; k++) {
				if (found[k] || keys[k]->len != key.len ||
				    memcmp(bson_get_data(keys[k]), bson_get_data(&key), key.len) != 0)
					continue;
				bson_copy_to(result, docs[k]);
				found[k] = true;
				break;
			}
			bson_destroy(&key);
		}
		if (!mongoc_cursor_error(cursor, &error)) {
			mongoc_cursor_destroy(cursor);
			break;
		}
		mongoc_cursor_destroy(cursor);
		for (k = 0; k < n; k++)
			if (found[k])
				bson_destroy(docs[k]);
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "%s.%s: find: %s", nb->db, nb->coll, error.message);
	}
	for (k = 0; k < n; k++) {
		bson_destroy(keys[k]);
		free(keys[k]);
	}
	free(keys);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
}

/*
 * The filterPushdown of an explain of find(filter) on nb's collection
 * (pushdown.h); -2 also when the explain failed.
 */
static int
explain_pushdown(mongoc_client_t *client, const struct ns_batch *nb, const bson_t *filter)
{
	bson_t command = BSON_INITIALIZER, find, reply;
	bson_error_t error;
	int pushed = -2;

	BSON_APPEND_DOCUMENT_BEGIN(&command, "explain", &find);
	BSON_APPEND_UTF8(&find, "find", nb->coll);
	BSON_APPEND_DOCUMENT(&find, "filter", filter);
	bson_append_document_end(&command, &find);
	if (conn_command(client, nb->db, &command, &reply, &error))
		pushed = pushdown_of_reply(&reply);
	bson_destroy(&reply);
	bson_destroy(&command);
	return pushed;
}

/*
 * Per BSON type of _id: whether to read these documents one by one by
 * {_id: X} rather than with one $in (pushdown.h). The server's explain
 * decides: integer _ids on FerretDB's PostgreSQL backend are found by
 * index, so a $in of them, a scan, cost --jobs 4 all its gain (3.7 s
 * for a 2000-entry stream where the baseline takes 1.3 s); on SQLite
 * an integer _id is a scan either way, and one scan beats n. Asked once
 * per type and process (the backend answers alike for every
 * collection, and a MongoDB, whose explain does not say, once too):
 * 0 not yet, 1 one by one, 2 one $in. A failed explain, or one on a
 * collection not there yet, is asked again next time.
 */
static int by_type[256];
static pthread_mutex_t by_type_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
id_indexed(mongoc_client_t *client, const struct ns_batch *nb, const bson_t *selector)
{
	bson_t eq = BSON_INITIALIZER, in = BSON_INITIALIZER, doc, ids;
	bson_iter_t id;
	int known, one, set;
	bson_type_t type;

	if (!bson_iter_init_find(&id, selector, "_id"))
		return false;
	type = bson_iter_type(&id);
	pthread_mutex_lock(&by_type_lock);
	known = by_type[type & 0xff];
	pthread_mutex_unlock(&by_type_lock);
	if (known != 0)
		return known == 1;
	bson_append_iter(&eq, "_id", 3, &id);
	BSON_APPEND_DOCUMENT_BEGIN(&in, "_id", &doc);
	BSON_APPEND_ARRAY_BEGIN(&doc, "$in", &ids);
	bson_append_iter(&ids, "0", 1, &id);
	bson_append_array_end(&doc, &ids);
	bson_append_document_end(&in, &doc);
	one = explain_pushdown(client, nb, &eq);
	set = explain_pushdown(client, nb, &in);
	bson_destroy(&in);
	bson_destroy(&eq);
	if (one == -2 || set == -2)
		return pushdown_one_by_one(-1, -1, type);
	known = pushdown_one_by_one(one, set, type) ? 1 : 2;
	pthread_mutex_lock(&by_type_lock);
	by_type[type & 0xff] = known;
	pthread_mutex_unlock(&by_type_lock);
	return known == 1;
}

/*
 * The documents of writes[list[0..n)] as find_by_ids reads them, but
 * the _ids FerretDB finds by index one by one: n finds by _id cost less
 * than one $in that scans the collection (361 conditional diffs of a
 * 2000-entry stream, ObjectId _ids: 0.8 s against 2.5 s, and the $in
 * grows with the collection). The other _ids together, one scan for all.
 */
static void
read_back(mongoc_client_t *client, const struct ns_batch *nb, const size_t *list, size_t n,
    bson_t **docs, bool *found)
{
	size_t *rest = xcalloc(n + 1, sizeof(*rest)), *at = xcalloc(n + 1, sizeof(*at)), m = 0, k;
	bson_t **rest_docs = xcalloc(n + 1, sizeof(*rest_docs));
	bool *rest_found = xcalloc(n + 1, sizeof(*rest_found));

	for (k = 0; k < n; k++) {
		const struct write *write = &nb->writes[list[k]];

		if (n == 1 || id_indexed(client, nb, write->selector)) {
			found[k] = find_by_id(client, nb, write->selector, docs[k]);
			continue;
		}
		rest[m] = list[k];
		rest_docs[m] = docs[k];
		at[m++] = k;
	}
	if (m > 0)
		find_by_ids(client, nb, nb->writes, rest, m, rest_docs, rest_found);
	for (k = 0; k < m; k++)
		found[at[k]] = rest_found[k];
	free(rest_found);
	free(rest_docs);
	free(at);
	free(rest);
}

/*
 * Apply the write's diffs here to *doc (initialized when have: the
 * document as read). A missing document stays missing (false), unless
 * an entry upserts (b: true): from there it is {_id} plus the diffs,
 * what mongod's upsert builds from its query; *made says so.
 */
static bool
rmw_apply(struct batch *batch, const struct ns_batch *nb, const struct write *write, bool have,
    bson_t *doc, bool *made)
{
	bson_t result;
	char why[256];
	size_t k;

	*made = false;
	for (k = 0; k < write->nsteps; k++) {
		if (!have && !write->steps[k].create)
			continue;	/* an update of a missing document: nothing */
		if (!have) {
			bson_copy_to(write->selector, doc);
			have = *made = true;
		}
		if (!diff_apply(doc, write->steps[k].diff, &result, why, sizeof(why)))
			die(EXIT_BAD_STREAM, "%s: cannot apply the $v:2 diff: %s",
			    write_name(nb, write), why);
		bson_destroy(doc);
		bson_steal(doc, &result);
	}
	if (!have)
		batch->count->missing++;
	batch->count->fallbacks++;
	return have;
}

/* Read the document by _id and apply the write's diffs: as rmw_apply. */
static bool
rmw_compute(struct batch *batch, const struct ns_batch *nb, const struct write *write,
    bson_t *doc, bool *made)
{
	return rmw_apply(batch, nb, write, find_by_id(batch->client, nb, write->selector, doc), doc,
	    made);
}

/* Read the document, apply the diffs here, write it back alone. */
static void
read_modify_write(struct batch *batch, const struct ns_batch *nb, const struct write *write)
{
	struct write replace = *write;
	bson_t doc;
	bool made;

	if (!rmw_compute(batch, nb, write, &doc, &made))
		return;
	replace.kind = WRITE_REPLACE;
	replace.upsert = made;
	replace.doc = &doc;
	if (!run_alone(batch, nb, &replace))
		batch->count->missing++;	/* deleted in between: only by someone else */
	bson_destroy(&doc);
}

/* Updates and replacements of writes[0, n) that found no document. */
static void
count_missing_of(struct batch *batch, const struct write *writes, size_t n,
    const struct outcome *out)
{
	int64_t expected = 0, upserts = 0, found;
	size_t k;

	for (k = 0; k < n; k++) {
		const struct write *write = &writes[k];

		if (write->kind != WRITE_UPDATE && write->kind != WRITE_REPLACE)
			continue;
		if (write->upsert)
			upserts++;
		else
			expected++;
	}
	found = out->matched + out->upserted - upserts;
	if (expected > found)
		batch->count->missing += (uint64_t)(expected - found);
}

/*
 * The read-modify-writes of the batch: each document read by _id (a
 * plain _id lookup, which FerretDB answers from its index where a
 * selector with shape conditions scans the collection), the diffs
 * applied here, the results written back in bulks of replacements by _id.
 */
static void
flush_rmw(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_RMW, list), m = 0, k;
	struct write *replaces = xcalloc(n + 1, sizeof(*replaces));
	size_t *order = xcalloc(n + 1, sizeof(*order));
	bson_t **docs = xcalloc(n + 1, sizeof(*docs));
	bool *found = xcalloc(n + 1, sizeof(*found));
	struct outcome out;
	bool made, *failed;

	for (k = 0; k < n; k++)
		docs[k] = bson_room();
	read_back(batch->client, nb, list, n, docs, found);
	for (k = 0; k < n; k++) {
		found[k] = rmw_apply(batch, nb, &nb->writes[list[k]], found[k], docs[k], &made);
		if (!found[k])
			continue;
		replaces[m] = nb->writes[list[k]];
		replaces[m].kind = WRITE_REPLACE;
		replaces[m].upsert = made;
		replaces[m].doc = docs[k];
		order[m] = m;
		m++;
	}
	if (m > 0) {
		execute(batch->client, nb, replaces, order, m, true, &out);
		failed = duplicate_key_failures(nb, replaces, order, m, &out);
		count_missing_of(batch, replaces, m, &out);
		for (k = 0; k < m; k++)
			if (failed[k])
				run_alone(batch, nb, &replaces[k]);
		free(failed);
		outcome_clear(&out);
	}
	for (k = 0; k < n; k++) {
		if (found[k])
			bson_destroy(docs[k]);
		free(docs[k]);
	}
	free(found);
	free(docs);
	free(order);
	free(replaces);
}

/*
 * Conditional $v:2 translations in one bulk. When some did not match
 * (document missing, or not in the shape the diff was computed on),
 * each is run again alone and a miss falls back to read-modify-write:
 * running one twice is harmless, its $set and $unset are idempotent.
 */
static void
flush_diffs(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_DIFF, list), k;
	struct outcome out;
	bool all;

	if (n > 0) {
		execute(batch->client, nb, nb->writes, list, n, true, &out);
		all = out.error_count == 0 && out.matched == (int64_t)n;
		if (out.error_count > 0 && out.error_code[0] == DUPLICATE_KEY)
			duplicate_key(batch, nb, &nb->writes[list[0]], out.first_duplicate);
		outcome_clear(&out);
		for (k = 0; !all && k < n; k++)
			if (!run_alone(batch, nb, &nb->writes[list[k]]))
				read_modify_write(batch, nb, &nb->writes[list[k]]);
	}
	flush_rmw(batch, nb, list);
}

/* One diff in its place: its translation alone, read-modify-write on a miss. */
static void
run_diff(struct batch *batch, const struct ns_batch *nb, const struct write *write)
{
	if (write->kind == WRITE_RMW || !run_alone(batch, nb, write))
		read_modify_write(batch, nb, write);
}

/* Updates and replacements of writes[from, to) that found no document. */
static void
count_missing(struct batch *batch, const struct ns_batch *nb, size_t from, size_t to,
    const struct outcome *out)
{
	count_missing_of(batch, nb->writes + from, to - from, out);
}

/*
 * writes[from, to) as ordered bulks: the server stops at the first
 * error, which is dealt with before the rest goes on. An insert that
 * meets a duplicate key is run again as a replacement by _id (a replay's
 * _id was there); a duplicate key that remains is a conflict.
 */
static void
run_ordered(struct batch *batch, const struct ns_batch *nb, size_t from, size_t to)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(batch->client, nb->db, nb->coll);
	size_t *list = xcalloc(to - from, sizeof(*list)), k;

	while (from < to) {
		const struct write *failed;
		struct write replace;
		struct outcome out;
		size_t done;

		for (k = from; k < to; k++)
			list[k - from] = k;
		memset(&out, 0, sizeof(out));
		execute_chunk(coll, nb, nb->writes, list, to - from,
		    nb->writes[from].kind != WRITE_DELETE, true, 0, &out);
		done = out.error_count == 0 ? to - from : out.error_index[0];
		if (done >= to - from && out.error_count > 0)
			die(EXIT_SERVER, "%s.%s: bulk write error at %zu of %zu", nb->db, nb->coll, done,
			    to - from);
		count_missing(batch, nb, from, from + done, &out);
		if (out.error_count == 0) {
			outcome_clear(&out);
			break;
		}
		failed = &nb->writes[from + done];
		if (out.error_code[0] != DUPLICATE_KEY)
			die_write(nb, failed, out.error_code[0], out.first_error);
		if (failed->kind == WRITE_INSERT) {
			replace = *failed;
			replace.kind = WRITE_REPLACE;
			run_alone(batch, nb, &replace);
		} else {
			duplicate_key(batch, nb, failed, out.first_duplicate);
		}
		outcome_clear(&out);
		from += done + 1;
	}
	free(list);
	mongoc_collection_destroy(coll);
}

static bool
plain_write(const struct write *write)
{
	return write->kind != WRITE_DIFF && write->kind != WRITE_RMW;
}

/*
 * The collection's writes in stream order: runs of plain writes as
 * ordered bulks (at most UPDATE_CHUNK, deletes apart since some servers
 * refuse bypassDocumentValidation on a delete), each diff alone in its
 * place. Any duplicate key met here is a conflict.
 */
static void
flush_in_order(struct batch *batch, const struct ns_batch *nb)
{
	size_t from = 0, to;

	batch->in_order = true;
	while (from < nb->count) {
		const struct write *first = &nb->writes[from];

		if (!plain_write(first)) {
			run_diff(batch, nb, first);
			from++;
			continue;
		}
		for (to = from + 1; to < nb->count && to - from < UPDATE_CHUNK &&
		    plain_write(&nb->writes[to]) &&
		    (nb->writes[to].kind == WRITE_DELETE) == (first->kind == WRITE_DELETE); to++)
			continue;
		run_ordered(batch, nb, from, to);
		from = to;
	}
	batch->in_order = false;
}

static void
count_applied(struct counters *count, const struct ns_batch *nb)
{
	size_t k;

	for (k = 0; k < nb->count; k++) {
		count->inserts += nb->writes[k].ops[0];
		count->updates += nb->writes[k].ops[1];
		count->deletes += nb->writes[k].ops[2];
	}
}

/*
 * One collection's writes: grouped by kind, which costs the fewest
 * round trips; when that met a duplicate key, all of them again in
 * stream order (each write is idempotent, so running one twice is
 * harmless), with the counters of the grouped pass forgotten.
 */
static void
flush_namespace(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	struct counters before = *batch->count;

	if (nb->ordered) {
		flush_in_order(batch, nb);
		count_applied(batch->count, nb);
		return;
	}
	batch->reorder = false;
	flush_deletes(batch, nb, list);
	flush_inserts(batch, nb, list);
	flush_plain(batch, nb, list);
	flush_diffs(batch, nb, list);
	if (batch->reorder) {
		batch->count->missing = before.missing;
		batch->count->fallbacks = before.fallbacks;
		batch->count->reordered++;
		flush_in_order(batch, nb);
	}
	count_applied(batch->count, nb);
}

void
batch_flush(struct batch *batch, mongoc_client_t *client)
{
	size_t *list;
	int n;

	if (batch->ops == 0)
		return;
	batch->client = client;
	list = xcalloc(batch->ops, sizeof(*list));
	for (n = 0; n < batch->namespace_count; n++)
		flush_namespace(batch, &batch->namespaces[n], list);
	free(list);
	batch->count->batches++;
	batch_clear(batch);
}
