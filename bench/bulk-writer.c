/*
 * bulk-writer - the benchmarks' baseline writer: its writes are plain
 * libmongoc, no oplogkit code (of libcommon it takes only the synthetic
 * documents and the entry field readers). It inserts documents into one collection in unordered
 * bulk batches, which is as fast as a client can load a server, so
 * oplog-apply and snap-import are measured against it.
 *
 *   bulk-writer [--batch N] [--drop] URI NS [FILE]   documents of FILE (BSON)
 *   bulk-writer --generate N [--seed S] [--batch N] [--drop] URI NS
 *   bulk-writer --oplog FILE [--batch N] [--jobs N] URI
 *
 * --oplog is the like baseline of oplog-apply: the same i, u and d
 * operations an oplog stream holds, issued as a plain client would (an
 * insert, an update by _id with $set/$unset, a delete by _id), in
 * unordered bulks of --batch per collection, over --jobs connections by
 * hash of (ns, _id). $v:2 diffs become the $set/$unset a client sends
 * (array resizes are left out); commands are not run: the caller creates
 * nothing the stream's writes do not create themselves.
 *
 * --generate makes N documents of 100 B to 16 KiB (most small), with
 * _id 0..N-1, gen-oplog's (common/synth.h). Prints the count and the seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "clock.h"
#include "die.h"
#include "entry.h"
#include "options.h"
#include "synth.h"

#define PROG "bulk-writer"

struct source {
	bson_reader_t *reader;	/* NULL when generating */
	long long remaining;	/* documents still to generate */
	long long next_id;
	struct synth synth;
	char pad[SYNTH_PAD_MAX];
};

/* FerretDB has no endSessions; libmongoc warns about it at every exit. */
static void
log_quietly(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	if (strstr(message, "endSessions") == NULL)
		mongoc_log_default_handler(level, domain, message, data);
}

static void
generate(struct source *src, bson_t *doc)
{
	bson_init(doc);
	BSON_APPEND_INT64(doc, "_id", src->next_id++);
	synth_append_fields(&src->synth, doc, src->pad);
}

/* Fill batch with up to limit documents; returns how many. */
static int
fill_batch(struct source *src, bson_t *batch, int limit)
{
	int n = 0;

	while (n < limit) {
		if (src->reader == NULL) {
			if (src->remaining == 0)
				break;
			src->remaining--;
			generate(src, &batch[n++]);
			continue;
		}
		bool eof = false;
		const bson_t *doc = bson_reader_read(src->reader, &eof);

		if (doc == NULL) {
			if (!eof)
				die(EXIT_DIFFERENT, "input: corrupt BSON after document %lld", src->next_id);
			break;
		}
		bson_copy_to(doc, &batch[n++]);
		src->next_id++;
	}
	return n;
}

static void
insert_batch(mongoc_collection_t *coll, bson_t *batch, int n)
{
	bson_t opts = BSON_INITIALIZER, reply;
	bson_error_t error;
	mongoc_bulk_operation_t *bulk;

	BSON_APPEND_BOOL(&opts, "ordered", false);
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
	for (int i = 0; i < n; i++)
		if (!mongoc_bulk_operation_insert_with_opts(bulk, &batch[i], NULL, &error))
			die(EXIT_DIFFERENT, "insert: %s", error.message);
	if (mongoc_bulk_operation_execute(bulk, &reply, &error) == 0)
		die(EXIT_DIFFERENT, "bulk insert: %s", error.message);
	bson_destroy(&reply);
	bson_destroy(&opts);
	mongoc_bulk_operation_destroy(bulk);
}

/* --- --oplog: the same operations as a stream ------------------------- */

struct ops {
	bson_t **entries;	/* pointers: a bson_t may point into itself, so never moves */
	size_t count;
	const char *uri;
	long long batch;
	int jobs;
};

struct job {
	struct ops *ops;
	int index;
	long long sent, errors;
};

/* A $v:2 diff as the $set/$unset a client would send, under prefix. */
static void
diff_translate(bson_iter_t *diff, const char *prefix, bool array, bson_t *set, bson_t *unset)
{
	while (bson_iter_next(diff)) {
		const char *key = bson_iter_key(diff);
		char path[512];
		bson_iter_t section;

		if (strcmp(key, "a") == 0 || strcmp(key, "l") == 0)
			continue;
		if (array && (key[0] == 'u' || key[0] == 's')) {
			snprintf(path, sizeof(path), "%s%s", prefix, key + 1);
			if (key[0] == 'u') {
				bson_append_iter(set, path, -1, diff);
			} else if (bson_iter_recurse(diff, &section)) {
				bson_iter_t probe = section;
				bool sub_array = bson_iter_find(&probe, "a") && bson_iter_as_bool(&probe);

				strncat(path, ".", sizeof(path) - strlen(path) - 1);
				diff_translate(&section, path, sub_array, set, unset);
			}
			continue;
		}
		if ((strcmp(key, "u") == 0 || strcmp(key, "i") == 0 || strcmp(key, "d") == 0) &&
		    bson_iter_recurse(diff, &section)) {
			while (bson_iter_next(&section)) {
				snprintf(path, sizeof(path), "%s%s", prefix, bson_iter_key(&section));
				if (key[0] == 'd')
					BSON_APPEND_UTF8(unset, path, "");
				else
					bson_append_iter(set, path, -1, &section);
			}
		} else if (key[0] == 's' && bson_iter_recurse(diff, &section)) {
			bson_iter_t probe = section;
			bool sub_array = bson_iter_find(&probe, "a") && bson_iter_as_bool(&probe);

			snprintf(path, sizeof(path), "%s%s.", prefix, key + 1);
			diff_translate(&section, path, sub_array, set, unset);
		}
	}
}

/* The update a client sends for an oplog u: o as is, or a diff translated. */
static bool
update_of(const bson_t *o, bson_t *update, bool *replace)
{
	bson_iter_t iter, diff;
	bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER;

	*replace = false;
	bson_init(update);
	if (bson_iter_init_find(&iter, o, "diff") && bson_iter_recurse(&iter, &diff)) {
		diff_translate(&diff, "", false, &set, &unset);
		if (!bson_empty(&set))
			BSON_APPEND_DOCUMENT(update, "$set", &set);
		if (!bson_empty(&unset))
			BSON_APPEND_DOCUMENT(update, "$unset", &unset);
	} else {
		bson_iter_init(&iter, o);
		while (bson_iter_next(&iter)) {
			if (strcmp(bson_iter_key(&iter), "$v") == 0)
				continue;
			if (bson_iter_key(&iter)[0] != '$')
				*replace = true;
			bson_append_iter(update, NULL, 0, &iter);
		}
	}
	bson_destroy(&set);
	bson_destroy(&unset);
	return !bson_empty(update);
}

static uint64_t
route(const char *ns, const bson_t *o)
{
	uint64_t h = 1469598103934665603ULL;
	bson_iter_t id;
	const uint8_t *p = (const uint8_t *)ns;

	while (*p != '\0')
		h = (h ^ *p++) * 1099511628211ULL;
	if (bson_iter_init_find(&id, o, "_id")) {
		const bson_value_t *v = bson_iter_value(&id);

		h ^= v->value_type == BSON_TYPE_OID ? *(const uint64_t *)(v->value.v_oid.bytes + 4) :
		    (uint64_t)bson_iter_as_int64(&id);
		h *= 1099511628211ULL;
	}
	return h;
}

static void
run_bulk(struct job *job, mongoc_bulk_operation_t **bulk, long long *queued)
{
	bson_t reply;
	bson_error_t error;
	bson_iter_t iter;

	if (*bulk == NULL)
		return;
	if (mongoc_bulk_operation_execute(*bulk, &reply, &error) == 0) {
		if (!bson_iter_init_find(&iter, &reply, "writeErrors"))
			die(EXIT_DIFFERENT, "bulk: %s", error.message);
		job->errors++;
	}
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(*bulk);
	*bulk = NULL;
	job->sent += *queued;
	*queued = 0;
}

static void *
job_run(void *arg)
{
	struct job *job = arg;
	struct ops *ops = job->ops;
	mongoc_client_t *client = mongoc_client_new(ops->uri);
	mongoc_collection_t *coll = NULL;
	mongoc_bulk_operation_t *bulk = NULL;
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
	char current[256] = "";
	long long queued = 0;

	if (client == NULL)
		die(EXIT_DIFFERENT, "%s: cannot make a client", ops->uri);
	for (size_t k = 0; k < ops->count; k++) {
		const bson_t *entry = ops->entries[k];
		const char *op = entry_op(entry), *ns = entry_ns(entry);
		const char *dot = strchr(ns, '.');
		bson_t o, o2, update, selector = BSON_INITIALIZER;
		bson_iter_t id;
		bool replace;

		if ((strcmp(op, "i") != 0 && strcmp(op, "u") != 0 && strcmp(op, "d") != 0) ||
		    dot == NULL || !entry_object(entry, "o", &o))
			continue;
		if (op[0] == 'u' && !entry_object(entry, "o2", &o2))
			continue;
		if (route(ns, op[0] == 'u' ? &o2 : &o) % (uint64_t)ops->jobs != (uint64_t)job->index)
			continue;
		if (strcmp(ns, current) != 0 || queued >= ops->batch) {
			run_bulk(job, &bulk, &queued);
			if (strcmp(ns, current) != 0) {
				char db[128];

				if (coll != NULL)
					mongoc_collection_destroy(coll);
				snprintf(db, sizeof(db), "%.*s", (int)(dot - ns), ns);
				coll = mongoc_client_get_collection(client, db, dot + 1);
				snprintf(current, sizeof(current), "%s", ns);
			}
		}
		if (bulk == NULL)
			bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
		if (bson_iter_init_find(&id, op[0] == 'u' ? &o2 : &o, "_id"))
			bson_append_iter(&selector, "_id", 3, &id);
		if (op[0] == 'i') {
			mongoc_bulk_operation_insert(bulk, &o);
		} else if (op[0] == 'd') {
			mongoc_bulk_operation_remove_one(bulk, &selector);
		} else if (update_of(&o, &update, &replace)) {
			if (replace)
				mongoc_bulk_operation_replace_one(bulk, &selector, &update, false);
			else
				mongoc_bulk_operation_update_one(bulk, &selector, &update, false);
			bson_destroy(&update);
		} else {
			bson_destroy(&update);
		}
		bson_destroy(&selector);
		queued++;
	}
	run_bulk(job, &bulk, &queued);
	if (coll != NULL)
		mongoc_collection_destroy(coll);
	bson_destroy(opts);
	mongoc_client_destroy(client);
	return NULL;
}

static int
oplog_mode(const char *file, const char *uri, long long batch, int jobs)
{
	struct ops ops = { NULL, 0, uri, batch, jobs };
	bson_reader_t *reader;
	bson_error_t error;
	const bson_t *doc;
	bool eof = false;
	struct job *job = calloc((size_t)jobs, sizeof(*job));
	pthread_t *threads = calloc((size_t)jobs, sizeof(*threads));
	long long sent = 0, errors = 0;
	struct timespec started;

	reader = bson_reader_new_from_file(file, &error);
	if (reader == NULL || job == NULL || threads == NULL)
		die(EXIT_DIFFERENT, "%s: %s", file, reader == NULL ? error.message : "out of memory");
	while ((doc = bson_reader_read(reader, &eof)) != NULL) {
		ops.entries = realloc(ops.entries, (ops.count + 1) * sizeof(*ops.entries));
		if (ops.entries == NULL)
			die(EXIT_DIFFERENT, "out of memory");
		ops.entries[ops.count++] = bson_copy(doc);
	}
	bson_reader_destroy(reader);
	clock_gettime(CLOCK_MONOTONIC, &started);
	for (int k = 0; k < jobs; k++) {
		job[k] = (struct job){ &ops, k, 0, 0 };
		if (pthread_create(&threads[k], NULL, job_run, &job[k]) != 0)
			die(EXIT_DIFFERENT, "cannot start a thread");
	}
	for (int k = 0; k < jobs; k++) {
		pthread_join(threads[k], NULL);
		sent += job[k].sent;
		errors += job[k].errors;
	}
	printf("%lld operations in %.3f s over %d connections, %lld bulks with write errors\n", sent,
	    clock_seconds_since(&started), jobs, errors);
	for (size_t k = 0; k < ops.count; k++)
		bson_destroy(ops.entries[k]);
	free(ops.entries);
	free(threads);
	free(job);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct program program = {
		.name = PROG,
		.synopsis = "[--batch N] [--drop] URI NS [FILE]\n"
		    "       " PROG " --generate N [--seed S] [--batch N] [--drop] URI NS\n"
		    "       " PROG " --oplog FILE [--batch N] [--jobs N] URI",
		.summary = "Load a collection (or replay an oplog stream) as a plain client does.",
		.min_operands = 1, .max_operands = 3,
	};
	struct source *src;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	mongoc_uri_t *uri;
	bson_error_t error;
	bson_t *batch;
	long batch_size = 1000, jobs = 1, generate_count = -1, seed = 0;
	long long total = 0;
	const char *oplog = NULL;
	bool drop = false, generating;
	char db[128];
	const char *dot;
	struct timespec started;
	int first, n;
	const struct option_def table[] = {
		OPT_NUMBER('b', "batch", "N", &batch_size, 1, LONG_MAX, "N documents a bulk (default 1000)"),
		OPT_BOOL('d', "drop", &drop, "drop the collection first"),
		OPT_NUMBER('g', "generate", "N", &generate_count, 0, LONG_MAX,
		    "insert N synthetic documents (common/synth.h), not FILE's"),
		OPT_NUMBER('s', "seed", "S", &seed, 0, LONG_MAX, "with --generate: other documents"),
		OPT_STRING('o', "oplog", "FILE", &oplog, "issue the i, u and d of the stream FILE"),
		OPT_NUMBER('j', "jobs", "N", &jobs, 1, 64, "with --oplog: over N connections"),
		OPT_END(),
	};

	die_init(argv[0]);
	first = options_parse(&program, table, argc, argv);
	argc -= first;
	argv += first;
	generating = generate_count >= 0;
	if (oplog != NULL) {
		if (argc != 1)
			options_usage_error(&program);
		mongoc_init();
		mongoc_log_set_handler(log_quietly, NULL);
		return oplog_mode(oplog, argv[0], batch_size, (int)jobs);
	}
	if (argc < 2 || (generating && argc == 3))
		options_usage_error(&program);
	src = xcalloc(1, sizeof(*src));
	src->synth.state = (uint64_t)seed | 1;
	if (generating)
		src->remaining = generate_count;
	dot = strchr(argv[1], '.');
	if (dot == NULL || dot == argv[1] || dot[1] == '\0' || (size_t)(dot - argv[1]) >= sizeof(db))
		die(EXIT_DIFFERENT, "%s: not a namespace DB.COLLECTION", argv[1]);
	memcpy(db, argv[1], (size_t)(dot - argv[1]));
	db[dot - argv[1]] = '\0';
	memset(src->pad, 'x', sizeof(src->pad));
	if (!generating) {
		int fd = argc == 3 ? open(argv[2], O_RDONLY) : STDIN_FILENO;

		if (fd < 0)
			die(EXIT_DIFFERENT, "%s: %s", argv[2], strerror(errno));
		src->reader = bson_reader_new_from_fd(fd, true);
	}

	mongoc_init();
	mongoc_log_set_handler(log_quietly, NULL);
	uri = mongoc_uri_new_with_error(argv[0], &error);
	if (uri == NULL)
		die(EXIT_DIFFERENT, "%s: %s", argv[0], error.message);
	client = mongoc_client_new_from_uri(uri);
	if (client == NULL)
		die(EXIT_DIFFERENT, "cannot make a client");
	coll = mongoc_client_get_collection(client, db, dot + 1);
	if (drop && !mongoc_collection_drop(coll, &error) && error.code != 26)
		die(EXIT_DIFFERENT, "drop %s: %s", argv[1], error.message);

	batch = calloc((size_t)batch_size, sizeof(*batch));
	if (batch == NULL)
		die(EXIT_DIFFERENT, "out of memory");
	clock_gettime(CLOCK_MONOTONIC, &started);
	while ((n = fill_batch(src, batch, (int)batch_size)) > 0) {
		insert_batch(coll, batch, n);
		for (int i = 0; i < n; i++)
			bson_destroy(&batch[i]);
		total += n;
	}
	printf("%lld documents in %.3f s\n", total, clock_seconds_since(&started));

	free(batch);
	if (src->reader != NULL)
		bson_reader_destroy(src->reader);
	free(src);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return 0;
}
