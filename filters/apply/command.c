/*
 * command.c - oplog-apply's c entries: collection and index commands
 * replayed on the target so that running one twice changes nothing.
 *
 * An error that says the effect is already there (the collection exists,
 * or is gone; the index exists, or is gone) is what a replay meets and
 * counts as done. A command the target does not implement is emulated
 * where the target has the parts (renameCollection: rename.c; create
 * without the options it lacks; emptycapped), skipped only where every
 * document still ends where MongoDB puts it (an index, a validator, a
 * collMod of index options), each such skip listed in the report, and
 * otherwise a failure naming the entry: never exit 0 with a write missing.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
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

#define SKIPS_LISTED 100	/* the report lists this many skips, then counts */

/* The skips the report lists: commands refused where documents are unaffected. */
static struct {
	char line[SKIPS_LISTED][320];
	size_t count;
} skips;

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

void
command_fail(struct applier *app, const char *fmt, ...)
{
	char why[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	entry_die(app, EXIT_SERVER, "%s; nothing after it applied", why);
}

/*
 * A refusal that leaves every document where MongoDB puts it: counted,
 * warned once per kind, and listed in the report with its entry.
 */
static void
skip_harmless(struct applier *app, const char *ns, const char *name, const char *why)
{
	static char warned[32][160];
	static int warned_count;
	char key[160];
	int k;

	app->count.refused++;
	if (skips.count < SKIPS_LISTED)
		snprintf(skips.line[skips.count], sizeof(skips.line[0]), "entry %" PRIu64 ": %s: "
		    "%s not supported by the target: %s", stream_count(app->reader), ns, name, why);
	skips.count++;
	snprintf(key, sizeof(key), "%s: %s", name, why);
	for (k = 0; k < warned_count; k++)
		if (strcmp(warned[k], key) == 0)
			return;
	if (warned_count < 32)
		snprintf(warned[warned_count++], sizeof(warned[0]), "%s", key);
	warnmsg("%s: %s not supported by the target, skipped: documents are unaffected "
	    "(warned once, listed in the report): %s", ns, name, why);
}

void
command_report(void)
{
	size_t k;

	for (k = 0; k < skips.count && k < SKIPS_LISTED; k++)
		warnmsg("skipped, documents unaffected: %s", skips.line[k]);
	if (skips.count > SKIPS_LISTED)
		warnmsg("skipped, documents unaffected: %zu more", skips.count - SKIPS_LISTED);
}

enum command_outcome
command_run(struct applier *app, const char *db, const bson_t *command, bson_error_t *error)
{
	bson_t reply;
	enum command_outcome outcome = COMMAND_DONE;

	if (conn_command(app->client, db, command, &reply, error)) {
		app->count.commands++;
	} else if (already_done((int32_t)error->code)) {
		app->count.tolerated++;
		outcome = COMMAND_ALREADY_DONE;
	} else if (not_supported((int32_t)error->code)) {
		outcome = COMMAND_REFUSED;
	} else {
		char *text = bson_as_relaxed_extended_json(command, NULL);

		command_fail(app, "%s: %s failed: %s (code %u)", db, text, error->message, error->code);
	}
	bson_destroy(&reply);
	return outcome;
}

/* Run a command whose refusal would change where documents end: refused is a failure. */
static void
run_required(struct applier *app, const char *db, const bson_t *command, const char *name)
{
	bson_error_t error;

	if (command_run(app, db, command, &error) == COMMAND_REFUSED)
		command_fail(app, "%s: %s refused by the target, and documents would differ "
		    "without it: %s", db, name, error.message);
}

void
command_run_harmless(struct applier *app, const char *ns, const char *db, const bson_t *command,
    const char *name)
{
	bson_error_t error;

	if (command_run(app, db, command, &error) == COMMAND_REFUSED)
		skip_harmless(app, ns, name, error.message);
}

/* Whether name is in list (a NULL-ended list). */
static bool
listed(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
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

/*
 * Options of create whose absence leaves every document where it is:
 * validation, collation (the stream holds no two _ids it would merge),
 * storage and change-stream settings, a TTL whose deletions the source
 * logs as deletes. Not among them: capped sizes (the server deletes),
 * views and time series (what the application reads would be missing).
 */
static const char *const create_harmless[] = {
	"validator", "validationLevel", "validationAction", "collation", "storageEngine",
	"indexOptionDefaults", "changeStreamPreAndPostImages", "recordPreImages",
	"expireAfterSeconds", "comment", "temp", "flags", "autoIndexId", "writeConcern", NULL,
};

/*
 * create: idIndex only restates the default _id index, and not every
 * server takes it. Refused: again without the options that leave the
 * documents alone (the collection must exist, empty or not), listed.
 */
void
command_create(struct applier *app, const char *db, const bson_t *o, const char *ns)
{
	static const char *const drop[] = { "idIndex", NULL };
	bson_t command = BSON_INITIALIZER, plain = BSON_INITIALIZER;
	bson_error_t error, again;
	bson_iter_t iter;
	char stripped[256] = "";

	copy_without(o, &command, drop);
	if (command_run(app, db, &command, &error) == COMMAND_REFUSED) {
		bson_iter_init(&iter, &command);
		while (bson_iter_next(&iter)) {
			const char *key = bson_iter_key(&iter);

			if (!listed(create_harmless, key)) {
				bson_append_iter(&plain, NULL, 0, &iter);
				continue;
			}
			if (strlen(stripped) + strlen(key) + 3 < sizeof(stripped))
				snprintf(stripped + strlen(stripped), sizeof(stripped) - strlen(stripped),
				    "%s%s", stripped[0] != '\0' ? ", " : "", key);
		}
		if (stripped[0] == '\0' ||
		    command_run(app, db, &plain, &again) == COMMAND_REFUSED)
			command_fail(app, "%s: create refused by the target, and documents would differ "
			    "without it: %s", ns, error.message);
		skip_harmless(app, ns, "create with options", stripped);
	}
	bson_destroy(&plain);
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

/* An index holds no documents: a refused one is a listed skip. */
static void
run_create_index(struct applier *app, const char *db, const bson_t *o, const char *coll)
{
	static const char *const drop[] = { "createIndexes", "ns", "v", NULL };
	bson_t command = BSON_INITIALIZER, indexes;
	char ns[512];

	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	BSON_APPEND_UTF8(&command, "createIndexes", coll);
	BSON_APPEND_ARRAY_BEGIN(&command, "indexes", &indexes);
	append_spec(&indexes, 0, o, drop);
	bson_append_array_end(&command, &indexes);
	command_run_harmless(app, ns, db, &command, "createIndexes");
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
	char ns[512];

	if (!bson_iter_init_find(&iter, o, "indexes") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &specs))
		entry_fail(app, "%s: commitIndexBuild without indexes", db);
	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
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
		command_run_harmless(app, ns, db, &command, "createIndexes");
	bson_destroy(&command);
}

static void
run_drop_index(struct applier *app, const char *db, const bson_t *o, const char *coll)
{
	bson_t command = BSON_INITIALIZER;
	bson_iter_t iter;
	char ns[512];

	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	BSON_APPEND_UTF8(&command, "dropIndexes", coll);
	if (bson_iter_init_find(&iter, o, "index"))
		bson_append_iter(&command, "index", 5, &iter);
	else
		BSON_APPEND_UTF8(&command, "index", "*");
	command_run_harmless(app, ns, db, &command, "dropIndexes");
	bson_destroy(&command);
}

void
command_drop(struct applier *app, const char *db, const char *coll)
{
	bson_t *command = BCON_NEW("drop", BCON_UTF8(coll));

	run_required(app, db, command, "drop");
	bson_destroy(command);
}

/*
 * collMod: what it may change without moving a document: validation,
 * index options (hidden, TTL, unique conversion: the source logs TTL
 * deletions, and its documents already satisfy a unique key), change
 * stream settings. cappedSize, cappedMax, views, time series and any
 * field not known here would change what the target holds: a failure.
 */
static void
run_coll_mod(struct applier *app, const char *db, const bson_t *o, const char *ns)
{
	static const char *const harmless[] = {
		"collMod", "validator", "validationLevel", "validationAction", "index",
		"changeStreamPreAndPostImages", "recordPreImages", "expireAfterSeconds", "comment",
		"writeConcern", "dryRun", NULL,
	};
	bson_error_t error;
	bson_iter_t iter;

	if (command_run(app, db, o, &error) != COMMAND_REFUSED)
		return;
	bson_iter_init(&iter, o);
	while (bson_iter_next(&iter))
		if (!listed(harmless, bson_iter_key(&iter)))
			command_fail(app, "%s: collMod of %s refused by the target, and documents "
			    "would differ without it: %s", ns, bson_iter_key(&iter), error.message);
	skip_harmless(app, ns, "collMod", error.message);
}

/* emptycapped (a test command mongod logs): the target may lack it; delete every document. */
static void
run_empty_capped(struct applier *app, const char *db, const bson_t *o, const char *coll)
{
	bson_t *command;
	bson_error_t error;

	if (command_run(app, db, o, &error) != COMMAND_REFUSED)
		return;
	command = BCON_NEW("delete", BCON_UTF8(coll), "deletes", "[", "{", "q", "{", "}",
	    "limit", BCON_INT32(0), "}", "]");
	run_required(app, db, command, "emptycapped (as a delete of every document)");
	bson_destroy(command);
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
			command_drop(app, db, names[k]);
	}
	bson_strfreev(names);
	app->count.commands++;
}

/* The commands that name one collection of the entry's db as their first value. */
static void
run_collection_command(struct applier *app, const char *name, const char *db, const bson_t *o,
    const char *ns)
{
	const char *coll = strchr(ns, '.') + 1;

	if (strcmp(name, "create") == 0)
		command_create(app, db, o, ns);
	else if (strcmp(name, "drop") == 0)
		command_drop(app, db, coll);
	else if (strcmp(name, "collMod") == 0)
		run_coll_mod(app, db, o, ns);
	else if (strcmp(name, "createIndexes") == 0)
		run_create_index(app, db, o, coll);
	else if (strcmp(name, "commitIndexBuild") == 0)
		run_commit_index_build(app, db, o, coll);
	else if (strcmp(name, "dropIndexes") == 0 || strcmp(name, "deleteIndexes") == 0)
		run_drop_index(app, db, o, coll);
	else if (strcmp(name, "emptycapped") == 0)
		run_empty_capped(app, db, o, coll);
	else if (strcmp(name, "convertToCapped") == 0)
		run_required(app, db, o, name);
	else if (strcmp(name, "startIndexBuild") == 0 || strcmp(name, "abortIndexBuild") == 0)
		app->count.skipped++;	/* the commit says it all */
	else
		command_fail(app, "%s: oplog-apply does not replay %s, which may change documents", ns,
		    name);
}

/*
 * Commands mongod's applier runs that never touch a document: dbCheck
 * (a consistency check, written to the health log), the sharding index
 * catalog and global index containers (config metadata). Skipped, not
 * refused: stopping on them would halt a stream for nothing.
 */
static bool
no_document_effect(const char *name)
{
	static const char *const names[] = { "dbCheck", "modifyCollectionShardingIndexCatalog",
	    "createGlobalIndex", "dropGlobalIndex", NULL };
	size_t k;

	for (k = 0; names[k] != NULL; k++)
		if (strcmp(name, names[k]) == 0)
			return true;
	return false;
}

void
command_apply(struct applier *app, const struct op_view *op, int depth)
{
	const char *name = op->command;
	char ns[2][256], db[256];
	int count = command_namespaces(op->entry, ns);

	if (!op->has_o || op->command_kind == CMD_NONE)
		entry_fail(app, "c entry without a command in o");
	ns_database(op->ns, db, sizeof(db));
	if (no_document_effect(name)) {
		app->count.skipped++;
	} else if (op->command_kind == CMD_APPLY_OPS) {
		apply_ops_array(app, op, depth + 1);
	} else if (count == 2 && strcmp(name, "renameCollection") == 0) {
		rename_apply(app, &op->o, ns);
	} else if (strcmp(name, "dropDatabase") == 0) {
		if (ns_match_database(app->filter, db))
			run_drop_database(app, db);
		else
			app->count.skipped++;
	} else if (count == 1) {
		if (ns_match(app->filter, ns[0]))
			run_collection_command(app, name, db, &op->o, ns[0]);
		else
			app->count.skipped++;
	} else if (op->command_kind == CMD_COMMIT || op->command_kind == CMD_ABORT) {
		entry_fail(app, "%s inside applyOps: a transaction ends only at the top level", name);
	} else if (!ns_match_database(app->filter, db)) {
		app->count.skipped++;	/* nothing of db is applied */
	} else {
		command_fail(app, "%s: oplog-apply does not replay %s, which may change documents", db,
		    name);
	}
}

/* An insert into db.system.indexes: how servers before 4.2 logged an index build. */
void
command_index_insert(struct applier *app, const struct op_view *op)
{
	char db[256];
	const char *ns, *dot;
	bson_iter_t iter;

	if (!op->has_o || !bson_iter_init_find(&iter, &op->o, "ns") ||
	    !BSON_ITER_HOLDS_UTF8(&iter) || (dot = strchr(ns = bson_iter_utf8(&iter, NULL), '.')) == NULL)
		entry_fail(app, "insert into system.indexes without the index's ns");
	if (!ns_match(app->filter, ns)) {
		app->count.skipped++;
		return;
	}
	ns_database(ns, db, sizeof(db));
	run_create_index(app, db, &op->o, dot + 1);
}
