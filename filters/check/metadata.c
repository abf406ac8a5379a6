/*
 * metadata.c - sync-check's listing and metadata: the selected
 * collections of each side, their options and index specs compared in a
 * normal form (what servers add or spell differently left out).
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

/* ---- listing ---- */

/* Namespaces come from listings or from a record already checked. */
void
split_ns(const char *ns, char *db, size_t db_size, const char **collection)
{
	if (!ns_split(ns, db, db_size, collection))
		die(EXIT_BAD_STREAM, "%s: not a namespace DB.COLLECTION", ns);
}

static void
collection_add(struct collection_list *list, const char *db, const bson_t *info,
    const ns_filter *filter)
{
	bson_iter_t iter;
	char ns[512];

	if (!bson_iter_init_find(&iter, info, "name") || !BSON_ITER_HOLDS_UTF8(&iter))
		return;
	snprintf(ns, sizeof(ns), "%s.%s", db, bson_iter_utf8(&iter, NULL));
	if (filter != NULL && !ns_match(filter, ns))
		return;
	if (list->count == list->size) {
		list->size = list->size ? list->size * 2 : 64;
		list->items = xrealloc(list->items, list->size * sizeof(*list->items));
	}
	list->items[list->count].ns = xstrdup(ns);
	list->items[list->count].info = bson_copy(info);
	list->count++;
}

/*
 * listCollections of db, with an optional server-side filter, keeping what
 * select (NULL: everything) selects; exits 4 on a server error.
 */
void
list_database(mongoc_client_t *client, const char *db, const bson_t *filter,
    const ns_filter *select, struct collection_list *list)
{
	mongoc_database_t *database = mongoc_client_get_database(client, db);
	bson_t *opts = bson_new();
	mongoc_cursor_t *cursor;
	const bson_t *info;
	bson_error_t error;

	if (filter != NULL)
		BSON_APPEND_DOCUMENT(opts, "filter", filter);
	cursor = mongoc_database_find_collections_with_opts(database, opts);
	while (mongoc_cursor_next(cursor, &info))
		collection_add(list, db, info, select);
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: listCollections on %s: %s", conn_masked(client), db, error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_database_destroy(database);
}

static int
compare_collection_ns(const void *a, const void *b)
{
	return strcmp(((const struct collection *)a)->ns, ((const struct collection *)b)->ns);
}

/* Every selected collection of the server, sorted by namespace. */
void
list_collections(struct check *check, mongoc_client_t *client, struct collection_list *list)
{
	bson_t *command = BCON_NEW("listDatabases", BCON_INT32(1), "nameOnly", BCON_BOOL(true));
	bson_iter_t iter, databases;
	bson_error_t error;
	bson_t reply;

	if (!conn_command(client, "admin", command, &reply, &error))
		die(EXIT_SERVER, "%s: listDatabases: %s", conn_masked(client), error.message);
	if (!bson_iter_init_find(&iter, &reply, "databases") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &databases))
		die(EXIT_SERVER, "%s: listDatabases: no databases in the reply", conn_masked(client));
	while (bson_iter_next(&databases)) {
		bson_iter_t name;

		if (!BSON_ITER_HOLDS_DOCUMENT(&databases) || !bson_iter_recurse(&databases, &name) ||
		    !bson_iter_find(&name, "name") || !BSON_ITER_HOLDS_UTF8(&name))
			continue;
		if (ns_match_database(check->config->filter, bson_iter_utf8(&name, NULL)))
			list_database(client, bson_iter_utf8(&name, NULL), NULL, check->config->filter, list);
	}
	bson_destroy(&reply);
	bson_destroy(command);
	if (list->count > 0)
		qsort(list->items, list->count, sizeof(*list->items), compare_collection_ns);
}

void
collection_list_free(struct collection_list *list)
{
	size_t k;

	for (k = 0; k < list->count; k++) {
		free(list->items[k].ns);
		bson_destroy(list->items[k].info);
	}
	free(list->items);
}

/* ---- collection options and indexes ---- */

static const char *
info_type(const bson_t *info)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, info, "type") && BSON_ITER_HOLDS_UTF8(&iter))
		return bson_iter_utf8(&iter, NULL);
	return "collection";
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether name is one of skip (NULL-terminated). */
static bool
is_skipped(const char *name, const char *const *skip)
{
	for (; skip != NULL && *skip != NULL; skip++)
		if (strcmp(name, *skip) == 0)
			return true;
	return false;
}

/*
 * in's top-level fields sorted by name, without those in skip: servers
 * list options in an order of their own, which says nothing. Values are
 * copied untouched (an index key's order is its meaning).
 */
static void
normalize_fields(const bson_t *in, bson_t *out, const char *const *skip)
{
	const char **names;
	bson_iter_t iter;
	size_t count = 0, k;

	bson_init(out);
	names = xcalloc(bson_count_keys(in) + 1, sizeof(*names));
	if (bson_iter_init(&iter, in))
		while (bson_iter_next(&iter))
			if (!is_skipped(bson_iter_key(&iter), skip))
				names[count++] = bson_iter_key(&iter);
	qsort(names, count, sizeof(*names), compare_strings);
	for (k = 0; k < count; k++)
		if (bson_iter_init_find(&iter, in, names[k]))
			bson_append_iter(out, names[k], -1, &iter);
	free(names);
}

/* An index key with every direction as a double: 1, 1.0 and 1L are one index. */
static void
normalize_key(const bson_t *key, bson_t *out)
{
	bson_iter_t iter;

	bson_init(out);
	if (!bson_iter_init(&iter, key))
		return;
	while (bson_iter_next(&iter)) {
		if (BSON_ITER_HOLDS_NUMBER(&iter))
			BSON_APPEND_DOUBLE(out, bson_iter_key(&iter), bson_iter_as_double(&iter));
		else
			bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
	}
}

/* The spec as compared: no v (index version), ns (legacy), background (ignored since 4.2). */
static bson_t *
normalize_index(const bson_t *spec)
{
	static const char *const skip[] = { "v", "ns", "background", NULL };
	bson_t sorted, key, *out = bson_new();
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;

	normalize_fields(spec, &sorted, skip);
	bson_iter_init(&iter, &sorted);
	while (bson_iter_next(&iter)) {
		if (strcmp(bson_iter_key(&iter), "key") == 0 && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
			bson_t original;

			bson_iter_document(&iter, &length, &data);
			if (bson_init_static(&original, data, length)) {
				normalize_key(&original, &key);
				BSON_APPEND_DOCUMENT(out, "key", &key);
				bson_destroy(&key);
				continue;
			}
		}
		bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
	}
	bson_destroy(&sorted);
	return out;
}

struct index_list {
	bson_t **specs;		/* normalized, sorted by name */
	size_t count;
};

static const char *
index_name(const bson_t *spec)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter))
		return bson_iter_utf8(&iter, NULL);
	return "";
}

static int
compare_index_names(const void *a, const void *b)
{
	return strcmp(index_name(*(bson_t *const *)a), index_name(*(bson_t *const *)b));
}

static void
list_indexes(mongoc_client_t *client, const char *ns, struct index_list *list)
{
	const char *name;
	char db[256];
	mongoc_collection_t *collection;
	mongoc_cursor_t *cursor;
	const bson_t *spec;
	bson_error_t error;
	size_t size = 0;

	split_ns(ns, db, sizeof(db), &name);
	collection = mongoc_client_get_collection(client, db, name);
	cursor = mongoc_collection_find_indexes_with_opts(collection, NULL);
	list->specs = NULL;
	list->count = 0;
	while (mongoc_cursor_next(cursor, &spec)) {
		if (list->count == size) {
			size = size ? size * 2 : 8;
			list->specs = xrealloc(list->specs, size * sizeof(*list->specs));
		}
		list->specs[list->count++] = normalize_index(spec);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: listIndexes on %s: %s", conn_masked(client), ns, error.message);
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(collection);
	if (list->count > 0)
		qsort(list->specs, list->count, sizeof(*list->specs), compare_index_names);
}

static void
index_list_free(struct index_list *list)
{
	size_t k;

	for (k = 0; k < list->count; k++)
		bson_destroy(list->specs[k]);
	free(list->specs);
}

static void
report_index(struct check *check, const char *ns, const char *kind, const char *name)
{
	bson_t detail = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&detail, "index", name);
	report(check, ns, NULL, kind, &detail);
	bson_destroy(&detail);
}

bool
same_bytes(const bson_t *a, const bson_t *b)
{
	return a->len == b->len && memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0;
}

/* Merge the two sorted index lists by name. */
static void
compare_indexes(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const char *ns)
{
	struct index_list from, to;
	size_t j = 0, k = 0;
	int c;

	list_indexes(source, ns, &from);
	list_indexes(target, ns, &to);
	while (j < from.count || k < to.count) {
		c = j == from.count ? 1 : k == to.count ? -1
		    : strcmp(index_name(from.specs[j]), index_name(to.specs[k]));
		if (c < 0) {
			report_index(check, ns, "missing", index_name(from.specs[j++]));
		} else if (c > 0) {
			report_index(check, ns, "extra", index_name(to.specs[k++]));
		} else {
			if (!same_bytes(from.specs[j], to.specs[k]))
				report_pair(check, ns, "index", index_name(from.specs[j]),
				    from.specs[j], to.specs[k]);
			j++;
			k++;
		}
	}
	index_list_free(&from);
	index_list_free(&to);
}

/* The collection's type and options, sorted: what must be equal on both sides. */
static void
collection_shape(const bson_t *info, bson_t *out)
{
	bson_iter_t iter;
	bson_t options = BSON_INITIALIZER, sorted;
	const uint8_t *data;
	uint32_t length;

	if (bson_iter_init_find(&iter, info, "options") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
		bson_iter_document(&iter, &length, &data);
		bson_destroy(&options);
		if (!bson_init_static(&options, data, length))
			bson_init(&options);
	}
	normalize_fields(&options, &sorted, NULL);
	bson_init(out);
	BSON_APPEND_UTF8(out, "type", info_type(info));
	BSON_APPEND_DOCUMENT(out, "options", &sorted);
	bson_destroy(&sorted);
	bson_destroy(&options);
}

/*
 * Existence, options, indexes. Returns whether the documents are worth
 * comparing: both sides hold the namespace as a collection (a view's
 * documents are its source collection's).
 */
bool
compare_metadata(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const struct task *task)
{
	bson_t detail = BSON_INITIALIZER, from, to;
	bool is_view;

	if (task->source_info == NULL || task->target_info == NULL) {
		BSON_APPEND_BOOL(&detail, "collection", true);
		report(check, task->ns, NULL, task->source_info == NULL ? "extra" : "missing", &detail);
		bson_destroy(&detail);
		return false;
	}
	bson_destroy(&detail);
	collection_shape(task->source_info, &from);
	collection_shape(task->target_info, &to);
	if (!same_bytes(&from, &to))
		report_pair(check, task->ns, "options", NULL, &from, &to);
	bson_destroy(&from);
	bson_destroy(&to);
	is_view = strcmp(info_type(task->source_info), "view") == 0 ||
	    strcmp(info_type(task->target_info), "view") == 0;
	if (is_view)
		return false;
	compare_indexes(check, source, target, task->ns);
	return true;
}

