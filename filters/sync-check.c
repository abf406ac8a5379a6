/*
 * sync-check - prove that two servers hold the same data, and say how far
 * the target's applier is behind the source.
 *
 * Every selected namespace of either side is compared: existence, the
 * collection's options, its index specs, and every document. Documents are
 * read from both sides sorted by _id and merged, so memory stays flat
 * whatever the size. The merge orders _ids as the server does
 * (common/order.c); should it ever disagree with the server, no harm is
 * done: a document the merge finds on one side only is looked up by _id
 * on the other before it is reported (in batches, with $in), so a
 * misordered stretch costs lookups, never a false report.
 *
 * Differences go to stdout as BSON {ns, _id, kind} (or one relaxed
 * Extended JSON line each), the summary to stderr.
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
#include "options.h"
#include "order.h"
#include "stream.h"

#define PENDING_MAX 500			/* _ids looked up by one $in query */
#define PENDING_BYTES (8 * 1024 * 1024)	/* documents held for one lookup */
#define MAX_JOBS 64

static struct {
	struct conn_options conn;
	const char *output, *recheck;
	const char *name;
	bool lag_only, watch, json, has_max_lag;
	long max_lag_ms, jobs;
	ns_filter *filter;
} opt = { .name = "default", .jobs = 1 };

/* One collection as listCollections describes it. */
struct collection {
	char *ns;
	bson_t *info;
};

struct collection_list {
	struct collection *items;
	size_t count, size;
};

/* One namespace to compare; either info may be NULL (absent on that side). */
struct task {
	const char *ns;
	const bson_t *source_info, *target_info;
};

/* What every job shares: the servers, the output, the totals. */
struct check {
	mongoc_client_pool_t *source_pool, *target_pool;
	pthread_mutex_t lock;
	stream_writer *writer;	/* BSON output, or NULL with --json */
	FILE *json_out;		/* --json output */
	struct task *tasks;
	size_t task_count, next_task;
	uint64_t namespaces, compared, missing, extra, differ;
};

/* Documents the merge found on one side only, to look up on the other. */
struct pending {
	bson_t *docs[PENDING_MAX];
	size_t count, bytes;
	bool from_source;	/* missing on the target (else: extra there) */
};

static void read_command_line(int argc, char **argv, char **source_uri, char **target_uri);
static int run_lag(struct check *check);
static int run_compare(struct check *check);
static int run_recheck(struct check *check);
static void check_open(struct check *check, const char *source_uri, const char *target_uri);
static void check_close(struct check *check);

int
main(int argc, char **argv)
{
	struct check check;
	char *source_uri, *target_uri;
	int status;

	die_init(argv[0]);
	opt.filter = ns_filter_new();
	ns_filter_use_defaults(opt.filter);
	read_command_line(argc, argv, &source_uri, &target_uri);
	check_open(&check, source_uri, target_uri);
	if (opt.lag_only || opt.watch)
		status = run_lag(&check);
	else if (opt.recheck != NULL)
		status = run_recheck(&check);
	else
		status = run_compare(&check);
	check_close(&check);
	ns_filter_free(opt.filter);
	free(source_uri);
	free(target_uri);
	return status;
}

static void
parse_max_lag(const char *name, const char *text, void *unused)
{
	(void)unused;
	opt.max_lag_ms = cli_duration_ms(name, text);
	opt.has_max_lag = true;
}

static void
read_command_line(int argc, char **argv, char **source_uri, char **target_uri)
{
	static const struct program program = {
		.name = "sync-check",
		.synopsis = "[options] [SOURCE TARGET]",
		.summary = "Compare two servers: namespaces, collection options, indexes, every document;\n"
		    "write the differences as BSON {ns, _id, kind} and report the applier's lag.",
		.details = "SOURCE and TARGET default to --source-uri-file's and --target-uri-file's,\n"
		    "else $OPLOGKIT_SOURCE_URI and $OPLOGKIT_TARGET_URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	struct ns_select select = { .filter = opt.filter };
	const struct option_def table[] = {
		OPT_NS_SELECT(&select),
		OPT_NUMBER('j', "jobs", "N", &opt.jobs, 1, MAX_JOBS, "compare N collections at once (1)"),
		OPT_BOOL(0, "json", &opt.json, "one relaxed Extended JSON line per difference"),
		OPT_OUTPUT(&opt.output, "write the differences to FILE instead of stdout"),
		OPT_STRING(0, "recheck", "FILE", &opt.recheck,
		    "re-read only what FILE (an earlier output) lists"),
		OPT_STRING(0, "name", "NAME", &opt.name,
		    "the applier's checkpoint on the target (default)"),
		OPT_BOOL(0, "lag-only", &opt.lag_only, "only print the lag: seconds and entries behind"),
		OPT_CALL(0, "max-lag", "DUR", parse_max_lag, NULL,
		    "exit 1 when the lag is over DUR (or unknown)"),
		OPT_BOOL(0, "watch", &opt.watch, "print the lag every second until interrupted"),
		OPT_URI_FILES(&opt.conn),
		OPT_TLS_RETRY(&opt.conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	free(select.args);
	if (argc - first == 1) {
		warnmsg("give both SOURCE and TARGET, or neither (then the files or environment)");
		options_usage_error(&program);
	}
	if ((opt.lag_only || opt.watch) && opt.recheck != NULL)
		die(EXIT_USAGE, "--recheck compares documents: not with --lag-only or --watch");
	*source_uri = conn_uri_resolve(first < argc ? argv[first] : NULL, opt.conn.source_file,
	    "OPLOGKIT_SOURCE_URI");
	*target_uri = conn_uri_resolve(first < argc ? argv[first + 1] : NULL, opt.conn.target_file,
	    "OPLOGKIT_TARGET_URI");
}

static void
check_open(struct check *check, const char *source_uri, const char *target_uri)
{
	memset(check, 0, sizeof(*check));
	check->source_pool = conn_open_pool(source_uri, opt.conn.tls_ca_file, (int)opt.jobs + 1);
	check->target_pool = conn_open_pool(target_uri, opt.conn.tls_ca_file, (int)opt.jobs + 1);
	if (pthread_mutex_init(&check->lock, NULL) != 0)
		die(EXIT_LOCAL, "pthread_mutex_init failed");
	if (opt.lag_only || opt.watch)
		return;
	if (opt.json) {
		check->json_out = stdout;
		if (opt.output != NULL && (check->json_out = fopen(opt.output, "w")) == NULL)
			die(EXIT_LOCAL, "%s: %s", opt.output, strerror(errno));
	} else if ((check->writer = stream_create(opt.output, 0, false)) == NULL) {
		exit(EXIT_LOCAL);
	}
}

static void
check_close(struct check *check)
{
	if (check->writer != NULL && !stream_finish(check->writer))
		exit(EXIT_LOCAL);
	if (check->json_out != NULL && (fflush(check->json_out) != 0 || ferror(check->json_out) ||
	    (check->json_out != stdout && fclose(check->json_out) != 0)))
		die(EXIT_LOCAL, "%s: write failed", opt.output != NULL ? opt.output : "stdout");
	conn_close_pool(check->source_pool);
	conn_close_pool(check->target_pool);
	pthread_mutex_destroy(&check->lock);
}

/* ---- differences ---- */

/*
 * Write one difference {ns, _id, kind, ...detail} and count it. id may be
 * NULL (a namespace or an index differs); detail's fields follow kind.
 */
static void
report(struct check *check, const char *ns, const bson_iter_t *id, const char *kind,
    const bson_t *detail)
{
	bson_t record = BSON_INITIALIZER;
	bson_iter_t iter;
	char *json;

	BSON_APPEND_UTF8(&record, "ns", ns);
	if (id != NULL)
		bson_append_iter(&record, "_id", 3, id);
	BSON_APPEND_UTF8(&record, "kind", kind);
	if (detail != NULL && bson_iter_init(&iter, detail))
		while (bson_iter_next(&iter))
			bson_append_iter(&record, bson_iter_key(&iter), -1, &iter);
	pthread_mutex_lock(&check->lock);
	if (strcmp(kind, "missing") == 0)
		check->missing++;
	else if (strcmp(kind, "extra") == 0)
		check->extra++;
	else
		check->differ++;
	if (check->writer != NULL) {
		if (!stream_write(check->writer, &record))
			exit(EXIT_LOCAL);
	} else {
		if ((json = bson_as_relaxed_extended_json(&record, NULL)) == NULL)
			die(EXIT_BAD_STREAM, "%s: a difference cannot be shown as JSON", ns);
		if (fprintf(check->json_out, "%s\n", json) < 0)
			die(EXIT_LOCAL, "%s: write failed", opt.output != NULL ? opt.output : "stdout");
		bson_free(json);
	}
	pthread_mutex_unlock(&check->lock);
	bson_destroy(&record);
}

/*
 * A "differs" record for metadata: {ns, kind, what: value, source, target},
 * what being "index" (value: its name) or "options" (value: true).
 */
static void
report_pair(struct check *check, const char *ns, const char *what, const char *name,
    const bson_t *source, const bson_t *target)
{
	bson_t detail = BSON_INITIALIZER;

	if (name != NULL)
		BSON_APPEND_UTF8(&detail, what, name);
	else
		BSON_APPEND_BOOL(&detail, what, true);
	BSON_APPEND_DOCUMENT(&detail, "source", source);
	BSON_APPEND_DOCUMENT(&detail, "target", target);
	report(check, ns, NULL, "differs", &detail);
	bson_destroy(&detail);
}

/* ---- listing ---- */

/* Namespaces come from listings or from a record already checked. */
static void
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
static void
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
static void
list_collections(mongoc_client_t *client, struct collection_list *list)
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
		if (ns_match_database(opt.filter, bson_iter_utf8(&name, NULL)))
			list_database(client, bson_iter_utf8(&name, NULL), NULL, opt.filter, list);
	}
	bson_destroy(&reply);
	bson_destroy(command);
	if (list->count > 0)
		qsort(list->items, list->count, sizeof(*list->items), compare_collection_ns);
}

static void
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

static bool
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
static bool
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

static void
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

/* ---- the whole comparison ---- */

static void
run_task(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const struct task *task)
{
	if (compare_metadata(check, source, target, task))
		compare_documents(check, source, target, task->ns);
	pthread_mutex_lock(&check->lock);
	check->namespaces++;
	pthread_mutex_unlock(&check->lock);
}

static void *
worker(void *arg)
{
	struct check *check = arg;
	mongoc_client_t *source = mongoc_client_pool_pop(check->source_pool);
	mongoc_client_t *target = mongoc_client_pool_pop(check->target_pool);
	size_t k;

	for (;;) {
		pthread_mutex_lock(&check->lock);
		k = check->next_task++;
		pthread_mutex_unlock(&check->lock);
		if (k >= check->task_count || cli_stop)
			break;
		run_task(check, source, target, &check->tasks[k]);
	}
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	return NULL;
}

/* The union of both sides' namespaces, in order, as tasks. */
static void
plan_tasks(struct check *check, const struct collection_list *from,
    const struct collection_list *to)
{
	size_t j = 0, k = 0;
	struct task *task;
	int c;

	check->tasks = xcalloc(from->count + to->count + 1, sizeof(*check->tasks));
	while (j < from->count || k < to->count) {
		task = &check->tasks[check->task_count++];
		c = j == from->count ? 1 : k == to->count ? -1
		    : strcmp(from->items[j].ns, to->items[k].ns);
		task->ns = c <= 0 ? from->items[j].ns : to->items[k].ns;
		task->source_info = c <= 0 ? from->items[j++].info : NULL;
		task->target_info = c >= 0 ? to->items[k++].info : NULL;
	}
}

static bool lag_report(FILE *out, mongoc_client_t *source, mongoc_client_t *target, bool *within);

static int
run_compare(struct check *check)
{
	struct collection_list from = { NULL, 0, 0 }, to = { NULL, 0, 0 };
	pthread_t threads[MAX_JOBS];
	mongoc_client_t *source, *target;
	bool within = true;
	long k;
	int err;

	cli_catch_signals();
	source = mongoc_client_pool_pop(check->source_pool);
	target = mongoc_client_pool_pop(check->target_pool);
	list_collections(source, &from);
	list_collections(target, &to);
	plan_tasks(check, &from, &to);
	for (k = 0; k < opt.jobs; k++)
		if ((err = pthread_create(&threads[k], NULL, worker, check)) != 0)
			die(EXIT_LOCAL, "pthread_create: %s", strerror(err));
	for (k = 0; k < opt.jobs; k++)
		pthread_join(threads[k], NULL);
	if (cli_stop)
		die(EXIT_STOPPED, "interrupted after %" PRIu64 " of %zu namespaces",
		    check->namespaces, check->task_count);
	fprintf(stderr, "%s: %" PRIu64 " namespaces, %" PRIu64 " documents compared, %" PRIu64
	    " missing, %" PRIu64 " extra, %" PRIu64 " differ\n", die_progname(), check->namespaces,
	    check->compared, check->missing, check->extra, check->differ);
	lag_report(stderr, source, target, &within);
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	free(check->tasks);
	collection_list_free(&from);
	collection_list_free(&to);
	if (check->missing + check->extra + check->differ > 0)
		return EXIT_DIFFERENT;
	return opt.has_max_lag && !within ? EXIT_DIFFERENT : EXIT_DONE;
}

/* ---- lag ---- */

/*
 * One line (or, on stdout with --json, one document) about the lag; on
 * stderr, as part of the summary, it carries the program's name. *within:
 * the lag is known and not over --max-lag. Returns false when the servers
 * could not say (a message is printed).
 */
static bool
lag_report(FILE *out, mongoc_client_t *source, mongoc_client_t *target, bool *within)
{
	char newest[32], checkpoint[32];
	struct lag lag;
	bson_error_t error;
	int64_t behind = 0;
	bson_t doc = BSON_INITIALIZER;
	char *json;

	*within = false;
	if (!lag_measure(source, target, opt.name, &lag, &error) ||
	    (lag.has_checkpoint && !lag_entries_after(source, lag.checkpoint, &behind, &error))) {
		warnmsg("lag: %s", error.message);
		return false;
	}
	*within = lag.has_checkpoint && (!opt.has_max_lag || lag_within(&lag, opt.max_lag_ms));
	ts_format(lag.newest, newest, sizeof(newest));
	ts_format(lag.checkpoint, checkpoint, sizeof(checkpoint));
	if (!opt.json || out == stderr) {
		const char *prefix = out == stderr ? die_progname() : NULL;

		if (lag.has_checkpoint)
			fprintf(out, "%s%slag %ld s, %" PRId64 " entries (source newest %s, checkpoint %s at %s)\n",
			    prefix ? prefix : "", prefix ? ": " : "", lag.seconds, behind, newest,
			    opt.name, checkpoint);
		else
			fprintf(out, "%s%slag unknown: no checkpoint %s on the target (source newest %s)\n",
			    prefix ? prefix : "", prefix ? ": " : "", opt.name, newest);
		return fflush(out) == 0;
	}
	BSON_APPEND_UTF8(&doc, "name", opt.name);
	if (lag.has_checkpoint) {
		BSON_APPEND_INT64(&doc, "seconds", lag.seconds);
		BSON_APPEND_INT64(&doc, "entries", behind);
	}
	BSON_APPEND_TIMESTAMP(&doc, "source", lag.newest.t, lag.newest.i);
	if (lag.has_checkpoint)
		BSON_APPEND_TIMESTAMP(&doc, "checkpoint", lag.checkpoint.t, lag.checkpoint.i);
	else
		BSON_APPEND_NULL(&doc, "checkpoint");
	json = bson_as_relaxed_extended_json(&doc, NULL);
	fprintf(out, "%s\n", json);
	bson_free(json);
	bson_destroy(&doc);
	return fflush(out) == 0;
}

static int
run_lag(struct check *check)
{
	mongoc_client_t *source = mongoc_client_pool_pop(check->source_pool);
	mongoc_client_t *target = mongoc_client_pool_pop(check->target_pool);
	struct timespec second = { 1, 0 };
	bool within = false, known;

	if (!opt.watch) {
		known = lag_report(stdout, source, target, &within);
		mongoc_client_pool_push(check->source_pool, source);
		mongoc_client_pool_push(check->target_pool, target);
		if (!known)
			return EXIT_SERVER;
		return opt.has_max_lag && !within ? EXIT_DIFFERENT : EXIT_DONE;
	}
	cli_catch_signals();
	while (!cli_stop) {
		lag_report(stdout, source, target, &within);	/* a failure is printed; go on */
		if (!cli_stop)
			nanosleep(&second, NULL);
	}
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	return EXIT_DONE;
}

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

static void
recheck_document(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const char *ns, const bson_iter_t *id)
{
	bson_t *from = find_by_id(source, ns, id), *to = find_by_id(target, ns, id);

	if (from != NULL && to == NULL)
		report(check, ns, id, "missing", NULL);
	else if (from == NULL && to != NULL)
		report(check, ns, id, "extra", NULL);
	else if (from != NULL && !same_bytes(from, to))
		report(check, ns, id, "differs", NULL);
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
		die(EXIT_BAD_STREAM, "%s: record %" PRIu64 ": no ns", opt.recheck, number);
	if (!ns_split(bson_iter_utf8(&ns, NULL), db, sizeof(db), &collection))
		die(EXIT_BAD_STREAM, "%s: record %" PRIu64 ": ns '%s' is not db.collection",
		    opt.recheck, number, bson_iter_utf8(&ns, NULL));
	if (bson_iter_init_find(&id, record, "_id"))
		recheck_document(check, source, target, bson_iter_utf8(&ns, NULL), &id);
	else if (seen_add(seen, bson_iter_utf8(&ns, NULL)))
		recheck_namespace(check, source, target, bson_iter_utf8(&ns, NULL));
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
	bson_json_reader_t *reader = bson_json_reader_new_from_file(opt.recheck, &error);
	bson_t record = BSON_INITIALIZER;
	int status;

	if (reader == NULL)
		die(EXIT_USAGE, "--recheck %s: %s", opt.recheck, error.message);
	while ((status = bson_json_reader_read(reader, &record, &error)) == 1) {
		recheck_record(check, source, target, &record, ++*count, seen);
		bson_reinit(&record);
	}
	if (status < 0)
		die(EXIT_BAD_STREAM, "%s: record %" PRIu64 ": %s", opt.recheck, *count + 1,
		    error.message);
	bson_destroy(&record);
	bson_json_reader_destroy(reader);
}

static void
recheck_bson(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    struct seen *seen, uint64_t *count)
{
	stream_reader *reader = stream_open(opt.recheck);
	const bson_t *record;
	int status;

	if (reader == NULL)
		exit(EXIT_NO_INPUT);
	while ((status = stream_next(reader, &record)) == STREAM_ENTRY)
		recheck_record(check, source, target, record, ++*count, seen);
	if (status == STREAM_ERROR)
		stream_die(reader);
	stream_close(reader);
}

static int
run_recheck(struct check *check)
{
	mongoc_client_t *source = mongoc_client_pool_pop(check->source_pool);
	mongoc_client_t *target = mongoc_client_pool_pop(check->target_pool);
	struct seen seen = { NULL, 0 };
	uint64_t count = 0;
	size_t k;

	if (strcmp(opt.recheck, "-") != 0 && file_is_json(opt.recheck))
		recheck_json(check, source, target, &seen, &count);
	else
		recheck_bson(check, source, target, &seen, &count);
	fprintf(stderr, "%s: %" PRIu64 " records rechecked: %" PRIu64 " documents compared, %"
	    PRIu64 " missing, %" PRIu64 " extra, %" PRIu64 " differ\n", die_progname(), count,
	    check->compared, check->missing, check->extra, check->differ);
	for (k = 0; k < seen.count; k++)
		free(seen.names[k]);
	free(seen.names);
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	return check->missing + check->extra + check->differ > 0 ? EXIT_DIFFERENT : EXIT_DONE;
}
