/*
 * rename.c - oplog-apply's renameCollection, with what a target lacks
 * emulated as mongod does it.
 *
 * mongod checks the source first: a rename whose source is gone is done
 * (a replay meets it), and then the target is not touched. dropTarget
 * (logged as the dropped collection's UUID; any value but false means
 * true) drops the target, then renames. Across databases mongod copies
 * into a temporary collection of the target database, renames that over
 * the target, then drops the source; so do we, with the source's options,
 * indexes and documents, so that a run stopped at any step is finished by
 * a replay: a leftover temporary collection is dropped and the copy
 * starts again; a target already there with the source still present is
 * a move that stopped before its last step. stayTemp only marks a
 * collection the server would drop at restart; nothing here keeps it.
 */
#include <string.h>

#include "apply.h"
#include "conn.h"
#include "die.h"

#define COPY_BATCH_DOCS 1000
#define COPY_BATCH_BYTES (8 * 1024 * 1024)
#define TEMP_PREFIX "oplogkit_rename_tmp_"

/* The collection's listCollections entry into *info (false when it does not exist). */
static bool
collection_info(struct applier *app, const char *db, const char *coll, bson_t *info)
{
	bson_t *command = BCON_NEW("listCollections", BCON_INT32(1), "filter", "{", "name",
	    BCON_UTF8(coll), "}");
	bson_t reply;
	bson_error_t error;
	bson_iter_t iter, batch;
	bool found = false;

	if (!conn_command(app->client, db, command, &reply, &error))
		command_fail(app, "%s: listCollections failed: %s", db, error.message);
	if (bson_iter_init(&iter, &reply) && bson_iter_find_descendant(&iter, "cursor.firstBatch", &batch) &&
	    BSON_ITER_HOLDS_ARRAY(&batch) && bson_iter_recurse(&batch, &iter) &&
	    bson_iter_next(&iter) && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
		const uint8_t *data;
		uint32_t length;
		bson_t doc;

		bson_iter_document(&iter, &length, &data);
		if (bson_init_static(&doc, data, length)) {
			if (info != NULL)
				bson_copy_to(&doc, info);
			found = true;
		}
	}
	bson_destroy(&reply);
	bson_destroy(command);
	return found;
}

static bool
split(const char *ns, char *db, size_t size, const char **coll)
{
	const char *dot = strchr(ns, '.');

	if (dot == NULL || (size_t)(dot - ns) >= size)
		return false;
	memcpy(db, ns, (size_t)(dot - ns));
	db[dot - ns] = '\0';
	*coll = dot + 1;
	return true;
}

/* Create temp in db with the options the source has (info from listCollections). */
static void
create_like(struct applier *app, const char *db, const char *temp, const bson_t *info)
{
	bson_t command = BSON_INITIALIZER;
	bson_iter_t iter, inner;
	char ns[512];

	BSON_APPEND_UTF8(&command, "create", temp);
	if (bson_iter_init_find(&iter, info, "options") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
	    bson_iter_recurse(&iter, &inner))
		while (bson_iter_next(&inner))
			bson_append_iter(&command, NULL, 0, &inner);
	snprintf(ns, sizeof(ns), "%s.%s", db, temp);
	command_create(app, db, &command, ns);
	bson_destroy(&command);
}

/* Every index of from_db.from but _id_, built on db.temp. */
static void
copy_indexes(struct applier *app, mongoc_collection_t *source, const char *db, const char *temp)
{
	mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(source, NULL);
	const bson_t *spec;
	bson_error_t error;
	char ns[512];

	snprintf(ns, sizeof(ns), "%s.%s", db, temp);
	while (mongoc_cursor_next(cursor, &spec)) {
		bson_t command = BSON_INITIALIZER, indexes, one;
		bson_iter_t iter;

		if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter) &&
		    strcmp(bson_iter_utf8(&iter, NULL), "_id_") == 0)
			continue;
		BSON_APPEND_UTF8(&command, "createIndexes", temp);
		BSON_APPEND_ARRAY_BEGIN(&command, "indexes", &indexes);
		BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &one);
		bson_iter_init(&iter, spec);
		while (bson_iter_next(&iter))
			if (strcmp(bson_iter_key(&iter), "v") != 0 && strcmp(bson_iter_key(&iter), "ns") != 0)
				bson_append_iter(&one, NULL, 0, &iter);
		bson_append_document_end(&indexes, &one);
		bson_append_array_end(&command, &indexes);
		command_run_harmless(app, ns, db, &command, "createIndexes");
		bson_destroy(&command);
	}
	if (mongoc_cursor_error(cursor, &error))
		command_fail(app, "%s: listIndexes of the source failed: %s", ns, error.message);
	mongoc_cursor_destroy(cursor);
}

static void
bulk_run(struct applier *app, mongoc_bulk_operation_t *bulk, const char *ns)
{
	bson_error_t error;

	if (mongoc_bulk_operation_execute(bulk, NULL, &error) == 0)
		command_fail(app, "%s: copying the documents of a rename failed: %s", ns, error.message);
	mongoc_bulk_operation_destroy(bulk);
}

/* Every document of source into target, as they are, in order. */
static void
copy_documents(struct applier *app, mongoc_collection_t *source, mongoc_collection_t *target,
    const char *ns)
{
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(true));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(source, &filter, NULL, NULL);
	mongoc_bulk_operation_t *bulk = NULL;
	const bson_t *doc;
	bson_error_t error;
	size_t docs = 0, bytes = 0;

	while (mongoc_cursor_next(cursor, &doc)) {
		if (bulk == NULL)
			bulk = mongoc_collection_create_bulk_operation_with_opts(target, opts);
		if (!mongoc_bulk_operation_insert_with_opts(bulk, doc, NULL, &error))
			command_fail(app, "%s: %s", ns, error.message);
		docs++;
		bytes += doc->len;
		if (docs >= COPY_BATCH_DOCS || bytes >= COPY_BATCH_BYTES) {
			bulk_run(app, bulk, ns);
			bulk = NULL;
			docs = bytes = 0;
		}
	}
	if (mongoc_cursor_error(cursor, &error))
		command_fail(app, "%s: reading the documents to move failed: %s", ns, error.message);
	if (bulk != NULL)
		bulk_run(app, bulk, ns);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
}

/* renameCollection within one database; the source exists. */
static void
rename_within(struct applier *app, const char *from, const char *to, bool drop_target)
{
	bson_t *command = BCON_NEW("renameCollection", BCON_UTF8(from), "to", BCON_UTF8(to),
	    "dropTarget", BCON_BOOL(drop_target));
	bson_error_t error;
	char db[256];
	const char *coll;

	if (command_run(app, "admin", command, &error) == COMMAND_REFUSED) {
		if (!drop_target || !split(to, db, sizeof(db), &coll))
			command_fail(app, "renameCollection %s to %s refused by the target: %s", from,
			    to, error.message);
		/* The target lacks dropTarget: drop the target, then rename. */
		command_drop(app, db, coll);
		bson_destroy(command);
		command = BCON_NEW("renameCollection", BCON_UTF8(from), "to", BCON_UTF8(to));
		if (command_run(app, "admin", command, &error) == COMMAND_REFUSED)
			command_fail(app, "renameCollection %s to %s refused by the target: %s",
			    from, to, error.message);
	}
	bson_destroy(command);
}

/* renameCollection across databases, as mongod does it; the source exists. */
static void
rename_across(struct applier *app, const char *from, const char *to, bool drop_target,
    const bson_t *info)
{
	char from_db[256], to_db[256], temp[256], temp_ns[512];
	const char *from_coll, *to_coll;
	mongoc_collection_t *source, *target;
	bson_t *command;
	bson_error_t error;

	if (!split(from, from_db, sizeof(from_db), &from_coll) ||
	    !split(to, to_db, sizeof(to_db), &to_coll))
		entry_fail(app, "renameCollection %s to %s: not two namespaces", from, to);
	if (collection_info(app, to_db, to_coll, NULL)) {
		if (!drop_target) {
			/* Moved by a run that stopped before its last step, or made
			 * again later in the stream, which rebuilds it: finish the move. */
			command_drop(app, from_db, from_coll);
			return;
		}
		command_drop(app, to_db, to_coll);
	}
	if ((size_t)snprintf(temp, sizeof(temp), TEMP_PREFIX "%s", to_coll) >= sizeof(temp))
		command_fail(app, "renameCollection %s to %s: name too long for the copy", from, to);
	snprintf(temp_ns, sizeof(temp_ns), "%s.%s", to_db, temp);
	command_drop(app, to_db, temp);
	create_like(app, to_db, temp, info);
	source = mongoc_client_get_collection(app->client, from_db, from_coll);
	target = mongoc_client_get_collection(app->client, to_db, temp);
	copy_indexes(app, source, to_db, temp);
	copy_documents(app, source, target, temp_ns);
	mongoc_collection_destroy(target);
	mongoc_collection_destroy(source);
	command = BCON_NEW("renameCollection", BCON_UTF8(temp_ns), "to", BCON_UTF8(to));
	if (command_run(app, "admin", command, &error) != COMMAND_DONE)
		command_fail(app, "renameCollection %s to %s: the copy could not take the target's "
		    "name: %s", from, to, error.message);
	bson_destroy(command);
	command_drop(app, from_db, from_coll);
}

void
rename_apply(struct applier *app, const bson_t *o, char ns[2][256])
{
	bool from = ns_match(app->filter, ns[0]), to = ns_match(app->filter, ns[1]);
	char from_db[256], to_db[256];
	const char *from_coll, *to_coll;
	bson_iter_t iter;
	bool drop_target = bson_iter_init_find(&iter, o, "dropTarget") &&
	    !(BSON_ITER_HOLDS_BOOL(&iter) && !bson_iter_bool(&iter));
	bson_t info;

	if (!split(ns[0], from_db, sizeof(from_db), &from_coll) ||
	    !split(ns[1], to_db, sizeof(to_db), &to_coll))
		entry_fail(app, "renameCollection %s to %s: not two namespaces", ns[0], ns[1]);
	if (!from && !to) {
		app->count.skipped++;
		return;
	}
	if (!from)
		command_fail(app, "renameCollection %s to %s: the source is not selected, so the "
		    "documents MongoDB moves into %s are not on the target (select both)", ns[0],
		    ns[1], ns[1]);
	if (!to) {
		command_drop(app, from_db, from_coll);	/* it leaves the selection */
		return;
	}
	if (!collection_info(app, from_db, from_coll, &info)) {
		app->count.tolerated++;	/* renamed already: mongod's NamespaceNotFound */
		return;
	}
	if (strcmp(from_db, to_db) == 0)
		rename_within(app, ns[0], ns[1], drop_target);
	else
		rename_across(app, ns[0], ns[1], drop_target, &info);
	bson_destroy(&info);
}
