/*
 * batch-rmw.c - the $v:2 diffs no plain update can say: conditional
 * translations (WRITE_DIFF), tried as updates and, on a miss, applied
 * here; and read-modify-writes (WRITE_RMW): the documents read back by
 * _id, the diffs applied with diff_apply and the $set/$unset with
 * operators_apply (mongod's appliers, written from it), the results
 * written back as replacements by _id.
 */
#include <pthread.h>
#include <string.h>

#include "batch-internal.h"
#include "conn.h"
#include "diff.h"
#include "die.h"
#include "pushdown.h"

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
		if (!step_apply(&write->steps[k], doc, &result, why, sizeof(why)))
			die(EXIT_BAD_STREAM, "%s: cannot apply the update: %s",
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
		failed = duplicate_key_failures(batch, nb, replaces, order, m, &out);
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
void
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
void
run_diff(struct batch *batch, const struct ns_batch *nb, const struct write *write)
{
	if (write->kind == WRITE_RMW || !run_alone(batch, nb, write))
		read_modify_write(batch, nb, write);
}
