/*
 * command.c - oplog-apply's c entries: collection and index commands
 * replayed on the target so that running one twice changes nothing.
 *
 * An error that says the effect is already there (the collection exists,
 * or is gone; the index exists, or is gone) is what a replay meets and
 * counts as done. A command the target does not implement is skipped
 * with one warning per kind of refusal, so a migration to a smaller server
 * (FerretDB has no collMod, for one) goes on and says what it left out.
 */
#include <string.h>

#include "apply.h"
#include "conn.h"
#include "die.h"

/* Server error codes. */
enum {
	NAMESPACE_NOT_FOUND = 26,
	INDEX_NOT_FOUND = 27,
	NAMESPACE_EXISTS = 48,
	COMMAND_NOT_FOUND = 59,
	INDEX_ALREADY_EXISTS = 68,
	INDEX_OPTIONS_CONFLICT = 85,
	INDEX_KEY_SPECS_CONFLICT = 86,
	COMMAND_NOT_SUPPORTED = 115,
	NOT_IMPLEMENTED = 238,
};

static bool
already_done(int32_t code)
{
	return code == NAMESPACE_NOT_FOUND || code == INDEX_NOT_FOUND || code == NAMESPACE_EXISTS ||
	    code == INDEX_ALREADY_EXISTS || code == INDEX_OPTIONS_CONFLICT ||
	    code == INDEX_KEY_SPECS_CONFLICT;
}

static bool
not_supported(int32_t code)
{
	return code == COMMAND_NOT_FOUND || code == COMMAND_NOT_SUPPORTED || code == NOT_IMPLEMENTED;
}

/* Warn once per distinct refusal (command and reason) of the target. */
static void
refuse(struct applier *app, const char *name, const char *db, const char *why)
{
	static char warned[32][160];
	static int warned_count;
	char key[160];
	int k;

	app->count.refused++;
	snprintf(key, sizeof(key), "%s: %s", name, why);
	for (k = 0; k < warned_count; k++)
		if (strcmp(warned[k], key) == 0)
			return;
	if (warned_count < 32)
		snprintf(warned[warned_count++], sizeof(warned[0]), "%s", key);
	warnmsg("%s: %s not supported by the target, skipped (warned once): %s", db, name, why);
}

static void
run(struct applier *app, const char *db, const bson_t *command, const char *name)
{
	bson_t reply;
	bson_error_t error;

	if (conn_command(app->client, db, command, &reply, &error)) {
		app->count.commands++;
	} else if (already_done((int32_t)error.code)) {
		app->count.tolerated++;
	} else if (not_supported((int32_t)error.code)) {
		refuse(app, name, db, error.message);
	} else {
		char *text = bson_as_relaxed_extended_json(command, NULL);

		die(EXIT_SERVER, "%s: %s failed: %s (code %u)", db, text, error.message, error.code);
	}
	bson_destroy(&reply);
}

/* Copy doc without the fields named in drop (a NULL-ended list). */
static void
copy_without(const bson_t *doc, bson_t *out, const char *const *drop)
{
	bson_iter_t iter;
	const char *const *d;

	bson_iter_init(&iter, doc);
	while (bson_iter_next(&iter)) {
		for (d = drop; *d != NULL; d++)
			if (strcmp(bson_iter_key(&iter), *d) == 0)
				break;
		if (*d == NULL)
			bson_append_iter(out, NULL, 0, &iter);
	}
}

/* create: idIndex only restates the default _id index, and not every server takes it. */
static void
run_create(struct applier *app, const char *db, const bson_t *o)
{
	static const char *const drop[] = { "idIndex", NULL };
	bson_t command = BSON_INITIALIZER;

	copy_without(o, &command, drop);
	run(app, db, &command, "create");
	bson_destroy(&command);
}

/*
 * Append one index spec, without the legacy ns field servers now refuse,
 * nor the version v, which the target picks for itself (FerretDB refuses it).
 */
static void
append_spec(bson_t *indexes, uint32_t k, const bson_t *spec, const char *const *drop)
{
	char key[16];
	const char *key_text;
	bson_t out;

	bson_uint32_to_string(k, &key_text, key, sizeof(key));
	bson_append_document_begin(indexes, key_text, -1, &out);
	copy_without(spec, &out, drop);
	bson_append_document_end(indexes, &out);
}

/* createIndexes as logged: the one spec is o itself, beside the collection name. */
static void
run_create_index(struct applier *app, const char *db, const bson_t *o, const char *coll)
{
	static const char *const drop[] = { "createIndexes", "ns", "v", NULL };
	bson_t command = BSON_INITIALIZER, indexes;

	BSON_APPEND_UTF8(&command, "createIndexes", coll);
	BSON_APPEND_ARRAY_BEGIN(&command, "indexes", &indexes);
	append_spec(&indexes, 0, o, drop);
	bson_append_array_end(&command, &indexes);
	run(app, db, &command, "createIndexes");
	bson_destroy(&command);
}

/* commitIndexBuild lists the finished indexes in o.indexes. */
static void
run_commit_index_build(struct applier *app, const char *db, const bson_t *o, const char *coll)
{
	static const char *const drop[] = { "ns", "v", NULL };
	bson_t command = BSON_INITIALIZER, indexes;
	bson_iter_t iter, specs;
	uint32_t k = 0;

	if (!bson_iter_init_find(&iter, o, "indexes") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &specs))
		entry_fail(app, "%s: commitIndexBuild without indexes", db);
	BSON_APPEND_UTF8(&command, "createIndexes", coll);
	BSON_APPEND_ARRAY_BEGIN(&command, "indexes", &indexes);
	while (bson_iter_next(&specs)) {
		const uint8_t *data;
		uint32_t length;
		bson_t spec;

		if (!BSON_ITER_HOLDS_DOCUMENT(&specs))
			continue;
		bson_iter_document(&specs, &length, &data);
		if (bson_init_static(&spec, data, length))
			append_spec(&indexes, k++, &spec, drop);
	}
	bson_append_array_end(&command, &indexes);
	if (k > 0)
		run(app, db, &command, "createIndexes");
	bson_destroy(&command);
}

static void
run_drop_index(struct applier *app, const char *db, const bson_t *o, const char *coll)
{
	bson_t command = BSON_INITIALIZER;
	bson_iter_t iter;

	BSON_APPEND_UTF8(&command, "dropIndexes", coll);
	if (bson_iter_init_find(&iter, o, "index"))
		bson_append_iter(&command, "index", 5, &iter);
	else
		BSON_APPEND_UTF8(&command, "index", "*");
	run(app, db, &command, "dropIndexes");
	bson_destroy(&command);
}

static void
run_drop(struct applier *app, const char *db, const char *coll)
{
	bson_t *command = BCON_NEW("drop", BCON_UTF8(coll));

	run(app, db, command, "drop");
	bson_destroy(command);
}

/*
 * renameCollection: dropTarget is logged as the dropped collection's
 * UUID, which the command does not take: any value but false means true.
 * A rename out of the selection is a drop; into it, the data never came.
 */
static void
run_rename(struct applier *app, const bson_t *o, char ns[2][256])
{
	bool from = ns_match(app->filter, ns[0]), to = ns_match(app->filter, ns[1]);
	bson_t command = BSON_INITIALIZER;
	bson_iter_t iter;
	char db[256];

	if (!from) {
		if (to)
			warnmsg("renameCollection %s to %s: the source collection is not selected, "
			    "skipped", ns[0], ns[1]);
		app->count.skipped++;
		return;
	}
	if (!to) {
		ns_database(ns[0], db, sizeof(db));
		run_drop(app, db, strchr(ns[0], '.') + 1);
		return;
	}
	BSON_APPEND_UTF8(&command, "renameCollection", ns[0]);
	BSON_APPEND_UTF8(&command, "to", ns[1]);
	BSON_APPEND_BOOL(&command, "dropTarget", bson_iter_init_find(&iter, o, "dropTarget") &&
	    !(BSON_ITER_HOLDS_BOOL(&iter) && !bson_iter_bool(&iter)));
	run(app, "admin", &command, "renameCollection");
	bson_destroy(&command);
}

/*
 * dropDatabase drops the selected collections the target has in db,
 * not the database: with --ns the rest of it is not ours to drop.
 */
static void
run_drop_database(struct applier *app, const char *db)
{
	mongoc_database_t *database = mongoc_client_get_database(app->client, db);
	bson_t *opts = BCON_NEW("nameOnly", BCON_BOOL(true));
	bson_error_t error;
	char **names, ns[512];
	size_t k;

	names = mongoc_database_get_collection_names_with_opts(database, opts, &error);
	bson_destroy(opts);
	mongoc_database_destroy(database);
	if (names == NULL)
		die(EXIT_SERVER, "%s: listCollections failed: %s", db, error.message);
	for (k = 0; names[k] != NULL; k++) {
		snprintf(ns, sizeof(ns), "%s.%s", db, names[k]);
		if (strncmp(names[k], "system.", 7) != 0 && ns_match(app->filter, ns))
			run_drop(app, db, names[k]);
	}
	bson_strfreev(names);
	app->count.commands++;
}

/* The commands that name one collection of the entry's db as their first value. */
static void
run_collection_command(struct applier *app, const char *name, const char *db, const bson_t *o,
    const char *coll)
{
	if (strcmp(name, "create") == 0)
		run_create(app, db, o);
	else if (strcmp(name, "drop") == 0)
		run_drop(app, db, coll);
	else if (strcmp(name, "collMod") == 0)
		run(app, db, o, name);
	else if (strcmp(name, "createIndexes") == 0)
		run_create_index(app, db, o, coll);
	else if (strcmp(name, "commitIndexBuild") == 0)
		run_commit_index_build(app, db, o, coll);
	else if (strcmp(name, "dropIndexes") == 0 || strcmp(name, "deleteIndexes") == 0)
		run_drop_index(app, db, o, coll);
	else
		app->count.skipped++;	/* startIndexBuild, abortIndexBuild: the commit says it all */
}

void
command_apply(struct applier *app, const bson_t *op, int depth)
{
	const char *name = entry_command(op);
	char ns[2][256], db[256];
	int count = command_namespaces(op, ns);
	bson_t o;

	if (!entry_object(op, "o", &o) || name[0] == '\0')
		entry_fail(app, "c entry without a command in o");
	ns_database(entry_ns(op), db, sizeof(db));
	if (strcmp(name, "applyOps") == 0) {
		apply_ops_array(app, op, depth + 1);
	} else if (strcmp(name, "renameCollection") == 0 && count == 2) {
		run_rename(app, &o, ns);
	} else if (strcmp(name, "dropDatabase") == 0) {
		if (ns_match_database(app->filter, db))
			run_drop_database(app, db);
		else
			app->count.skipped++;
	} else if (count == 1) {
		if (ns_match(app->filter, ns[0]))
			run_collection_command(app, name, db, &o, strchr(ns[0], '.') + 1);
		else
			app->count.skipped++;
	} else if (strcmp(name, "commitTransaction") == 0 || strcmp(name, "abortTransaction") == 0) {
		app->count.skipped++;	/* nothing held for it: its transaction began before us */
	} else {
		refuse(app, name, db, "oplog-apply does not replay this command");
	}
}

/* An insert into db.system.indexes: how servers before 4.2 logged an index build. */
void
command_index_insert(struct applier *app, const bson_t *op)
{
	char db[256];
	const char *ns, *dot;
	bson_iter_t iter;
	bson_t o;

	if (!entry_object(op, "o", &o) || !bson_iter_init_find(&iter, &o, "ns") ||
	    !BSON_ITER_HOLDS_UTF8(&iter) || (dot = strchr(ns = bson_iter_utf8(&iter, NULL), '.')) == NULL)
		entry_fail(app, "insert into system.indexes without the index's ns");
	if (!ns_match(app->filter, ns)) {
		app->count.skipped++;
		return;
	}
	ns_database(ns, db, sizeof(db));
	run_create_index(app, db, &o, dot + 1);
}
