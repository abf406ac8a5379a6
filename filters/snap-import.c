/*
 * snap-import.c - load a snapshot into a server: collections with their
 * options, documents in large unordered batches over several
 * connections, indexes after the data.
 *
 * Inputs: a snapshot stream (stdin or a file), a directory that
 * snap-export -o wrote (its manifest lists the part files), a mongodump
 * directory (db/coll.bson + coll.metadata.json), or with --into a plain
 * BSON file of documents. One reader (this thread) fills batches; worker
 * threads insert them. A rerun converges: an insert that finds its _id
 * already there becomes a replace of that document.
 *
 * A snapshot stream is done only at its trailer; without one the
 * documents already inserted stay, and the import says it is incomplete.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
/*
 * Memory is bounded by batches: 2 queued per job, one in flight per job
 * and one filling. 4 MiB each keeps --jobs 2 near 28 MiB of documents
 * (the benchmarks saw 16 MiB batches grow past 60 MiB), and is still a
 * large write for the server.
 */
#define BATCH_BYTES (4 * 1024 * 1024)

struct target {
	char ns[NS_SIZE];	/* where it goes, after --rename */
	char db[NS_SIZE];
	char coll[NS_SIZE];
	bool prepared;		/* dropped (--drop) and created */
	bson_t indexes;		/* specs to build after the data (array) */
	atomic_uint_fast64_t documents;
	atomic_uint_fast64_t bytes;
	struct timespec first, last;	/* of its batches, for the rate */
};

enum task_kind { TASK_INSERT, TASK_INDEX };

struct task {
	enum task_kind kind;
	struct target *target;
	uint8_t *data;		/* INSERT: documents back to back; INDEX: one spec */
	size_t length, capacity;
	uint32_t count;
};

static struct {
	bool drop;
	long jobs;
	long batch;
	const char *into;
	bool progress;
	struct conn_options conn;
} opt = { .jobs = 2, .batch = 10000 };

static ns_filter *selection;
static mongoc_client_pool_t *pool;
static mongoc_client_t *client;	/* the reader's: creates, drops */

static struct target **targets;	/* each allocated once: a bson_t must not move */
static size_t target_count;
static struct task *current;	/* the batch being filled */

static work_queue *tasks;	/* from the reader to the workers, 2 per job */
static atomic_bool failed;	/* a worker met an error it could not cure */
static struct timespec started, last_report;

static void read_command_line(int argc, char **argv, const char **input, const char **uri);
static void start_workers(pthread_t *threads);
static void stop_workers(pthread_t *threads);
static void import_stream(stream_reader *reader, bool whole_snapshot);
static void import_directory(const char *path);
static void import_documents(const char *path, const char *ns);
static void drain(void);
static void build_indexes(void);
static void report_progress(bool final);
static void finish_and_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

int
main(int argc, char **argv)
{
	const char *input = NULL, *uri_arg = NULL;
	pthread_t *threads;
	struct stat info;
	char *uri;

	die_init(argv[0]);
	selection = ns_filter_new();
	ns_filter_use_defaults(selection);
	read_command_line(argc, argv, &input, &uri_arg);
	uri = conn_uri_resolve(uri_arg, opt.conn.uri_file, "OPLOGKIT_TARGET_URI");
	cli_catch_signals();
	pool = conn_open_pool(uri, opt.conn.tls_ca_file, (int)opt.jobs + 1);
	client = mongoc_client_pool_pop(pool);
	threads = xcalloc((size_t)opt.jobs, sizeof(*threads));
	clock_gettime(CLOCK_MONOTONIC, &started);
	last_report = started;
	start_workers(threads);

	if (opt.into != NULL) {
		import_documents(input, opt.into);
	} else if (input != NULL && strcmp(input, "-") != 0 && stat(input, &info) == 0 &&
	    S_ISDIR(info.st_mode)) {
		import_directory(input);
	} else {
		stream_reader *reader = stream_open(input);

		if (reader == NULL)
			exit(EXIT_NO_INPUT);
		import_stream(reader, false);
		stream_close(reader);
	}
	drain();
	if (!atomic_load(&failed) && !cli_stop)
		build_indexes();
	drain();
	stop_workers(threads);
	report_progress(true);
	if (atomic_load(&failed))
		die(EXIT_SERVER, "the import failed (see above)");
	if (cli_stop)
		die(EXIT_STOPPED, "stopped by a signal: the import is incomplete");
	mongoc_client_pool_push(pool, client);
	conn_close_pool(pool);
	free(threads);
	free(uri);
	ns_filter_free(selection);
	return EXIT_DONE;
}

static bool
looks_like_uri(const char *text)
{
	return strncmp(text, "mongodb://", 10) == 0 || strncmp(text, "mongodb+srv://", 14) == 0;
}

static void
parse_into(const char *name, const char *text, void *unused)
{
	const char *collection;
	char db[NS_SIZE];

	(void)unused;
	if (!ns_split(text, db, sizeof(db), &collection))
		die(EXIT_USAGE, "%s: not a namespace DB.COLLECTION: '%s'", name, text);
	opt.into = text;
}

static void
read_command_line(int argc, char **argv, const char **input, const char **uri)
{
	static const struct program program = {
		.name = "snap-import",
		.synopsis = "[options] [INPUT] [URI]",
		.summary = "Load a snapshot stream, snap-export or mongodump directory into a server.",
		.details =
		    "INPUT is a stream file (default stdin, zstd or not), a directory written by\n"
		    "snap-export -o, or a mongodump directory. URI is the destination\n"
		    "(--uri-file's or $OPLOGKIT_TARGET_URI otherwise); a lone operand that\n"
		    "starts with mongodb:// is the URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	struct ns_select select = { .filter = selection };
	const struct option_def table[] = {
		OPT_BOOL(0, "drop", &opt.drop, "drop each collection before importing it"),
		OPT_NS_SELECT(&select),
		OPT_NS_RENAME(&select),
		OPT_NUMBER('j', "jobs", "N", &opt.jobs, 1, 64, "insert over N connections (default 2)"),
		OPT_NUMBER(0, "batch", "N", &opt.batch, 1, LONG_MAX,
		    "documents per insert batch (default 10000)"),
		OPT_CALL(0, "into", "NS", parse_into, NULL,
		    "INPUT is a plain BSON file of documents for NS"),
		OPT_PROGRESS(&opt.progress),
		OPT_URI_FILE(&opt.conn),
		OPT_TLS_RETRY(&opt.conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	free(select.args);
	if (argc - first == 2) {
		*input = argv[first];
		*uri = argv[first + 1];
	} else if (argc - first == 1) {
		if (looks_like_uri(argv[first]))
			*uri = argv[first];
		else
			*input = argv[first];
	}
}

/* --- targets ----------------------------------------------------------- */

/*
 * The target of source namespace ns, or NULL when the selection leaves
 * it out. Consecutive entries mostly share one, so the last is cached.
 */
static struct target *
target_of(const char *ns)
{
	static struct target *last;
	static char last_source[NS_SIZE];
	char renamed[NS_SIZE];
	struct target *target;
	const char *collection;
	size_t k;

	if (last_source[0] != '\0' && strcmp(ns, last_source) == 0)
		return last;
	snprintf(last_source, sizeof(last_source), "%s", ns);
	last = NULL;
	if (!ns_match(selection, ns))
		return NULL;
	ns_rename(selection, ns, renamed, sizeof(renamed));
	for (k = 0; k < target_count; k++)
		if (strcmp(targets[k]->ns, renamed) == 0)
			return last = targets[k];
	target = xcalloc(1, sizeof(*target));
	if (!ns_split(renamed, target->db, sizeof(target->db), &collection))
		finish_and_die(EXIT_BAD_STREAM, "%s: not a namespace DB.COLLECTION", renamed);
	snprintf(target->ns, sizeof(target->ns), "%s", renamed);
	snprintf(target->coll, sizeof(target->coll), "%s", collection);
	bson_init(&target->indexes);
	targets = xrealloc(targets, (target_count + 1) * sizeof(*targets));
	targets[target_count++] = target;
	return last = target;
}

static bool
run_command(const char *db, const bson_t *command, bson_error_t *error)
{
	bson_t reply;
	bool ok = conn_command(client, db, command, &reply, error);

	bson_destroy(&reply);
	return ok;
}

static void flush_batch(void);

/*
 * Before the first document of a target: --drop drops it, then create it
 * with options (NULL: none). "Already exists" is what a rerun finds.
 */
static void
prepare_target(struct target *target, const bson_t *options)
{
	bson_t create = BSON_INITIALIZER;
	bson_error_t error;
	bson_iter_t iter;

	if (target->prepared)
		return;
	target->prepared = true;
	if (opt.drop) {
		bson_t *drop = BCON_NEW("drop", BCON_UTF8(target->coll));

		if (!run_command(target->db, drop, &error) &&
		    error.code != MONGO_NAMESPACE_NOT_FOUND)
			finish_and_die(EXIT_SERVER, "%s: drop failed: %s", target->ns, error.message);
		bson_destroy(drop);
	}
	BSON_APPEND_UTF8(&create, "create", target->coll);
	if (options != NULL && bson_iter_init(&iter, options))
		while (bson_iter_next(&iter))
			if (strcmp(bson_iter_key(&iter), "create") != 0)
				bson_append_iter(&create, NULL, 0, &iter);
	if (!run_command(target->db, &create, &error) && error.code != MONGO_NAMESPACE_EXISTS)
		finish_and_die(EXIT_SERVER, "%s: create failed: %s", target->ns, error.message);
	bson_destroy(&create);
}

/*
 * Remember an index spec. Left out: createIndexes' own field, "ns" (old
 * servers' leftover that new ones reject) and "v" (the server's default
 * version is what a new index should get; FerretDB rejects the field).
 */
static void
add_index(struct target *target, const bson_t *spec)
{
	bson_t clean = BSON_INITIALIZER;
	bson_iter_t iter;
	char key[16];
	const char *key_text;

	if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter) &&
	    strcmp(bson_iter_utf8(&iter, NULL), "_id_") == 0)
		return;
	bson_iter_init(&iter, spec);
	while (bson_iter_next(&iter))
		if (strcmp(bson_iter_key(&iter), "createIndexes") != 0 &&
		    strcmp(bson_iter_key(&iter), "ns") != 0 && strcmp(bson_iter_key(&iter), "v") != 0)
			bson_append_iter(&clean, NULL, 0, &iter);
	bson_uint32_to_string(bson_count_keys(&target->indexes), &key_text, key, sizeof(key));
	bson_append_document(&target->indexes, key_text, -1, &clean);
	bson_destroy(&clean);
}

/* --- the queue ------------------------------------------------------- */

static void
task_send(struct task *task)
{
	work_queue_put(tasks, task);
}

/* The next task, or NULL once the queue is closed and empty. */
static struct task *
task_receive(void)
{
	void *task;

	return work_queue_take(tasks, -1, &task) == WORK_ITEM ? task : NULL;
}

static void
task_done(struct task *task)
{
	free(task->data);
	free(task);
	work_queue_done(tasks);
}

/* Send the current batch and wait until every task is done. */
static void
drain(void)
{
	flush_batch();
	while (!work_queue_wait_idle(tasks, 1000))
		report_progress(false);
}

static void
finish_and_die(int status, const char *fmt, ...)
{
	va_list ap;

	/* What was read before the error is good: insert it, then stop. */
	drain();
	va_start(ap, fmt);
	vwarnmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

/* --- batches ----------------------------------------------------------- */

static void
flush_batch(void)
{
	if (current == NULL)
		return;
	if (current->count > 0)
		task_send(current);
	else
		free(current);
	current = NULL;
}

static void
add_document(struct target *target, const uint8_t *data, uint32_t length)
{
	if (current != NULL && current->target != target)
		flush_batch();
	if (current == NULL) {
		current = xcalloc(1, sizeof(*current));
		current->kind = TASK_INSERT;
		current->target = target;
		if (target->first.tv_sec == 0)
			clock_gettime(CLOCK_MONOTONIC, &target->first);
	}
	if (current->length + length > current->capacity) {
		current->capacity = current->length + length + 1024 * 1024;
		current->data = xrealloc(current->data, current->capacity);
	}
	memcpy(current->data + current->length, data, length);
	current->length += length;
	current->count++;
	if (current->count >= (uint32_t)opt.batch || current->length >= BATCH_BYTES)
		flush_batch();
	report_progress(false);
}

/* --- workers ----------------------------------------------------------- */

/* The k-th document of an insert batch (the data is checked already). */
static void
batch_document(const struct task *task, uint32_t index, bson_t *doc)
{
	size_t offset = 0;
	uint32_t length, k;

	for (k = 0;; k++) {
		memcpy(&length, task->data + offset, 4);
		length = BSON_UINT32_FROM_LE(length);
		if (k == index)
			break;
		offset += length;
	}
	bson_init_static(doc, task->data + offset, length);
}

/*
 * Documents whose _id was there already (a rerun, or a fuzzy snapshot's
 * overlap) are replaced: the import converges on the snapshot.
 */
static bool
replace_duplicates(mongoc_collection_t *collection, const struct task *task,
    const bson_t *reply, bson_error_t *error)
{
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
	bson_t *upsert = BCON_NEW("upsert", BCON_BOOL(true));
	mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(collection, opts);
	bson_iter_t iter, list, item;
	bool any = false, ok = true;
	bson_t retry = BSON_INITIALIZER;

	if (bson_iter_init_find(&iter, reply, "writeErrors") && bson_iter_recurse(&iter, &list)) {
		while (ok && bson_iter_next(&list)) {
			int32_t code = 0, index = -1;
			bson_t doc, selector = BSON_INITIALIZER;
			bson_iter_t id;

			if (bson_iter_recurse(&list, &item) && bson_iter_find(&item, "index"))
				index = bson_iter_as_int64(&item);
			if (bson_iter_recurse(&list, &item) && bson_iter_find(&item, "code"))
				code = bson_iter_as_int64(&item);
			if (code != MONGO_DUPLICATE_KEY || index < 0 || (uint32_t)index >= task->count) {
				if (bson_iter_recurse(&list, &item) && bson_iter_find(&item, "errmsg"))
					bson_set_error(error, 0, (uint32_t)code, "%s",
					    bson_iter_utf8(&item, NULL));
				ok = false;
				break;
			}
			batch_document(task, (uint32_t)index, &doc);
			if (bson_iter_init_find(&id, &doc, "_id"))
				bson_append_iter(&selector, "_id", 3, &id);
			ok = mongoc_bulk_operation_replace_one_with_opts(bulk, &selector, &doc, upsert, error);
			bson_destroy(&selector);
			any = true;
		}
	}
	if (ok && any && !mongoc_bulk_operation_execute(bulk, &retry, error))
		ok = false;
	bson_destroy(&retry);
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(upsert);
	bson_destroy(opts);
	return ok && any;
}

static bool
insert_once(mongoc_client_t *worker, const struct task *task, bson_error_t *error)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(worker, task->target->db,
	    task->target->coll);
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
	mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(collection, opts);
	uint32_t k;
	bson_t doc, reply = BSON_INITIALIZER;
	bool ok = true;

	for (k = 0; ok && k < task->count; k++) {
		batch_document(task, k, &doc);
		ok = mongoc_bulk_operation_insert_with_opts(bulk, &doc, NULL, error);
	}
	if (ok && !mongoc_bulk_operation_execute(bulk, &reply, error)) {
		ok = error->domain != MONGOC_ERROR_STREAM &&
		    error->domain != MONGOC_ERROR_SERVER_SELECTION &&
		    replace_duplicates(collection, task, &reply, error);
	}
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(opts);
	mongoc_collection_destroy(collection);
	return ok;
}

static bool
run_insert(mongoc_client_t *worker, struct task *task)
{
	struct target *target = task->target;
	retry_policy policy;
	bson_error_t error;

	retry_init(&policy, 60000);
	while (!insert_once(worker, task, &error)) {
		if (!retry_again(&policy, &error)) {
			warnmsg("%s: insert failed: %s", target->ns, error.message);
			return false;
		}
	}
	atomic_fetch_add(&target->documents, task->count);
	atomic_fetch_add(&target->bytes, task->length);
	clock_gettime(CLOCK_MONOTONIC, &target->last);
	return true;
}

/* FerretDB reports a unique index over duplicates as SQLite's words. */
static bool
duplicate_key(const bson_error_t *error)
{
	return error->code == MONGO_DUPLICATE_KEY || strstr(error->message, "duplicate key") != NULL ||
	    strstr(error->message, "UNIQUE constraint failed") != NULL;
}

static bool
run_index(mongoc_client_t *worker, struct task *task)
{
	struct target *target = task->target;
	bson_t spec, command = BSON_INITIALIZER, list, reply;
	bson_error_t error;
	bson_iter_t iter;
	const char *name;
	bool ok;

	bson_init_static(&spec, task->data, task->length);
	BSON_APPEND_UTF8(&command, "createIndexes", target->coll);
	BSON_APPEND_ARRAY_BEGIN(&command, "indexes", &list);
	BSON_APPEND_DOCUMENT(&list, "0", &spec);
	bson_append_array_end(&command, &list);
	ok = conn_command(worker, target->db, &command, &reply, &error);
	name = bson_iter_init_find(&iter, &spec, "name") && BSON_ITER_HOLDS_UTF8(&iter) ?
	    bson_iter_utf8(&iter, NULL) : "?";
	if (!ok && duplicate_key(&error)) {
		/*
		 * A fuzzy snapshot may hold two documents with one unique key
		 * (one changed after it was read); the oplog replay from T0
		 * repairs the data, and the index can only be built after.
		 */
		warnmsg("%s: unique index %s not built: the snapshot holds duplicate keys "
		    "(a fuzzy copy); build it after oplog-apply has replayed from T0",
		    target->ns, name);
		ok = true;
	} else if (!ok) {
		warnmsg("%s: index %s failed: %s", target->ns, name, error.message);
	}
	bson_destroy(&reply);
	bson_destroy(&command);
	return ok;
}

static void *
worker_main(void *unused)
{
	mongoc_client_t *worker = mongoc_client_pool_pop(pool);
	struct task *task;

	(void)unused;
	while ((task = task_receive()) != NULL) {
		bool ok = atomic_load(&failed) ||
		    (task->kind == TASK_INSERT ? run_insert(worker, task) : run_index(worker, task));

		if (!ok)
			atomic_store(&failed, true);
		task_done(task);
	}
	mongoc_client_pool_push(pool, worker);
	return NULL;
}

static void
start_workers(pthread_t *threads)
{
	long k;

	tasks = work_queue_new((size_t)opt.jobs * 2);
	for (k = 0; k < opt.jobs; k++)
		if (pthread_create(&threads[k], NULL, worker_main, NULL) != 0)
			die(EXIT_LOCAL, "pthread_create failed");
}

static void
stop_workers(pthread_t *threads)
{
	long k;

	work_queue_close(tasks);
	for (k = 0; k < opt.jobs; k++)
		pthread_join(threads[k], NULL);
	work_queue_free(tasks);
	tasks = NULL;
}

/* Indexes once all data is in: one build per index, in parallel. */
static void
build_indexes(void)
{
	bson_iter_t iter;
	size_t k;

	for (k = 0; k < target_count; k++) {
		if (!bson_iter_init(&iter, &targets[k]->indexes))
			continue;
		while (bson_iter_next(&iter)) {
			struct task *task = xcalloc(1, sizeof(*task));
			const uint8_t *data;
			uint32_t length;

			if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
				continue;
			bson_iter_document(&iter, &length, &data);
			task->kind = TASK_INDEX;
			task->target = targets[k];
			task->data = xmalloc(length);
			memcpy(task->data, data, length);
			task->length = length;
			task_send(task);
		}
	}
}

/* --- streams ------------------------------------------------------------ */

static void
import_command(stream_reader *reader, const bson_t *entry)
{
	const char *name = entry_command(entry);
	char ns[2][256];
	struct target *target;
	bson_iter_t iter, list;
	bson_t o, spec;

	if (command_namespaces(entry, ns) < 1 || !entry_object(entry, "o", &o))
		finish_and_die(EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: a command without "
		    "a collection", stream_name(reader), (unsigned long long)stream_count(reader),
		    (unsigned long long)stream_offset(reader));
	target = target_of(ns[0]);
	if (target == NULL)
		return;
	if (strcmp(name, "create") == 0) {
		flush_batch();
		prepare_target(target, &o);
	} else if (strcmp(name, "createIndexes") == 0) {
		add_index(target, &o);
	} else if (strcmp(name, "commitIndexBuild") == 0 && bson_iter_init_find(&iter, &o, "indexes") &&
	    bson_iter_recurse(&iter, &list)) {
		while (bson_iter_next(&list)) {
			const uint8_t *data;
			uint32_t length;

			if (!BSON_ITER_HOLDS_DOCUMENT(&list))
				continue;
			bson_iter_document(&list, &length, &data);
			if (bson_init_static(&spec, data, length))
				add_index(target, &spec);
		}
	} else if (strcmp(name, "startIndexBuild") != 0) {
		finish_and_die(EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: %s is not a snapshot "
		    "entry (replay oplogs with oplog-apply)", stream_name(reader),
		    (unsigned long long)stream_count(reader),
		    (unsigned long long)stream_offset(reader), name);
	}
}

static void
import_insert(stream_reader *reader, const bson_t *entry)
{
	struct target *target = target_of(entry_ns(entry));
	bson_t o;

	if (target == NULL)
		return;
	if (!entry_object(entry, "o", &o))
		finish_and_die(EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: insert without o",
		    stream_name(reader), (unsigned long long)stream_count(reader),
		    (unsigned long long)stream_offset(reader));
	if (!target->prepared) {
		flush_batch();
		prepare_target(target, NULL);
	}
	add_document(target, bson_get_data(&o), o.len);
}

static void
check_header(stream_reader *reader, const bson_t *entry)
{
	const char *kind = entry_stream_kind(entry);

	if (kind[0] != '\0' && strcmp(kind, "snapshot") != 0)
		finish_and_die(EXIT_BAD_STREAM, "%s: an %s stream, not a snapshot: replay it with "
		    "oplog-apply", stream_name(reader), kind);
}

/*
 * Import every entry. Our streams open with a header; each header must
 * be closed by a trailer before the next header or the end. whole_snapshot
 * requires a header too (a part file of snap-export -o).
 */
static void
import_stream(stream_reader *reader, bool whole_snapshot)
{
	const bson_t *entry;
	bool open = false, any_header = false;
	int status = STREAM_END;

	while (!cli_stop && !atomic_load(&failed) &&
	    (status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		const char *op = entry_op(entry);

		if (entry_is_header(entry)) {
			if (open)
				break;
			check_header(reader, entry);
			open = any_header = true;
		} else if (entry_is_trailer(entry)) {
			open = false;
		} else if (strcmp(op, "i") == 0) {
			import_insert(reader, entry);
		} else if (strcmp(op, "c") == 0) {
			import_command(reader, entry);
		} else if (strcmp(op, "n") != 0) {
			finish_and_die(EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: op '%s' is not "
			    "a snapshot entry (replay oplogs with oplog-apply)", stream_name(reader),
			    (unsigned long long)stream_count(reader),
			    (unsigned long long)stream_offset(reader), op);
		}
	}
	if (cli_stop || atomic_load(&failed))
		return;
	if (status == STREAM_ERROR) {
		drain();
		stream_die(reader);
	}
	if (open || (whole_snapshot && !any_header))
		finish_and_die(EXIT_BAD_STREAM, "%s: incomplete snapshot: no trailer%s",
		    stream_name(reader), open && status == STREAM_ENTRY ?
		    " before the next header" : "");
}

/* --with --into: every frame is a document of ns. */
static void
import_documents(const char *path, const char *ns)
{
	stream_reader *reader = stream_open(path);
	struct target *target = target_of(ns);
	const bson_t *doc;
	int status = STREAM_END;

	if (reader == NULL)
		exit(EXIT_NO_INPUT);
	if (target == NULL)
		die(EXIT_USAGE, "--into %s: excluded by the namespace selection", ns);
	prepare_target(target, NULL);
	while (!cli_stop && !atomic_load(&failed) &&
	    (status = stream_next(reader, &doc)) == STREAM_ENTRY)
		add_document(target, bson_get_data(doc), doc->len);
	if (status == STREAM_ERROR) {
		drain();
		stream_die(reader);
	}
	stream_close(reader);
}

/* --- directories ---------------------------------------------------------- */

static char *
path_join(const char *dir, const char *name)
{
	size_t length = strlen(dir) + strlen(name) + 2;
	char *path = xmalloc(length);

	snprintf(path, length, "%s/%s", dir, name);
	return path;
}

static char *
read_whole_file(const char *path, size_t *length)
{
	FILE *file = fopen(path, "r");
	char *data = NULL;
	size_t used = 0, capacity = 0, got;

	if (file == NULL)
		die(EXIT_BAD_STREAM, "%s: %s", path, strerror(errno));
	do {
		if (used + 65536 + 1 > capacity) {
			capacity = (used + 65536 + 1) * 2;
			data = xrealloc(data, capacity);
		}
		got = fread(data + used, 1, 65536, file);
		used += got;
	} while (got > 0);
	if (ferror(file))
		die(EXIT_BAD_STREAM, "%s: %s", path, strerror(errno));
	fclose(file);
	data[used] = '\0';
	*length = used;
	return data;
}

static bson_t *
read_json_file(const char *path)
{
	bson_error_t error;
	size_t length;
	char *json = read_whole_file(path, &length);
	bson_t *doc = bson_new_from_json((const uint8_t *)json, (ssize_t)length, &error);

	if (doc == NULL)
		finish_and_die(EXIT_BAD_STREAM, "%s: %s", path, error.message);
	free(json);
	return doc;
}

/* A snap-export -o directory: its part files in manifest order, each whole. */
static void
import_parts(const char *dir, const char *manifest_path)
{
	bson_t *manifest = read_json_file(manifest_path);
	bson_iter_t iter, list, item;

	if (!bson_iter_init_find(&iter, manifest, "parts") || !bson_iter_recurse(&iter, &list))
		finish_and_die(EXIT_BAD_STREAM, "%s: no parts", manifest_path);
	while (bson_iter_next(&list) && !cli_stop && !atomic_load(&failed)) {
		stream_reader *reader;
		char *path;

		if (!bson_iter_recurse(&list, &item) || !bson_iter_find(&item, "file") ||
		    !BSON_ITER_HOLDS_UTF8(&item) || strchr(bson_iter_utf8(&item, NULL), '/') != NULL)
			finish_and_die(EXIT_BAD_STREAM, "%s: a part without a file name", manifest_path);
		path = path_join(dir, bson_iter_utf8(&item, NULL));
		reader = stream_open(path);
		if (reader == NULL)
			finish_and_die(EXIT_BAD_STREAM, "%s: incomplete snapshot: a part is missing "
			    "(rerun snap-export -o %s)", path, dir);
		import_stream(reader, true);
		stream_close(reader);
		free(path);
	}
	bson_destroy(manifest);
}

static bool
has_suffix(const char *name, const char *suffix)
{
	size_t length = strlen(name), suffix_length = strlen(suffix);

	return length > suffix_length && strcmp(name + length - suffix_length, suffix) == 0;
}

/* mongodump's metadata: options for the create, index specs for later. */
static void
import_metadata(struct target *target, const char *path)
{
	bson_t *metadata = read_json_file(path);
	bson_iter_t iter, list;
	bson_t options, spec;
	const uint8_t *data;
	uint32_t length;

	if (bson_iter_init_find(&iter, metadata, "options") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
		bson_iter_document(&iter, &length, &data);
		if (bson_init_static(&options, data, length))
			prepare_target(target, &options);
	}
	prepare_target(target, NULL);
	if (bson_iter_init_find(&iter, metadata, "indexes") && bson_iter_recurse(&iter, &list)) {
		while (bson_iter_next(&list)) {
			if (!BSON_ITER_HOLDS_DOCUMENT(&list))
				continue;
			bson_iter_document(&list, &length, &data);
			if (bson_init_static(&spec, data, length))
				add_index(target, &spec);
		}
	}
	bson_destroy(metadata);
}

static void
import_dump_collection(const char *dir, const char *db, const char *coll)
{
	char ns[NS_SIZE], name[NS_SIZE + 32];
	struct target *target;
	stream_reader *reader;
	const bson_t *doc;
	struct stat info;
	char *path;
	int status = STREAM_END;

	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	target = target_of(ns);
	if (target == NULL)
		return;
	flush_batch();
	snprintf(name, sizeof(name), "%s.metadata.json", coll);
	path = path_join(dir, name);
	if (stat(path, &info) == 0)
		import_metadata(target, path);
	else
		prepare_target(target, NULL);
	free(path);
	snprintf(name, sizeof(name), "%s.bson", coll);
	path = path_join(dir, name);
	if (stat(path, &info) != 0) {
		free(path);
		return;		/* a view: its metadata is all */
	}
	reader = stream_open(path);
	if (reader == NULL)
		finish_and_die(EXIT_BAD_STREAM, "%s: cannot read", path);
	while (!cli_stop && !atomic_load(&failed) &&
	    (status = stream_next(reader, &doc)) == STREAM_ENTRY)
		add_document(target, bson_get_data(doc), doc->len);
	if (status == STREAM_ERROR) {
		drain();
		stream_die(reader);
	}
	stream_close(reader);
	free(path);
}

static int
only_visible(const struct dirent *entry)
{
	return entry->d_name[0] != '.';
}

static void
import_dump_database(const char *dir, const char *db)
{
	struct dirent **names;
	int count, k;

	count = scandir(dir, &names, only_visible, alphasort);
	if (count < 0)
		finish_and_die(EXIT_BAD_STREAM, "%s: %s", dir, strerror(errno));
	for (k = 0; k < count; k++) {
		const char *name = names[k]->d_name;
		char coll[NS_SIZE], other[NS_SIZE + 32];
		struct stat info;
		char *path;

		if (has_suffix(name, ".gz"))
			finish_and_die(EXIT_BAD_STREAM, "%s/%s: gzip dumps are not read: gunzip "
			    "them first", dir, name);
		if (has_suffix(name, ".metadata.json")) {
			/* A collection with both files is taken at its .bson. */
			snprintf(coll, sizeof(coll), "%.*s", (int)(strlen(name) - 14), name);
			snprintf(other, sizeof(other), "%s.bson", coll);
			path = path_join(dir, other);
			if (stat(path, &info) != 0)
				import_dump_collection(dir, db, coll);
			free(path);
		} else if (has_suffix(name, ".bson")) {
			snprintf(coll, sizeof(coll), "%.*s", (int)(strlen(name) - 5), name);
			import_dump_collection(dir, db, coll);
		}
		free(names[k]);
	}
	free(names);
}

/* mongodump's layout: DIR/DB/COLL.bson; DIR/oplog.bson is for oplog-apply. */
static void
import_dump(const char *dir)
{
	struct dirent **names;
	int count, k;

	count = scandir(dir, &names, only_visible, alphasort);
	if (count < 0)
		die(EXIT_BAD_STREAM, "%s: %s", dir, strerror(errno));
	for (k = 0; k < count; k++) {
		char *path = path_join(dir, names[k]->d_name);
		struct stat info;

		if (stat(path, &info) == 0 && S_ISDIR(info.st_mode) &&
		    ns_match_database(selection, names[k]->d_name))
			import_dump_database(path, names[k]->d_name);
		else if (strcmp(names[k]->d_name, "oplog.bson") == 0)
			warnmsg("%s: not imported: replay it with oplog-apply", path);
		free(path);
		free(names[k]);
	}
	free(names);
}

static void
import_directory(const char *dir)
{
	char *manifest = path_join(dir, "manifest.json");
	struct stat info;

	if (stat(manifest, &info) == 0)
		import_parts(dir, manifest);
	else
		import_dump(dir);
	free(manifest);
}

/* --- progress ------------------------------------------------------------- */

static void
report_progress(bool final)
{
	uint64_t documents = 0, bytes = 0;
	struct timespec now;
	double seconds;
	size_t k;

	if (!opt.progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && now.tv_sec - last_report.tv_sec < 1)
		return;
	last_report = now;
	for (k = 0; k < target_count; k++) {
		documents += atomic_load(&targets[k]->documents);
		bytes += atomic_load(&targets[k]->bytes);
	}
	seconds = clock_seconds_between(&started, &now);
	fprintf(stderr, "snap-import: %s%llu documents, %.1f MB, %.0f docs/s\n",
	    final ? "done: " : "", (unsigned long long)documents, (double)bytes / 1e6,
	    seconds > 0 ? (double)documents / seconds : 0.0);
	if (!final)
		return;
	for (k = 0; k < target_count; k++) {
		struct target *target = targets[k];
		double span = clock_seconds_between(&target->first, &target->last);
		uint64_t count = atomic_load(&target->documents);

		fprintf(stderr, "snap-import: %s: %llu documents, %.1f MB, %.0f docs/s\n",
		    target->ns, (unsigned long long)count,
		    (double)atomic_load(&target->bytes) / 1e6,
		    span > 0 ? (double)count / span : 0.0);
	}
}
