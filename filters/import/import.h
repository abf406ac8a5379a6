/*
 * import.h - snap-import's parts: targets, batches and the queue
 * (targets.c), the workers (workers.c), the stream reader (stream.c), the
 * directory readers (directory.c), the engine (run.c).
 * filters/snap-import.c is the command line.
 *
 * The engine's state is one struct import passed to every function. The
 * reader (the main thread) alone touches targets, current and the cache;
 * workers share only the pool, the task queue and the failed flag.
 */
#ifndef OPLOGKIT_IMPORT_H
#define OPLOGKIT_IMPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "ns.h"
#include "options.h"
#include "progress.h"
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

/* What the command line asks for. */
struct import_config {
	bool drop;
	long jobs;
	long batch;
	const char *into;	/* INPUT is a plain BSON file of documents for this ns */
	bool progress;
	const char *metrics, *metrics_log;	/* --metrics, --metrics-log */
	struct conn_options conn;
};

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

struct import {
	const struct import_config *config;
	ns_filter *selection;
	mongoc_client_pool_t *pool;
	mongoc_client_t *client;	/* the reader's: creates, drops */

	struct target **targets;	/* each allocated once: a bson_t must not move */
	size_t target_count;
	struct target *last_target;	/* target_of's cache: the last source ns ... */
	char last_source[NS_SIZE];	/* ... and where it went */
	struct task *current;	/* the batch being filled */

	work_queue *tasks;	/* from the reader to the workers, 2 per job */
	atomic_bool failed;	/* a worker met an error it could not cure */
	struct timespec started, last_report;

	/* The writer's estimate (estimate.c); the reader alone writes these. */
	unsigned headers;	/* stream headers seen */
	bool estimate_fixed;	/* a -o DIR manifest's: the part headers add nothing */
	bool documents_known, bytes_known;
	uint64_t documents_total, bytes_total;
};

/* run.c: import input (a file, a directory, NULL: stdin) into the server at uri. */
int import_run(const struct import_config *config, ns_filter *selection, const char *input,
    const char *uri);

/* targets.c */
struct target *target_of(struct import *x, const char *ns);	/* NULL: not selected */
void prepare_target(struct import *x, struct target *target, const bson_t *options);
void add_index(struct target *target, const bson_t *spec);
void task_send(struct import *x, struct task *task);
struct task *task_receive(struct import *x);	/* NULL: the queue is closed */
void task_done(struct import *x, struct task *task);
void drain(struct import *x);	/* send the batch, wait until every task is done */
void finish_and_die(struct import *x, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void flush_batch(struct import *x);
void add_document(struct import *x, struct target *target, const uint8_t *data, uint32_t length);
void report_progress(struct import *x, bool final);

/* workers.c */
void start_workers(struct import *x, pthread_t *threads);
void stop_workers(struct import *x, pthread_t *threads);
void build_indexes(struct import *x);

/* stream.c */
void import_stream(struct import *x, stream_reader *reader, bool whole_snapshot);
void import_documents(struct import *x, const char *path, const char *ns);
void import_frames(struct import *x, stream_reader *reader, struct target *target);

/* estimate.c */
void import_estimate(struct import *x, const bson_t *header);
void import_estimate_manifest(struct import *x, const bson_t *manifest);
void import_counts(struct import *x, struct progress_counts *counts);
void import_metrics(struct import *x, const char *phase);

/* directory.c */
void import_directory(struct import *x, const char *path);

#endif
