/*
 * merge.c - sync-check's documents: both sides read sorted by _id and
 * merged; a document found on one side only is looked up by _id on the
 * other (in batches, with $in) before it is reported.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "ns.h"
#include "order.h"
#include "stream.h"
#include "check.h"

/* Documents the merge found on one side only, to look up on the other. */
struct pending {
	bson_t *docs[PENDING_MAX];
	size_t count, bytes;
	bool from_source;	/* missing on the target (else: extra there) */
};

/* ---- documents ---- */

static bool
document_id(const bson_t *doc, bson_iter_t *id)
{
	return bson_iter_init_find(id, doc, "_id");
}

/* Same _id: the same type and bytes, or (1 and 1.0) equal in MongoDB's order. */
static bool
same_id(const bson_t *a, const bson_t *b, bool exact)
{
	bson_iter_t x, y;

	if (!document_id(a, &x) || !document_id(b, &y))
		return false;
	if (exact && bson_iter_type(&x) != bson_iter_type(&y))
		return false;
	return order_compare_values(&x, &y) == 0;
}

static void
pending_add(struct pending *pending, const bson_t *doc)
{
	pending->docs[pending->count++] = bson_copy(doc);
	pending->bytes += doc->len;
}

/* The index of the pending document with the _id of found, or -1. */
static long
pending_match(const struct pending *pending, const bson_t *found, const bool *matched)
{
	size_t k;
	int pass;

	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < pending->count; k++)
			if (!matched[k] && same_id(pending->docs[k], found, pass == 0))
				return (long)k;
	return -1;
}

/*
 * Look the pending documents up by _id on the other side. Found there:
 * the merge only saw them out of step; a document from the source is then
 * compared with its twin, one from the target is left to the source's own
 * lookup. The rest are really missing (or extra).
 */
static void
pending_flush(struct check *check, const char *ns, mongoc_client_t *other,
    struct pending *pending, uint64_t *compared)
{
	bool matched[PENDING_MAX] = { false };
	bson_t filter = BSON_INITIALIZER, id_clause, in;
	mongoc_collection_t *collection;
	mongoc_cursor_t *cursor;
	const char *name;
	const bson_t *found;
	bson_error_t error;
	bson_iter_t id;
	char db[256], key[16];
	const char *key_text;
	size_t k;
	long at;

	if (pending->count == 0)
		return;
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_clause);
	BSON_APPEND_ARRAY_BEGIN(&id_clause, "$in", &in);
	for (k = 0; k < pending->count; k++) {
		bson_uint32_to_string((uint32_t)k, &key_text, key, sizeof(key));
		if (document_id(pending->docs[k], &id))
			bson_append_iter(&in, key_text, -1, &id);
	}
	bson_append_array_end(&id_clause, &in);
	bson_append_document_end(&filter, &id_clause);
	split_ns(ns, db, sizeof(db), &name);
	collection = mongoc_client_get_collection(other, db, name);
	cursor = mongoc_collection_find_with_opts(collection, &filter, NULL, NULL);
	while (mongoc_cursor_next(cursor, &found)) {
		if ((at = pending_match(pending, found, matched)) < 0)
			continue;
		matched[at] = true;
		if (!pending->from_source)
			continue;
		(*compared)++;
		if (!same_bytes(pending->docs[at], found) && document_id(pending->docs[at], &id))
			report(check, ns, &id, "differs", NULL);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: find on %s: %s", conn_masked(other), ns, error.message);
	for (k = 0; k < pending->count; k++) {
		if (!matched[k] && document_id(pending->docs[k], &id))
			report(check, ns, &id, pending->from_source ? "missing" : "extra", NULL);
		bson_destroy(pending->docs[k]);
	}
	pending->count = 0;
	pending->bytes = 0;
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(collection);
	bson_destroy(&filter);
}

/* One side of the merge: a cursor sorted by _id and the last _id seen. */
struct side {
	const char *label;
	mongoc_client_t *client;
	mongoc_collection_t *collection;
	mongoc_cursor_t *cursor;
	const bson_t *doc;	/* current document, NULL at the end */
	bson_t last_id;		/* {_id: previous} to check the server's order */
	bool have_last, warned;
	uint64_t count;
};

static void
side_open(struct side *side, const char *label, mongoc_client_t *client, const char *ns)
{
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
	const char *name;
	char db[256];

	memset(side, 0, sizeof(*side));
	side->label = label;
	side->client = client;
	split_ns(ns, db, sizeof(db), &name);
	side->collection = mongoc_client_get_collection(client, db, name);
	side->cursor = mongoc_collection_find_with_opts(side->collection, &filter, opts, NULL);
	bson_init(&side->last_id);
	bson_destroy(opts);
	bson_destroy(&filter);
}

static void
side_advance(struct side *side, const char *ns)
{
	bson_error_t error;
	bson_iter_t id, last;

	if (!mongoc_cursor_next(side->cursor, &side->doc)) {
		side->doc = NULL;
		if (mongoc_cursor_error(side->cursor, &error))
			die(EXIT_SERVER, "%s: reading %s: %s", conn_masked(side->client), ns,
			    error.message);
		return;
	}
	side->count++;
	if (!document_id(side->doc, &id))
		return;
	if (side->have_last && bson_iter_init_find(&last, &side->last_id, "_id") &&
	    order_compare_values(&last, &id) >= 0 && !side->warned) {
		warnmsg("%s: the %s's _id order is not ours; lookups will settle the stretch",
		    ns, side->label);
		side->warned = true;
	}
	bson_reinit(&side->last_id);
	bson_append_iter(&side->last_id, "_id", 3, &id);
	side->have_last = true;
}

static void
side_close(struct side *side)
{
	mongoc_cursor_destroy(side->cursor);
	mongoc_collection_destroy(side->collection);
	bson_destroy(&side->last_id);
}

static int
compare_current_ids(const struct side *a, const struct side *b)
{
	bson_iter_t x, y;

	if (!document_id(a->doc, &x) || !document_id(b->doc, &y))
		return 0;
	return order_compare_values(&x, &y);
}

static void
pending_push(struct check *check, const char *ns, struct pending *pending, const bson_t *doc,
    mongoc_client_t *other, uint64_t *compared)
{
	if (pending->count == PENDING_MAX || pending->bytes + doc->len > PENDING_BYTES)
		pending_flush(check, ns, other, pending, compared);
	pending_add(pending, doc);
}

void
compare_documents(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const char *ns)
{
	struct pending *missing = xcalloc(1, sizeof(*missing)), *extra = xcalloc(1, sizeof(*extra));
	struct side from, to;
	uint64_t compared = 0;
	bson_iter_t id;
	int c;

	missing->from_source = true;
	side_open(&from, "source", source, ns);
	side_open(&to, "target", target, ns);
	side_advance(&from, ns);
	side_advance(&to, ns);
	while (from.doc != NULL || to.doc != NULL) {
		c = from.doc == NULL ? 1 : to.doc == NULL ? -1 : compare_current_ids(&from, &to);
		if (c < 0) {
			pending_push(check, ns, missing, from.doc, target, &compared);
			side_advance(&from, ns);
		} else if (c > 0) {
			pending_push(check, ns, extra, to.doc, source, &compared);
			side_advance(&to, ns);
		} else {
			compared++;
			if (!same_bytes(from.doc, to.doc) && document_id(from.doc, &id))
				report(check, ns, &id, "differs", NULL);
			side_advance(&from, ns);
			side_advance(&to, ns);
		}
	}
	pending_flush(check, ns, target, missing, &compared);
	pending_flush(check, ns, source, extra, &compared);
	if (from.count != to.count)
		warnmsg("%s: %" PRIu64 " documents on the source, %" PRIu64 " on the target", ns,
		    from.count, to.count);
	side_close(&from);
	side_close(&to);
	free(missing);
	free(extra);
	pthread_mutex_lock(&check->lock);
	check->compared += compared;
	pthread_mutex_unlock(&check->lock);
}

