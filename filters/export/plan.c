/*
 * plan.c - snap-export's plan: the selected collections, in creation order
 * (time series, collections, views), each a part or, when large and
 * parallel, several _id ranges; create and createIndexes entries around them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "mongo-errors.h"
#include "ns.h"
#include "queue.h"
#include "stream.h"
#include "export.h"

/* Borrow the document or array iter points at into out. */
bool
iter_document(const bson_iter_t *iter, bson_t *out)
{
	const uint8_t *data;
	uint32_t length;

	if (BSON_ITER_HOLDS_DOCUMENT(iter))
		bson_iter_document(iter, &length, &data);
	else if (BSON_ITER_HOLDS_ARRAY(iter))
		bson_iter_array(iter, &length, &data);
	else
		return false;
	return bson_init_static(out, data, length);
}

static void
command_entry(struct export *x, bson_t *entry, const char *db, const bson_t *o)
{
	char ns[NS_SIZE];

	snprintf(ns, sizeof(ns), "%s.$cmd", db);
	bson_init(entry);
	BSON_APPEND_UTF8(entry, "op", "c");
	BSON_APPEND_UTF8(entry, "ns", ns);
	BSON_APPEND_DOCUMENT(entry, "o", o);
	BSON_APPEND_TIMESTAMP(entry, "ts", x->t0.t, x->t0.i);
}

/* Append entry to an array document at the next index. */
static void
array_push(bson_t *array, const bson_t *entry)
{
	char key[16];
	const char *key_text;

	bson_uint32_to_string(bson_count_keys(array), &key_text, key, sizeof(key));
	bson_append_document(array, key_text, -1, entry);
}

/* The create entry: {create: coll, ...options} as mongod logs it. */
static void
create_entry(struct export *x, bson_t *entry, const char *db, const char *coll, const bson_t *info)
{
	bson_iter_t iter, field;
	bson_t o = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&o, "create", coll);
	if (bson_iter_init_find(&iter, info, "options") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
	    bson_iter_recurse(&iter, &field))
		while (bson_iter_next(&field))
			bson_append_iter(&o, NULL, 0, &field);
	command_entry(x, entry, db, &o);
	bson_destroy(&o);
}

/* Index specs as createIndexes entries, _id_ left out (create makes it). */
static void
index_entries(struct export *x, mongoc_client_t *client, const char *db, const char *coll,
    bson_t *after)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, db, coll);
	bson_t *opts = member_opts(x);
	mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(collection, opts);
	const bson_t *spec;
	bson_error_t error;
	bson_iter_t iter;

	while (mongoc_cursor_next(cursor, &spec)) {
		bson_t o = BSON_INITIALIZER, entry;

		if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter) &&
		    strcmp(bson_iter_utf8(&iter, NULL), "_id_") == 0)
			continue;
		BSON_APPEND_UTF8(&o, "createIndexes", coll);
		bson_iter_init(&iter, spec);
		/* "ns" is a leftover of old servers that new ones reject. */
		while (bson_iter_next(&iter))
			if (strcmp(bson_iter_key(&iter), "ns") != 0)
				bson_append_iter(&o, NULL, 0, &iter);
		command_entry(x, &entry, db, &o);
		array_push(after, &entry);
		bson_destroy(&entry);
		bson_destroy(&o);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s.%s: listIndexes: %s", db, coll, error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_collection_destroy(collection);
}

struct part *
part_add(struct export *x, const char *db, const char *coll, int collection)
{
	struct part *part;

	x->parts = xrealloc(x->parts, (size_t)(x->part_count + 1) * sizeof(*x->parts));
	part = xcalloc(1, sizeof(*part));
	x->parts[x->part_count++] = part;
	snprintf(part->db, sizeof(part->db), "%s", db);
	snprintf(part->coll, sizeof(part->coll), "%s", coll);
	snprintf(part->ns, sizeof(part->ns), "%s.%s", db, coll);
	part->collection = collection;
	bson_init(&part->filter);
	bson_init(&part->before);
	bson_init(&part->after);
	return part;
}

/*
 * $gte/$lt on _id only match values of the bound's type class, so ranges
 * are used only when every _id is of one class (numbers count as one).
 */
static int
type_class(bson_type_t type)
{
	switch (type) {
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DECIMAL128:
		return BSON_TYPE_DOUBLE;
	case BSON_TYPE_SYMBOL:
		return BSON_TYPE_UTF8;
	default:
		return (int)type;
	}
}

static long
document_count(struct export *x, mongoc_client_t *client, const char *db, const char *coll)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, db, coll);
	bson_t *opts = member_opts(x);
	bson_error_t error;
	int64_t count;

	count = mongoc_collection_estimated_document_count(collection, opts, x->read_prefs, NULL, &error);
	if (count < 0)
		die(EXIT_SERVER, "%s.%s: count: %s", db, coll, error.message);
	bson_destroy(opts);
	mongoc_collection_destroy(collection);
	return (long)count;
}

/*
 * Range bounds: one sorted pass over the _ids, keeping every
 * chunk_docs-th. Returns how many bounds (0: do not split).
 */
static size_t
range_bounds(struct export *x, mongoc_client_t *client, const char *db, const char *coll,
    bson_value_t **bounds)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, db, coll);
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}",
	    "sort", "{", "_id", BCON_INT32(1), "}", "serverId", BCON_INT32((int32_t)x->server_id));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(collection, &filter, opts,
	    x->read_prefs);
	const bson_t *doc;
	bson_error_t error;
	bson_iter_t iter;
	size_t count = 0, seen = 0;
	int first_class = -1;
	bool mixed = false;

	*bounds = NULL;
	while (mongoc_cursor_next(cursor, &doc) && !cli_stop) {
		if (!bson_iter_init_find(&iter, doc, "_id"))
			continue;
		if (first_class < 0)
			first_class = type_class(bson_iter_type(&iter));
		else if (type_class(bson_iter_type(&iter)) != first_class)
			mixed = true;
		if (seen++ % (size_t)x->config->chunk_docs != 0 || seen == 1)
			continue;
		*bounds = xrealloc(*bounds, (count + 1) * sizeof(**bounds));
		bson_value_copy(bson_iter_value(&iter), &(*bounds)[count++]);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s.%s: reading _ids: %s", db, coll, error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	mongoc_collection_destroy(collection);
	if (mixed) {
		while (count > 0)
			bson_value_destroy(&(*bounds)[--count]);
	}
	return count;
}

static void
range_filter(bson_t *filter, const bson_value_t *lower, const bson_value_t *upper)
{
	bson_t id;

	BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &id);
	if (lower != NULL)
		bson_append_value(&id, "$gte", -1, lower);
	if (upper != NULL)
		bson_append_value(&id, "$lt", -1, upper);
	bson_append_document_end(filter, &id);
}

static void
plan_collection(struct export *x, mongoc_client_t *client, const char *db, const bson_t *info)
{
	bson_value_t *bounds = NULL;
	const char *coll = "", *type = "collection";
	struct part *part;
	size_t count = 0, k;
	bson_iter_t iter;
	bson_t create;
	int collection = x->collection_count++;

	if (bson_iter_init_find(&iter, info, "name") && BSON_ITER_HOLDS_UTF8(&iter))
		coll = bson_iter_utf8(&iter, NULL);
	if (bson_iter_init_find(&iter, info, "type") && BSON_ITER_HOLDS_UTF8(&iter))
		type = bson_iter_utf8(&iter, NULL);
	part = part_add(x, db, coll, collection);
	create_entry(x, &create, db, coll, info);
	array_push(&part->before, &create);
	bson_destroy(&create);
	if (strcmp(type, "collection") != 0)
		return;		/* a view or time series: its definition is all */
	part->documents = true;
	estimate_collection(x, client, db, coll);
	if ((x->config->jobs > 1 || x->config->directory) &&
	    document_count(x, client, db, coll) >= 2 * x->config->chunk_docs)
		count = range_bounds(x, client, db, coll, &bounds);
	for (k = 0; k <= count && count > 0; k++) {
		if (k > 0) {
			part = part_add(x, db, coll, collection);
			part->documents = true;
		}
		range_filter(&part->filter, k > 0 ? &bounds[k - 1] : NULL,
		    k < count ? &bounds[k] : NULL);
	}
	index_entries(x, client, db, coll, &part->after);
	for (k = 0; k < count; k++)
		bson_value_destroy(&bounds[k]);
	free(bounds);
}

/* The order collections are created in: time series, collections, views. */
static int
type_rank(const bson_t *info)
{
	bson_iter_t iter;
	const char *type;

	if (!bson_iter_init_find(&iter, info, "type") || !BSON_ITER_HOLDS_UTF8(&iter))
		return 1;
	type = bson_iter_utf8(&iter, NULL);
	return strcmp(type, "timeseries") == 0 ? 0 : strcmp(type, "view") == 0 ? 2 : 1;
}

static bool
collection_selected(struct export *x, const char *db, const bson_t *info)
{
	char ns[NS_SIZE];
	bson_iter_t iter;
	const char *coll;

	if (!bson_iter_init_find(&iter, info, "name") || !BSON_ITER_HOLDS_UTF8(&iter))
		return false;
	coll = bson_iter_utf8(&iter, NULL);
	/* Views travel as create entries; their storage cannot be written. */
	if (strcmp(coll, "system.views") == 0)
		return false;
	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	return ns_match(x->selection, ns);
}

static void
plan_database(struct export *x, mongoc_client_t *client, const char *db)
{
	mongoc_database_t *database = mongoc_client_get_database(client, db);
	bson_t *opts = member_opts(x);
	mongoc_cursor_t *cursor;
	const bson_t *info;
	bson_error_t error;
	bson_t **infos = NULL;
	size_t count = 0, k;
	int rank;

	cursor = mongoc_database_find_collections_with_opts(database, opts);
	while (mongoc_cursor_next(cursor, &info)) {
		if (!collection_selected(x, db, info))
			continue;
		infos = xrealloc(infos, (count + 1) * sizeof(*infos));
		infos[count++] = bson_copy(info);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: listCollections: %s", db, error.message);
	mongoc_cursor_destroy(cursor);
	for (rank = 0; rank < 3; rank++)
		for (k = 0; k < count; k++)
			if (type_rank(infos[k]) == rank)
				plan_collection(x, client, db, infos[k]);
	for (k = 0; k < count; k++)
		bson_destroy(infos[k]);
	free(infos);
	bson_destroy(opts);
	mongoc_database_destroy(database);
}

void
plan(struct export *x, mongoc_client_t *client)
{
	bson_t *command = BCON_NEW("listDatabases", BCON_INT32(1), "nameOnly", BCON_BOOL(true));
	bson_t *opts = member_opts(x);
	bson_iter_t iter, list, db;
	bson_error_t error;
	bson_t reply;

	/* Known until a collection's count or size is not (estimate.c). */
	x->documents_known = x->bytes_known = true;
	if (!mongoc_client_read_command_with_opts(client, "admin", command, x->read_prefs, opts,
	    &reply, &error))
		die(EXIT_SERVER, "%s: listDatabases: %s", x->member, error.message);
	if (bson_iter_init_find(&iter, &reply, "databases") && BSON_ITER_HOLDS_ARRAY(&iter) &&
	    bson_iter_recurse(&iter, &list)) {
		while (bson_iter_next(&list) && !cli_stop) {
			if (!BSON_ITER_HOLDS_DOCUMENT(&list) || !bson_iter_recurse(&list, &db) ||
			    !bson_iter_find(&db, "name") || !BSON_ITER_HOLDS_UTF8(&db))
				continue;
			if (ns_match_database(x->selection, bson_iter_utf8(&db, NULL)))
				plan_database(x, client, bson_iter_utf8(&db, NULL));
		}
	}
	bson_destroy(&reply);
	bson_destroy(opts);
	bson_destroy(command);
	if (cli_stop) {
		unlock_member(x);
		die(EXIT_STOPPED, "stopped by a signal before the export began");
	}
}
