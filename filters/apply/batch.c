/*
 * batch.c - oplog-apply's batch of data writes: what it holds and how an
 * entry joins it.
 *
 * i, u, d entries are turned into idempotent writes (batch-plan.c) and
 * grouped per collection, one write per _id: a later entry of an _id is
 * folded into the write that holds it (batch-fold.c), or the batch is
 * full and must be flushed first (batch-flush.c). The _ids are found in
 * an open-addressing table whose keys live in one arena, so a batch of
 * thousands of writes costs a few allocations. The batch owns copies of
 * everything it holds.
 */
#include <string.h>

#include "batch-internal.h"
#include "die.h"

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

void
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
void
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
