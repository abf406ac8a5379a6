/*
 * recheck.c - sync-check --recheck: read an earlier output (BSON or
 * --json) and compare again only the documents and namespaces it lists.
 *
 * On a live source a document may differ only because its latest change
 * has not reached the target yet. The oplog's timestamps tell which: the
 * target's checkpoint C is read before the document, so the target holds
 * every change up to C; if the source's oplog has no change of the
 * document after C when both sides have been read, both hold its state
 * at C and a difference is real. Otherwise it is "in-flight": no verdict
 * yet, recorded for the next recheck (entry-switch --verify-cmd makes it
 * inside the fence, where the source stands still).
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

/* ---- --recheck ---- */

/* The one document with this _id on a side, or NULL. */
static bson_t *
find_by_id(mongoc_client_t *client, const char *ns, const bson_iter_t *id)
{
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
	mongoc_collection_t *collection;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_t *found = NULL;
	bson_error_t error;
	const char *name;
	char db[256];

	split_ns(ns, db, sizeof(db), &name);
	bson_append_iter(&filter, "_id", 3, id);
	collection = mongoc_client_get_collection(client, db, name);
	cursor = mongoc_collection_find_with_opts(collection, &filter, opts, NULL);
	if (mongoc_cursor_next(cursor, &doc))
		found = bson_copy(doc);
	else if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: find on %s: %s", conn_masked(client), ns, error.message);
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(collection);
	bson_destroy(opts);
	bson_destroy(&filter);
	return found;
}

/* The target's checkpoint --name; false when it has none. */
static bool
checkpoint_of(const struct check *check, mongoc_client_t *target, timestamp_t *ts)
{
	bson_error_t error;
	bool found;

	if (!lag_checkpoint(target, check->config->name, ts, &found, &error))
		die(EXIT_SERVER, "%s: checkpoint %s: %s", conn_masked(target), check->config->name,
		    error.message);
	return found;
}

/*
 * Whether the source's oplog holds a change of (ns, id) after ts: an
 * entry of it, or a command of its database or of admin (a drop, a
 * rename, a transaction's applyOps may touch it). A command elsewhere (a
 * rename into ns from another database) is missed: the difference then
 * counts as real, a false alarm, never a false "equal". *since: the
 * first such entry's ts.
 */
static bool
changed_after(mongoc_client_t *source, const char *ns, const bson_iter_t *id, timestamp_t ts,
    timestamp_t *since)
{
	bson_t also = BSON_INITIALIZER, any, of_id, of_o2, of_command, command_ns, names;
	char db[256], db_command[300];
	const char *collection;
	bson_error_t error;
	bool found;

	split_ns(ns, db, sizeof(db), &collection);
	snprintf(db_command, sizeof(db_command), "%s.$cmd", db);
	BSON_APPEND_ARRAY_BEGIN(&also, "$or", &any);
	BSON_APPEND_DOCUMENT_BEGIN(&any, "0", &of_id);
	BSON_APPEND_UTF8(&of_id, "ns", ns);
	bson_append_iter(&of_id, "o._id", -1, id);
	bson_append_document_end(&any, &of_id);
	BSON_APPEND_DOCUMENT_BEGIN(&any, "1", &of_o2);
	BSON_APPEND_UTF8(&of_o2, "ns", ns);
	bson_append_iter(&of_o2, "o2._id", -1, id);
	bson_append_document_end(&any, &of_o2);
	BSON_APPEND_DOCUMENT_BEGIN(&any, "2", &of_command);
	BSON_APPEND_UTF8(&of_command, "op", "c");
	BSON_APPEND_DOCUMENT_BEGIN(&of_command, "ns", &command_ns);
	BSON_APPEND_ARRAY_BEGIN(&command_ns, "$in", &names);
	BSON_APPEND_UTF8(&names, "0", db_command);
	BSON_APPEND_UTF8(&names, "1", "admin.$cmd");
	bson_append_array_end(&command_ns, &names);
	bson_append_document_end(&of_command, &command_ns);
	bson_append_document_end(&any, &of_command);
	bson_append_array_end(&also, &any);
	if (!lag_first_matching(source, ts, &also, since, &found, &error))
		die(EXIT_SERVER, "%s: reading local.oplog.rs: %s", conn_masked(source), error.message);
	bson_destroy(&also);
	return found;
}

static void
recheck_document(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const char *ns, const bson_iter_t *id)
{
	timestamp_t checkpoint = { 0, 0 }, since = { 0, 0 };
	bool has_checkpoint = checkpoint_of(check, target, &checkpoint);
	bson_t *to = find_by_id(target, ns, id), *from = find_by_id(source, ns, id);
	const char *kind = NULL;
	bson_t detail = BSON_INITIALIZER;

	if (from != NULL && to == NULL)
		kind = "missing";
	else if (from == NULL && to != NULL)
		kind = "extra";
	else if (from != NULL && !same_bytes(from, to))
		kind = "differs";
	if (kind != NULL && has_checkpoint && changed_after(source, ns, id, checkpoint, &since)) {
		BSON_APPEND_UTF8(&detail, "now", kind);
		BSON_APPEND_TIMESTAMP(&detail, "checkpoint", checkpoint.t, checkpoint.i);
		BSON_APPEND_TIMESTAMP(&detail, "changed", since.t, since.i);
		report(check, ns, id, "in-flight", &detail);
	} else if (kind != NULL) {
		report(check, ns, id, kind, NULL);
	}
	bson_destroy(&detail);
	if (from != NULL && to != NULL)
		check->compared++;
	if (from != NULL)
		bson_destroy(from);
	if (to != NULL)
		bson_destroy(to);
}

/* The listCollections entry of ns on a side (selected or not), or NULL. */
static bson_t *
find_collection(mongoc_client_t *client, const char *ns)
{
	struct collection_list list = { NULL, 0, 0 };
	bson_t *filter, *info = NULL;
	const char *name;
	char db[256];

	split_ns(ns, db, sizeof(db), &name);
	filter = BCON_NEW("name", BCON_UTF8(name));
	/* What a record names is wanted, whatever --ns and the defaults say. */
	list_database(client, db, filter, NULL, &list);
	if (list.count > 0)
		info = bson_copy(list.items[0].info);
	collection_list_free(&list);
	bson_destroy(filter);
	return info;
}

static void
recheck_namespace(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const char *ns)
{
	struct task task = { ns, NULL, NULL };
	bson_t *from = find_collection(source, ns), *to = find_collection(target, ns);

	if (from != NULL || to != NULL) {
		task.source_info = from;
		task.target_info = to;
		compare_metadata(check, source, target, &task);
	}
	if (from != NULL)
		bson_destroy(from);
	if (to != NULL)
		bson_destroy(to);
	check->namespaces++;
}

/* Namespaces whose metadata a recheck has done already (records repeat them). */
struct seen {
	char **names;
	size_t count;
};

static bool
seen_add(struct seen *seen, const char *ns)
{
	size_t k;

	for (k = 0; k < seen->count; k++)
		if (strcmp(seen->names[k], ns) == 0)
			return false;
	seen->names = xrealloc(seen->names, (seen->count + 1) * sizeof(*seen->names));
	seen->names[seen->count++] = xstrdup(ns);
	return true;
}

static void
recheck_record(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const bson_t *record, uint64_t number, struct seen *seen)
{
	bson_iter_t ns, id;
	const char *collection;
	char db[256];

	if (!bson_iter_init_find(&ns, record, "ns") || !BSON_ITER_HOLDS_UTF8(&ns))
		die(EXIT_BAD_STREAM, "%s: record %" PRIu64 ": no ns", check->config->recheck, number);
	if (!ns_split(bson_iter_utf8(&ns, NULL), db, sizeof(db), &collection))
		die(EXIT_BAD_STREAM, "%s: record %" PRIu64 ": ns '%s' is not db.collection",
		    check->config->recheck, number, bson_iter_utf8(&ns, NULL));
	if (bson_iter_init_find(&id, record, "_id"))
		recheck_document(check, source, target, bson_iter_utf8(&ns, NULL), &id);
	else if (seen_add(seen, bson_iter_utf8(&ns, NULL)))
		recheck_namespace(check, source, target, bson_iter_utf8(&ns, NULL));
}

/* --metrics: one more record looked at again. */
static void
check_rechecked(struct check *check, uint64_t count)
{
	pthread_mutex_lock(&check->lock);
	check->rechecked = count;
	pthread_mutex_unlock(&check->lock);
	check_metrics(check, "rechecking");
}

/* Whether the file holds Extended JSON (as --json wrote it) rather than BSON. */
static bool
file_is_json(const char *path)
{
	unsigned char head[2] = { 0, 0 };
	FILE *file = fopen(path, "rb");
	size_t got;

	if (file == NULL)
		die(EXIT_NO_INPUT, "--recheck %s: %s", path, strerror(errno));
	got = fread(head, 1, 2, file);
	fclose(file);
	/* A BSON frame of 123 bytes starts with '{' too, then a NUL. */
	return got == 2 && head[0] == '{' && head[1] != 0;
}

static void
recheck_json(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    struct seen *seen, uint64_t *count)
{
	bson_error_t error;
	bson_json_reader_t *reader = bson_json_reader_new_from_file(check->config->recheck, &error);
	bson_t record = BSON_INITIALIZER;
	int status;

	if (reader == NULL)
		die(EXIT_USAGE, "--recheck %s: %s", check->config->recheck, error.message);
	while ((status = bson_json_reader_read(reader, &record, &error)) == 1) {
		recheck_record(check, source, target, &record, ++*count, seen);
		check_rechecked(check, *count);
		bson_reinit(&record);
	}
	if (status < 0)
		die(EXIT_BAD_STREAM, "%s: record %" PRIu64 ": %s", check->config->recheck, *count + 1,
		    error.message);
	bson_destroy(&record);
	bson_json_reader_destroy(reader);
}

static void
recheck_bson(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    struct seen *seen, uint64_t *count)
{
	stream_reader *reader = stream_open(check->config->recheck);
	const bson_t *record;
	int status;

	if (reader == NULL)
		exit(EXIT_NO_INPUT);
	while ((status = stream_next(reader, &record)) == STREAM_ENTRY) {
		recheck_record(check, source, target, record, ++*count, seen);
		check_rechecked(check, *count);
	}
	if (status == STREAM_ERROR)
		stream_die(reader);
	stream_close(reader);
}

int
run_recheck(struct check *check)
{
	mongoc_client_t *source = mongoc_client_pool_pop(check->source_pool);
	mongoc_client_t *target = mongoc_client_pool_pop(check->target_pool);
	struct seen seen = { NULL, 0 };
	uint64_t count = 0;
	size_t k;

	if (strcmp(check->config->recheck, "-") != 0 && file_is_json(check->config->recheck))
		recheck_json(check, source, target, &seen, &count);
	else
		recheck_bson(check, source, target, &seen, &count);
	fprintf(stderr, "%s: %" PRIu64 " records rechecked: %" PRIu64 " documents compared, %"
	    PRIu64 " missing, %" PRIu64 " extra, %" PRIu64 " differ, %" PRIu64 " in flight\n",
	    die_progname(), count, check->compared, check->missing, check->extra, check->differ,
	    check->in_flight);
	for (k = 0; k < seen.count; k++)
		free(seen.names[k]);
	free(seen.names);
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	if (check->missing + check->extra + check->differ > 0)
		return EXIT_DIFFERENT;
	return check->in_flight > 0 && !check->config->in_flight_ok ? EXIT_DIFFERENT : EXIT_DONE;
}
