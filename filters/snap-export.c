/*
 * snap-export.c - copy a server's collections as a snapshot stream.
 *
 * T0 is fixed before the first document is read, so the copy holds every
 * change up to T0 and maybe some after (fuzzy); replaying the oplog from
 * T0 repairs the rest. Each collection becomes a create entry, its
 * documents as inserts and its indexes as createIndexes entries, all
 * stamped T0. All reads go to one member (chosen by --read-preference) so
 * that T0, the lock and the documents describe the same copy of the data.
 *
 * The work is a plan of parts: a collection, or one _id range of a large
 * one. Workers export parts in parallel; either one writer thread merges
 * their output into one stream, or each part becomes its own file in a
 * directory, which a rerun resumes by skipping the parts already whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "mongo-errors.h"
#include "ns.h"
#include "options.h"
#include "queue.h"
#include "stream.h"

#define NS_SIZE 512
#define CHUNK_BYTES (1024 * 1024)	/* a worker hands the writer this much at once */
#define MANIFEST "manifest.json"

struct part {
	char ns[NS_SIZE];
	char db[NS_SIZE];
	char coll[NS_SIZE];
	int collection;		/* parts of one collection share this number */
	bool documents;		/* false for views and time-series definitions */
	bson_t filter;		/* which documents: {} or an _id range */
	bson_t before;		/* entries before the documents: the create (array) */
	bson_t after;		/* entries after them: the createIndexes (array) */
	char file[NS_SIZE + 64];	/* -o DIR: the part's file name */
	bool done;		/* -o DIR: already complete */
	atomic_uint_fast64_t exported;
};

struct chunk {
	int part;
	bool last;		/* the part is complete after this chunk */
	bool failed;		/* the part failed; the stream gets no trailer */
	uint8_t *data;
	size_t length;
	size_t capacity;
	uint64_t entries;
};

static struct {
	const char *output;
	bool directory;
	int zstd_level;
	bool have_t0;
	timestamp_t t0;
	long jobs;
	long chunk_docs;
	const char *read_preference;
	bool lock;
	bool progress;
	struct conn_options conn;
} opt = { .jobs = 1, .chunk_docs = 100000, .read_preference = "primary" };

static ns_filter *selection;
static mongoc_client_pool_t *pool;
static mongoc_read_prefs_t *read_prefs;
static uint32_t server_id;	/* the member every read goes to */
static char member[300];	/* its host:port, for messages */
static timestamp_t t0;
static char source[1024];	/* the masked URI */

static struct part **parts;	/* each allocated once: a bson_t must not move */
static int part_count;
static int collection_count;

/* The lock is lifted by whoever exits, on every path. */
static mongoc_client_t *lock_client;
static atomic_bool locked;

/*
 * The queue between workers and the writer (one-stream mode); the last
 * worker out closes it, which is how the writer and the directory mode
 * learn that every worker is done.
 */
static work_queue *chunks;
static pthread_mutex_t parts_mutex = PTHREAD_MUTEX_INITIALIZER;
static int next_part;		/* the next part a worker takes */
static int workers_running;
static atomic_bool failed;	/* stop: a part failed */
static atomic_bool server_failed;	/* ... because of the server */
static struct timespec started, last_report;
static atomic_uint_fast64_t bytes_exported;

static const char *read_command_line(int argc, char **argv);
static void pick_member(mongoc_client_t *client);
static void lock_member(void);
static void unlock_member(void);
static void choose_t0(mongoc_client_t *client);
static void plan(mongoc_client_t *client);
static void write_manifest(void);
static bool read_manifest(void);
static void skip_finished_parts(void);
static void start_workers(pthread_t *threads);
static bool write_one_stream(stream_writer *writer);
static bool wait_for_workers(pthread_t *threads);
static void report_progress(bool final);

int
main(int argc, char **argv)
{
	pthread_t *threads;
	mongoc_client_t *client;
	stream_writer *writer = NULL;
	const char *uri_arg;
	char *uri;
	bool resumed = false, ok;

	die_init(argv[0]);
	selection = ns_filter_new();
	ns_filter_use_defaults(selection);
	uri_arg = read_command_line(argc, argv);	/* before opt.conn is read */
	if (!opt.directory)
		stream_refuse_tty(opt.output);
	uri = conn_uri_resolve(uri_arg, opt.conn.uri_file, "OPLOGKIT_SOURCE_URI");
	conn_mask(uri, source, sizeof(source));
	/* A closed pipe must be an error we handle (and unlock), not a kill. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die(EXIT_LOCAL, "signal: %s", strerror(errno));
	cli_catch_signals();

	pool = conn_open_pool(uri, opt.conn.tls_ca_file, (int)opt.jobs + 2);
	client = mongoc_client_pool_pop(pool);
	pick_member(client);
	if (opt.lock)
		lock_member();
	if (opt.directory)
		resumed = read_manifest();
	if (!resumed) {
		choose_t0(client);
		plan(client);
	}
	mongoc_client_pool_push(pool, client);

	if (opt.directory) {
		if (!resumed)
			write_manifest();
		skip_finished_parts();
	} else {
		writer = stream_create(opt.output, opt.zstd_level, false);
		if (writer == NULL)
			exit(EXIT_LOCAL);
	}
	threads = xcalloc((size_t)opt.jobs, sizeof(*threads));
	clock_gettime(CLOCK_MONOTONIC, &started);
	last_report = started;
	start_workers(threads);
	ok = opt.directory ? wait_for_workers(threads) : write_one_stream(writer);
	report_progress(true);
	unlock_member();
	if (cli_stop)
		die(EXIT_STOPPED, "stopped by a signal: the snapshot is incomplete%s",
		    opt.directory ? " (rerun to resume)" : " (no trailer written)");
	if (!ok)
		exit(atomic_load(&server_failed) ? EXIT_SERVER : EXIT_LOCAL);
	free(threads);
	free(uri);
	ns_filter_free(selection);
	return EXIT_DONE;
}

static bool
is_directory(const char *path)
{
	struct stat info;
	size_t length = strlen(path);

	if (length > 0 && path[length - 1] == '/')
		return true;
	return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static void
parse_t0(const char *name, const char *text, void *unused)
{
	(void)unused;
	if (!ts_parse(text, &opt.t0))
		die(EXIT_USAGE, "%s: not a timestamp: '%s' (use T,I)", name, text);
	opt.have_t0 = true;
}

static void
parse_consistency(const char *name, const char *text, void *unused)
{
	(void)unused;
	if (strcmp(text, "lock") == 0)
		opt.lock = true;
	else if (strcmp(text, "fuzzy") != 0)
		die(EXIT_USAGE, "%s: fuzzy or lock, not '%s'", name, text);
}

/* The URI operand, if any. */
static const char *
read_command_line(int argc, char **argv)
{
	static const struct program program = {
		.name = "snap-export",
		.synopsis = "[options] [URI]",
		.summary = "Copy a server's collections, as of about T0, as a snapshot stream.",
		.details = "URI defaults to --uri-file's, else $OPLOGKIT_SOURCE_URI.\n",
		.min_operands = 0, .max_operands = 1,
	};
	struct ns_select select = { 0 };
	const struct option_def table[] = {
		OPT_STRING('o', "output", "FILE|DIR/", &opt.output,
		    "write FILE (default stdout); a directory (existing, or given\n"
		    "with a trailing /) gets one file per part and a rerun resumes it"),
		OPT_ZSTD(&opt.zstd_level),
		OPT_CALL(0, "t0", "TS", parse_t0, NULL, "use this T0 instead of the newest oplog ts"),
		OPT_NS_SELECT(&select),
		OPT_NUMBER('j', "jobs", "N", &opt.jobs, 1, 64,
		    "export with N connections at once (default 1)"),
		OPT_NUMBER(0, "chunk-docs", "N", &opt.chunk_docs, 1, LONG_MAX,
		    "split collections into _id ranges of about N documents\n"
		    "when parallel or -o DIR (default 100000)"),
		OPT_STRING(0, "read-preference", "MODE", &opt.read_preference,
		    "primary (default), primaryPreferred, secondary,\n"
		    "secondaryPreferred or nearest"),
		OPT_CALL(0, "consistency", "C", parse_consistency, NULL,
		    "fuzzy (default) or lock (fsyncLock the member read)"),
		OPT_PROGRESS(&opt.progress),
		OPT_URI_FILE(&opt.conn),
		OPT_TLS_RETRY(&opt.conn),
		OPT_END(),
	};
	int first;

	select.filter = selection;
	first = options_parse(&program, table, argc, argv);
	free(select.args);
	if (opt.output != NULL)
		opt.directory = is_directory(opt.output);
	return first < argc ? argv[first] : NULL;
}

/* --- the member ------------------------------------------------------ */

static mongoc_read_mode_t
read_mode(const char *name)
{
	static const struct {
		const char *name;
		mongoc_read_mode_t mode;
	} modes[] = {
		{ "primary", MONGOC_READ_PRIMARY },
		{ "primaryPreferred", MONGOC_READ_PRIMARY_PREFERRED },
		{ "secondary", MONGOC_READ_SECONDARY },
		{ "secondaryPreferred", MONGOC_READ_SECONDARY_PREFERRED },
		{ "nearest", MONGOC_READ_NEAREST },
	};
	size_t k;

	for (k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
		if (strcmp(name, modes[k].name) == 0)
			return modes[k].mode;
	die(EXIT_USAGE, "--read-preference: unknown mode '%s'", name);
}

/*
 * Pin every read to one member: T0 comes from its oplog, so its data must
 * be what the workers read; a lagging secondary mixed with T0 from another
 * member would lose the changes in between.
 */
static void
pick_member(mongoc_client_t *client)
{
	mongoc_server_description_t *server;
	bson_error_t error;

	read_prefs = mongoc_read_prefs_new(read_mode(opt.read_preference));
	server = mongoc_client_select_server(client, false, read_prefs, &error);
	if (server == NULL)
		die(EXIT_SERVER, "%s: no member for read preference %s: %s", source,
		    opt.read_preference, error.message);
	server_id = mongoc_server_description_id(server);
	snprintf(member, sizeof(member), "%s",
	    mongoc_server_description_host(server)->host_and_port);
	mongoc_server_description_destroy(server);
}

/* Options that send a cursor or command to the pinned member. */
static bson_t *
member_opts(void)
{
	return BCON_NEW("serverId", BCON_INT32((int32_t)server_id));
}

static void
lock_at_exit(void)
{
	unlock_member();
}

static void
lock_member(void)
{
	bson_t *command = BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true));
	bson_error_t error;
	bson_iter_t iter;
	bson_t reply;

	lock_client = mongoc_client_pool_pop(pool);
	if (!mongoc_client_command_simple_with_server_id(lock_client, "admin", command,
	    read_prefs, server_id, &reply, &error)) {
		if (error.code == MONGO_COMMAND_NOT_FOUND)
			die(EXIT_SERVER, "--consistency=lock: %s cannot lock writes: it has no "
			    "fsync command (%s); use --consistency=fuzzy", member, error.message);
		die(EXIT_SERVER, "--consistency=lock: fsync lock on %s failed: %s", member,
		    error.message);
	}
	atomic_store(&locked, true);
	if (atexit(lock_at_exit) != 0) {
		unlock_member();
		die(EXIT_LOCAL, "atexit failed");
	}
	/* A server that answers ok without a lock count did not lock. */
	if (!bson_iter_init_find(&iter, &reply, "lockCount") || !BSON_ITER_HOLDS_NUMBER(&iter) ||
	    bson_iter_as_int64(&iter) < 1)
		die(EXIT_SERVER, "--consistency=lock: %s did not confirm the lock", member);
	bson_destroy(&reply);
	bson_destroy(command);
}

static void
unlock_member(void)
{
	bson_t *command;
	bson_error_t error;
	bson_t reply;

	if (!atomic_exchange(&locked, false))
		return;
	command = BCON_NEW("fsyncUnlock", BCON_INT32(1));
	if (!mongoc_client_command_simple_with_server_id(lock_client, "admin", command,
	    read_prefs, server_id, &reply, &error))
		warnmsg("%s: fsyncUnlock failed: %s: UNLOCK IT BY HAND (db.fsyncUnlock())",
		    member, error.message);
	bson_destroy(&reply);
	bson_destroy(command);
}

static bool
newest_ts(mongoc_client_t *client, timestamp_t *out, bson_error_t *error)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("sort", "{", "$natural", BCON_INT32(-1), "}",
	    "limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}",
	    "serverId", BCON_INT32((int32_t)server_id));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, &filter, opts, read_prefs);
	const bson_t *doc;
	bool found = false;

	if (mongoc_cursor_next(cursor, &doc)) {
		*out = entry_ts(doc);
		found = out->t != 0 || out->i != 0;
	}
	if (!found && !mongoc_cursor_error(cursor, error))
		bson_set_error(error, MONGOC_ERROR_QUERY, 26, "local.oplog.rs is empty or missing");
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	mongoc_collection_destroy(oplog);
	return found;
}

/* The caller's T0 is taken as given: looking up the newest entry can cost a scan. */
static void
choose_t0(mongoc_client_t *client)
{
	bson_error_t error;

	if (opt.have_t0) {
		t0 = opt.t0;
		return;
	}
	if (!newest_ts(client, &t0, &error))
		die(EXIT_SERVER, "%s: no oplog to take T0 from (%s): give --t0", member,
		    error.message);
}

/* --- the plan -------------------------------------------------------- */

/* Borrow the document or array iter points at into out. */
static bool
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
command_entry(bson_t *entry, const char *db, const bson_t *o)
{
	char ns[NS_SIZE];

	snprintf(ns, sizeof(ns), "%s.$cmd", db);
	bson_init(entry);
	BSON_APPEND_UTF8(entry, "op", "c");
	BSON_APPEND_UTF8(entry, "ns", ns);
	BSON_APPEND_DOCUMENT(entry, "o", o);
	BSON_APPEND_TIMESTAMP(entry, "ts", t0.t, t0.i);
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
create_entry(bson_t *entry, const char *db, const char *coll, const bson_t *info)
{
	bson_iter_t iter, field;
	bson_t o = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&o, "create", coll);
	if (bson_iter_init_find(&iter, info, "options") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
	    bson_iter_recurse(&iter, &field))
		while (bson_iter_next(&field))
			bson_append_iter(&o, NULL, 0, &field);
	command_entry(entry, db, &o);
	bson_destroy(&o);
}

/* Index specs as createIndexes entries, _id_ left out (create makes it). */
static void
index_entries(mongoc_client_t *client, const char *db, const char *coll, bson_t *after)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, db, coll);
	bson_t *opts = member_opts();
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
		command_entry(&entry, db, &o);
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

static struct part *
part_add(const char *db, const char *coll, int collection)
{
	struct part *part;

	parts = xrealloc(parts, (size_t)(part_count + 1) * sizeof(*parts));
	part = xcalloc(1, sizeof(*part));
	parts[part_count++] = part;
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
document_count(mongoc_client_t *client, const char *db, const char *coll)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, db, coll);
	bson_t *opts = member_opts();
	bson_error_t error;
	int64_t count;

	count = mongoc_collection_estimated_document_count(collection, opts, read_prefs, NULL, &error);
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
range_bounds(mongoc_client_t *client, const char *db, const char *coll, bson_value_t **bounds)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, db, coll);
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}",
	    "sort", "{", "_id", BCON_INT32(1), "}", "serverId", BCON_INT32((int32_t)server_id));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(collection, &filter, opts, read_prefs);
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
		if (seen++ % (size_t)opt.chunk_docs != 0 || seen == 1)
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
plan_collection(mongoc_client_t *client, const char *db, const bson_t *info)
{
	bson_value_t *bounds = NULL;
	const char *coll = "", *type = "collection";
	struct part *part;
	size_t count = 0, k;
	bson_iter_t iter;
	bson_t create;
	int collection = collection_count++;

	if (bson_iter_init_find(&iter, info, "name") && BSON_ITER_HOLDS_UTF8(&iter))
		coll = bson_iter_utf8(&iter, NULL);
	if (bson_iter_init_find(&iter, info, "type") && BSON_ITER_HOLDS_UTF8(&iter))
		type = bson_iter_utf8(&iter, NULL);
	part = part_add(db, coll, collection);
	create_entry(&create, db, coll, info);
	array_push(&part->before, &create);
	bson_destroy(&create);
	if (strcmp(type, "collection") != 0)
		return;		/* a view or time series: its definition is all */
	part->documents = true;
	if ((opt.jobs > 1 || opt.directory) &&
	    document_count(client, db, coll) >= 2 * opt.chunk_docs)
		count = range_bounds(client, db, coll, &bounds);
	for (k = 0; k <= count && count > 0; k++) {
		if (k > 0) {
			part = part_add(db, coll, collection);
			part->documents = true;
		}
		range_filter(&part->filter, k > 0 ? &bounds[k - 1] : NULL,
		    k < count ? &bounds[k] : NULL);
	}
	index_entries(client, db, coll, &part->after);
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
collection_selected(const char *db, const bson_t *info)
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
	return ns_match(selection, ns);
}

static void
plan_database(mongoc_client_t *client, const char *db)
{
	mongoc_database_t *database = mongoc_client_get_database(client, db);
	bson_t *opts = member_opts();
	mongoc_cursor_t *cursor;
	const bson_t *info;
	bson_error_t error;
	bson_t **infos = NULL;
	size_t count = 0, k;
	int rank;

	cursor = mongoc_database_find_collections_with_opts(database, opts);
	while (mongoc_cursor_next(cursor, &info)) {
		if (!collection_selected(db, info))
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
				plan_collection(client, db, infos[k]);
	for (k = 0; k < count; k++)
		bson_destroy(infos[k]);
	free(infos);
	bson_destroy(opts);
	mongoc_database_destroy(database);
}

static void
plan(mongoc_client_t *client)
{
	bson_t *command = BCON_NEW("listDatabases", BCON_INT32(1), "nameOnly", BCON_BOOL(true));
	bson_t *opts = member_opts();
	bson_iter_t iter, list, db;
	bson_error_t error;
	bson_t reply;

	if (!mongoc_client_read_command_with_opts(client, "admin", command, read_prefs, opts,
	    &reply, &error))
		die(EXIT_SERVER, "%s: listDatabases: %s", member, error.message);
	if (bson_iter_init_find(&iter, &reply, "databases") && BSON_ITER_HOLDS_ARRAY(&iter) &&
	    bson_iter_recurse(&iter, &list)) {
		while (bson_iter_next(&list) && !cli_stop) {
			if (!BSON_ITER_HOLDS_DOCUMENT(&list) || !bson_iter_recurse(&list, &db) ||
			    !bson_iter_find(&db, "name") || !BSON_ITER_HOLDS_UTF8(&db))
				continue;
			if (ns_match_database(selection, bson_iter_utf8(&db, NULL)))
				plan_database(client, bson_iter_utf8(&db, NULL));
		}
	}
	bson_destroy(&reply);
	bson_destroy(opts);
	bson_destroy(command);
	if (cli_stop) {
		unlock_member();
		die(EXIT_STOPPED, "stopped by a signal before the export began");
	}
}

/* --- -o DIR: part files and the manifest ------------------------------ */

/* Part files sort in plan order, so cat(1) of them in name order is a valid stream. */
static void
part_file_names(void)
{
	int k, index = 0;

	for (k = 0; k < part_count; k++) {
		char name[NS_SIZE * 3], *out = name;
		const char *in;

		index = k > 0 && parts[k]->collection == parts[k - 1]->collection ? index + 1 : 0;
		/* Collection names may hold '/': escape it (and '%'). */
		for (in = parts[k]->ns; *in != '\0'; in++)
			out += *in == '/' || *in == '%' ?
			    sprintf(out, "%%%02X", (unsigned char)*in) : sprintf(out, "%c", *in);
		snprintf(parts[k]->file, sizeof(parts[k]->file), "%06d-%.*s.%04d.bson%s", k,
		    NS_SIZE, name, index, opt.zstd_level > 0 ? ".zst" : "");
	}
}

static char *
output_path(const char *name)
{
	size_t length = strlen(opt.output) + strlen(name) + 2;
	char *path = xmalloc(length);

	snprintf(path, length, "%s/%s", opt.output, name);
	return path;
}

static void
write_manifest(void)
{
	bson_t manifest = BSON_INITIALIZER, list, item;
	char *path, *temp, *json;
	size_t length;
	FILE *file;
	int fd;
	int k;

	if (mkdir(opt.output, 0700) != 0 && errno != EEXIST)
		die(EXIT_LOCAL, "%s: %s", opt.output, strerror(errno));
	part_file_names();
	BSON_APPEND_INT32(&manifest, "version", 1);
	BSON_APPEND_UTF8(&manifest, "source", source);
	BSON_APPEND_TIMESTAMP(&manifest, "t0", t0.t, t0.i);
	BSON_APPEND_ARRAY_BEGIN(&manifest, "parts", &list);
	for (k = 0; k < part_count; k++) {
		char key[16];
		const char *key_text;

		bson_uint32_to_string((uint32_t)k, &key_text, key, sizeof(key));
		BSON_APPEND_DOCUMENT_BEGIN(&list, key_text, &item);
		BSON_APPEND_UTF8(&item, "file", parts[k]->file);
		BSON_APPEND_UTF8(&item, "db", parts[k]->db);
		BSON_APPEND_UTF8(&item, "coll", parts[k]->coll);
		BSON_APPEND_INT32(&item, "collection", parts[k]->collection);
		BSON_APPEND_BOOL(&item, "documents", parts[k]->documents);
		BSON_APPEND_DOCUMENT(&item, "filter", &parts[k]->filter);
		BSON_APPEND_ARRAY(&item, "before", &parts[k]->before);
		BSON_APPEND_ARRAY(&item, "after", &parts[k]->after);
		bson_append_document_end(&list, &item);
	}
	bson_append_array_end(&manifest, &list);
	json = bson_as_canonical_extended_json(&manifest, &length);
	path = output_path(MANIFEST);
	temp = output_path(MANIFEST ".partial");
	/*
	 * Written whole, then renamed: a manifest is there complete or not at
	 * all. Mode 0600 like the parts, whatever the umask.
	 */
	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	file = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (file == NULL || fwrite(json, 1, length, file) != length || fputc('\n', file) == EOF ||
	    fclose(file) != 0 || rename(temp, path) != 0)
		die(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	bson_free(json);
	free(temp);
	free(path);
	bson_destroy(&manifest);
}

static char *
read_whole_file(const char *path, size_t *length)
{
	FILE *file = fopen(path, "r");
	char *data = NULL;
	size_t used = 0, capacity = 0, got;

	if (file == NULL)
		return NULL;
	do {
		if (used + 65536 + 1 > capacity) {
			capacity = (used + 65536 + 1) * 2;
			data = xrealloc(data, capacity);
		}
		got = fread(data + used, 1, 65536, file);
		used += got;
	} while (got > 0);
	if (ferror(file))
		die(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	fclose(file);
	data[used] = '\0';
	*length = used;
	return data;
}

static void
manifest_part(const char *path, bson_iter_t *item)
{
	bson_iter_t field;
	const char *db = "", *coll = "";
	struct part *part;
	int collection = -1;
	bson_t sub;

	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "db") && BSON_ITER_HOLDS_UTF8(&field))
		db = bson_iter_utf8(&field, NULL);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "coll") && BSON_ITER_HOLDS_UTF8(&field))
		coll = bson_iter_utf8(&field, NULL);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "collection") &&
	    BSON_ITER_HOLDS_INT32(&field))
		collection = bson_iter_int32(&field);
	if (db[0] == '\0' || coll[0] == '\0' || collection < 0)
		die(EXIT_BAD_STREAM, "%s: part %d: no db, coll or collection", path, part_count);
	part = part_add(db, coll, collection);
	if (collection >= collection_count)
		collection_count = collection + 1;
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "documents"))
		part->documents = bson_iter_as_bool(&field);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "file") && BSON_ITER_HOLDS_UTF8(&field))
		snprintf(part->file, sizeof(part->file), "%s", bson_iter_utf8(&field, NULL));
	if (part->file[0] == '\0' || strchr(part->file, '/') != NULL)
		die(EXIT_BAD_STREAM, "%s: part %d: bad file name", path, part_count - 1);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "filter") &&
	    iter_document(&field, &sub))
{
		bson_destroy(&part->filter);
		bson_copy_to(&sub, &part->filter);
	}
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "before") &&
	    iter_document(&field, &sub))
{
		bson_destroy(&part->before);
		bson_copy_to(&sub, &part->before);
	}
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "after") &&
	    iter_document(&field, &sub))
{
		bson_destroy(&part->after);
		bson_copy_to(&sub, &part->after);
	}
}

/*
 * A rerun continues the plan of the first run, T0 included: a new plan
 * could draw different ranges and leave holes between finished parts.
 */
static bool
read_manifest(void)
{
	char *path = output_path(MANIFEST), *json;
	bson_iter_t iter, list;
	bson_error_t error;
	bson_t *manifest;
	size_t length;
	char text[2][32];

	json = read_whole_file(path, &length);
	if (json == NULL) {
		free(path);
		return false;
	}
	manifest = bson_new_from_json((const uint8_t *)json, (ssize_t)length, &error);
	if (manifest == NULL)
		die(EXIT_BAD_STREAM, "%s: %s", path, error.message);
	if (!bson_iter_init_find(&iter, manifest, "t0") || !BSON_ITER_HOLDS_TIMESTAMP(&iter))
		die(EXIT_BAD_STREAM, "%s: no t0", path);
	bson_iter_timestamp(&iter, &t0.t, &t0.i);
	if (opt.have_t0 && ts_compare(opt.t0, t0) != 0)
		die(EXIT_USAGE, "--t0 %s: %s continues an export with T0 %s",
		    ts_format(opt.t0, text[0], sizeof(text[0])), path,
		    ts_format(t0, text[1], sizeof(text[1])));
	if (!bson_iter_init_find(&iter, manifest, "parts") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &list))
		die(EXIT_BAD_STREAM, "%s: no parts", path);
	while (bson_iter_next(&list))
		if (BSON_ITER_HOLDS_DOCUMENT(&list))
			manifest_part(path, &list);
	bson_destroy(manifest);
	free(json);
	free(path);
	return true;
}

/* Whether a part file is whole: every frame valid and a trailer last. */
static bool
part_complete(const char *path)
{
	stream_reader *reader;
	const bson_t *entry;
	bool trailer = false;
	int status;

	if (access(path, F_OK) != 0)
		return false;
	reader = stream_open(path);
	if (reader == NULL)
		return false;
	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY)
		trailer = entry_is_trailer(entry);
	stream_close(reader);
	return status == STREAM_END && trailer;
}

static void
skip_finished_parts(void)
{
	int k, finished = 0;

	for (k = 0; k < part_count; k++) {
		char *path = output_path(parts[k]->file);

		parts[k]->done = part_complete(path);
		finished += parts[k]->done;
		free(path);
	}
	if (finished > 0)
		warnmsg("%s: %d of %d parts already complete, skipped", opt.output, finished,
		    part_count);
}

/* --- workers --------------------------------------------------------- */

static void
insert_entry(bson_t *entry, const char *ns, const bson_t *doc)
{
	bson_reinit(entry);
	BSON_APPEND_UTF8(entry, "op", "i");
	BSON_APPEND_UTF8(entry, "ns", ns);
	BSON_APPEND_DOCUMENT(entry, "o", doc);
	BSON_APPEND_TIMESTAMP(entry, "ts", t0.t, t0.i);
}

typedef bool (*entry_sink)(void *context, const bson_t *entry);

/* Read the part's documents from the member, as insert entries, into sink. */
static bool
export_documents(mongoc_client_t *client, struct part *part, entry_sink sink, void *context)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, part->db, part->coll);
	bson_t *opts = member_opts();
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	bson_t entry = BSON_INITIALIZER;
	bool ok = true;

	cursor = mongoc_collection_find_with_opts(collection, &part->filter, opts, read_prefs);
	while (ok && !cli_stop && !atomic_load(&failed) && mongoc_cursor_next(cursor, &doc)) {
		insert_entry(&entry, part->ns, doc);
		ok = sink(context, &entry);
		atomic_fetch_add(&part->exported, 1);
		atomic_fetch_add(&bytes_exported, entry.len);
	}
	if (ok && mongoc_cursor_error(cursor, &error)) {
		warnmsg("%s: reading from %s: %s", part->ns, member, error.message);
		atomic_store(&server_failed, true);
		atomic_store(&failed, true);
		ok = false;
	}
	bson_destroy(&entry);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_collection_destroy(collection);
	return ok && !cli_stop;
}

static bool
write_array(stream_writer *writer, const bson_t *array)
{
	bson_iter_t iter;
	bson_t entry;

	if (!bson_iter_init(&iter, array))
		return false;
	while (bson_iter_next(&iter))
		if (!iter_document(&iter, &entry) || !stream_write(writer, &entry))
			return false;
	return true;
}

static bool
sink_file(void *context, const bson_t *entry)
{
	return stream_write(context, entry);
}

/* -o DIR: the part as one whole stream file, renamed into place at the end. */
static bool
export_part_file(mongoc_client_t *client, struct part *part)
{
	char *path = output_path(part->file), *temp;
	size_t length = strlen(path) + 16;
	stream_writer *writer;
	bson_t marker;
	bool ok;

	temp = xmalloc(length);
	snprintf(temp, length, "%s.partial", path);
	writer = stream_create(temp, opt.zstd_level, false);
	if (writer == NULL) {
		free(temp);
		free(path);
		return false;
	}
	marker_header(&marker, "snapshot", source, t0);
	ok = stream_write(writer, &marker) && write_array(writer, &part->before);
	bson_destroy(&marker);
	if (ok && part->documents)
		ok = export_documents(client, part, sink_file, writer);
	ok = ok && write_array(writer, &part->after);
	marker_trailer(&marker, bson_count_keys(&part->before) + atomic_load(&part->exported) +
	    bson_count_keys(&part->after), t0);
	if (ok)
		ok = stream_write(writer, &marker);
	bson_destroy(&marker);
	if (!stream_finish(writer))
		ok = false;
	if (ok && rename(temp, path) != 0) {
		warnmsg("%s: %s", path, strerror(errno));
		ok = false;
	}
	free(temp);
	free(path);
	return ok;
}

static struct chunk *
chunk_new(int part)
{
	struct chunk *chunk = xcalloc(1, sizeof(*chunk));

	chunk->part = part;
	return chunk;
}

/* The queue is bounded, so a slow output holds memory at jobs * 2 chunks. */
static void
chunk_send(struct chunk *chunk)
{
	work_queue_put(chunks, chunk);
}

struct chunk_sink {
	int part;
	struct chunk *chunk;
};

static bool
sink_chunk(void *context, const bson_t *entry)
{
	struct chunk_sink *sink = context;
	struct chunk *chunk = sink->chunk;

	if (chunk->length + entry->len > chunk->capacity) {
		chunk->capacity = chunk->length + entry->len + CHUNK_BYTES;
		chunk->data = xrealloc(chunk->data, chunk->capacity);
	}
	memcpy(chunk->data + chunk->length, bson_get_data(entry), entry->len);
	chunk->length += entry->len;
	chunk->entries++;
	if (chunk->length >= CHUNK_BYTES) {
		chunk_send(chunk);
		sink->chunk = chunk_new(sink->part);
	}
	return true;
}

static bool
export_part_chunks(mongoc_client_t *client, int index)
{
	struct chunk_sink sink = { index, chunk_new(index) };
	bool ok = true;

	if (parts[index]->documents)
		ok = export_documents(client, parts[index], sink_chunk, &sink);
	sink.chunk->last = ok;
	sink.chunk->failed = !ok;
	chunk_send(sink.chunk);
	return ok;
}

static int
take_part(void)
{
	int index = -1;

	if (pthread_mutex_lock(&parts_mutex) != 0)
		die(EXIT_LOCAL, "pthread_mutex_lock failed");
	while (next_part < part_count && parts[next_part]->done)
		next_part++;
	if (next_part < part_count && !cli_stop && !atomic_load(&failed))
		index = next_part++;
	pthread_mutex_unlock(&parts_mutex);
	return index;
}

static void *
worker_main(void *unused)
{
	mongoc_client_t *client = mongoc_client_pool_pop(pool);
	int index;
	bool ok = true;

	(void)unused;
	while (ok && (index = take_part()) >= 0) {
		ok = opt.directory ? export_part_file(client, parts[index]) :
		    export_part_chunks(client, index);
		if (ok && opt.directory)
			parts[index]->done = true;
	}
	if (!ok && !cli_stop && !atomic_load(&failed)) {
		/* A local failure (a write); server failures set failed already. */
		atomic_store(&failed, true);
	}
	mongoc_client_pool_push(pool, client);
	pthread_mutex_lock(&parts_mutex);
	if (--workers_running == 0)
		work_queue_close(chunks);
	pthread_mutex_unlock(&parts_mutex);
	return NULL;
}

static void
start_workers(pthread_t *threads)
{
	long k;

	chunks = work_queue_new((size_t)opt.jobs * 2);
	workers_running = (int)opt.jobs;
	for (k = 0; k < opt.jobs; k++)
		if (pthread_create(&threads[k], NULL, worker_main, NULL) != 0)
			die(EXIT_LOCAL, "pthread_create failed");
}

static void
join_workers(pthread_t *threads)
{
	long k;

	for (k = 0; k < opt.jobs; k++)
		pthread_join(threads[k], NULL);
	work_queue_free(chunks);
	chunks = NULL;
}

/* --- the writer ------------------------------------------------------- */

/* The next chunk, or NULL when the workers are gone and the queue empty. */
static struct chunk *
chunk_receive(void)
{
	void *chunk;

	for (;;) {
		switch (work_queue_take(chunks, 1000, &chunk)) {
		case WORK_ITEM:
			work_queue_done(chunks);
			return chunk;
		case WORK_TIMEOUT:
			report_progress(false);
			break;
		case WORK_CLOSED:
			return NULL;
		}
	}
}
/*
 * One stream: every create first, then the workers' chunks as they come
 * (collections may interleave), and a collection's indexes once its last
 * part is in. The trailer only when every part arrived whole.
 */
static bool
write_one_stream(stream_writer *writer)
{
	int *parts_left = xcalloc((size_t)collection_count + 1, sizeof(*parts_left));
	uint64_t entries = 0;
	struct chunk *chunk;
	bool ok = true;
	bson_t marker;
	int k, complete = 0;

	for (k = 0; k < part_count; k++)
		parts_left[parts[k]->collection]++;
	marker_header(&marker, "snapshot", source, t0);
	ok = stream_write(writer, &marker);
	bson_destroy(&marker);
	for (k = 0; ok && k < part_count; k++) {
		ok = write_array(writer, &parts[k]->before);
		entries += bson_count_keys(&parts[k]->before);
	}
	while ((chunk = chunk_receive()) != NULL) {
		struct part *part = parts[chunk->part];

		if (ok && chunk->length > 0)
			ok = stream_write_raw(writer, chunk->data, (uint32_t)chunk->length);
		entries += chunk->entries;
		if (ok && chunk->last && --parts_left[part->collection] == 0) {
			/* after is set on the last part of a collection only */
			for (k = 0; k < part_count; k++)
				if (parts[k]->collection == part->collection) {
					ok = ok && write_array(writer, &parts[k]->after);
					entries += bson_count_keys(&parts[k]->after);
				}
		}
		complete += chunk->last;
		free(chunk->data);
		free(chunk);
		report_progress(false);
		if (!ok)
			break;
	}
	if (!ok) {
		/* The output is gone: stop the workers, drain what they send. */
		atomic_store(&failed, true);
		while ((chunk = chunk_receive()) != NULL) {
			free(chunk->data);
			free(chunk);
		}
	}
	if (ok && complete == part_count && !cli_stop && !atomic_load(&failed)) {
		marker_trailer(&marker, entries, t0);
		ok = stream_write(writer, &marker);
		bson_destroy(&marker);
	} else {
		ok = false;
	}
	if (!stream_finish(writer))
		ok = false;
	free(parts_left);
	return ok;
}

/* -o DIR: the workers send no chunks; the queue closes when the last one is done. */
static bool
wait_for_workers(pthread_t *threads)
{
	int k;

	while (chunk_receive() != NULL)
		continue;
	join_workers(threads);
	for (k = 0; k < part_count; k++)
		if (!parts[k]->done)
			return false;
	return true;
}
/* With --progress, a line at most once a second, and one at the end. */
static void
report_progress(bool final)
{
	struct timespec now;
	uint64_t documents = 0;
	double seconds;
	int k, done = 0;

	if (!opt.progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && now.tv_sec - last_report.tv_sec < 1)
		return;
	last_report = now;
	for (k = 0; k < part_count; k++) {
		documents += atomic_load(&parts[k]->exported);
		done += parts[k]->done;
	}
	seconds = (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
	fprintf(stderr, "snap-export: %s%llu documents, %.1f MB, %.0f docs/s",
	    final ? "done: " : "", (unsigned long long)documents,
	    (double)atomic_load(&bytes_exported) / 1e6,
	    seconds > 0 ? (double)documents / seconds : 0.0);
	if (opt.directory)
		fprintf(stderr, ", %d/%d parts", done, part_count);
	fprintf(stderr, "\n");
}
