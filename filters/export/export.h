/*
 * export.h - snap-export's parts: the member (member.c), the plan
 * (plan.c), -o DIR's part files and manifest (manifest.c), the workers
 * and the writer (workers.c). filters/snap-export.c is the command line.
 *
 * The engine's state is one struct export, passed to every function: the
 * configuration the command line filled (read only), what the plan holds,
 * and what the threads share (atomics, or under parts_mutex, or through
 * the chunk queue). No file-scope state is shared between threads.
 */
#ifndef OPLOGKIT_EXPORT_H
#define OPLOGKIT_EXPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "entry.h"
#include "ns.h"
#include "options.h"
#include "queue.h"
#include "stream.h"

#define NS_SIZE 512
#define CHUNK_BYTES (1024 * 1024)	/* a worker hands the writer this much at once */
#define MANIFEST "manifest.json"

/* What the command line asks for. */
struct export_config {
	const char *output;	/* NULL: stdout */
	bool directory;		/* output is a directory: a file per part */
	int zstd_level;		/* 0: uncompressed */
	bool have_t0;
	timestamp_t t0;
	long jobs;
	long chunk_docs;
	const char *read_preference;
	bool lock;		/* --consistency=lock */
	bool progress;
	const char *metrics, *metrics_log;	/* --metrics, --metrics-log */
	struct conn_options conn;
};

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

struct export {
	const struct export_config *config;
	ns_filter *selection;
	mongoc_client_pool_t *pool;
	mongoc_read_prefs_t *read_prefs;
	uint32_t server_id;	/* the member every read goes to */
	char member[300];	/* its host:port, for messages */
	timestamp_t t0;
	char source[1024];	/* the masked URI */

	struct part **parts;	/* each allocated once: a bson_t must not move */
	int part_count;
	int collection_count;

	/* The lock is lifted by whoever exits, on every path. */
	mongoc_client_t *lock_client;
	atomic_bool locked;

	/*
	 * The queue between workers and the writer (one-stream mode); the
	 * last worker out closes it, which is how the writer and the
	 * directory mode learn that every worker is done.
	 */
	work_queue *chunks;
	pthread_mutex_t parts_mutex;
	int next_part;		/* the next part a worker takes */
	int workers_running;
	atomic_bool failed;	/* stop: a part failed */
	atomic_bool server_failed;	/* ... because of the server */
	struct timespec started, last_report;
	atomic_uint_fast64_t bytes_exported;	/* of the insert entries */
	atomic_uint_fast64_t document_bytes;	/* of their documents, as the stats count */

	/*
	 * The source's own estimate of what the plan copies (estimate.c),
	 * carried in the stream's header so snap-import can show a total.
	 */
	bson_t estimates;	/* array of {ns, documents[, bytes]} */
	uint64_t documents_total, bytes_total;
	bool documents_known, bytes_known;	/* false: some collection's is unknown */
};

/*
 * run.c: the whole export of the server at uri (its password is never
 * printed); the exit status of die.h's rule.
 */
int export_run(const struct export_config *config, ns_filter *selection, const char *uri);

/* member.c: pick the member, lock it (--consistency=lock), take T0 from it. */
void pick_member(struct export *x, mongoc_client_t *client);
bson_t *member_opts(struct export *x);	/* {serverId}: send a command to the member */
void lock_member(struct export *x);
void unlock_member(struct export *x);
void choose_t0(struct export *x, mongoc_client_t *client);

/* plan.c: the parts, in plan order. */
void plan(struct export *x, mongoc_client_t *client);
struct part *part_add(struct export *x, const char *db, const char *coll, int collection);
bool iter_document(const bson_iter_t *iter, bson_t *out);	/* borrow a document or array */

/* estimate.c: the source's document count and size of a collection; the header. */
void estimate_collection(struct export *x, mongoc_client_t *client, const char *db,
    const char *coll);
void snapshot_header(struct export *x, bson_t *out, bool estimate);
void estimate_append(struct export *x, bson_t *parent, const char *key);
void estimate_read(struct export *x, const bson_t *manifest);	/* a rerun's, from the manifest */
void export_metrics(struct export *x, const char *phase);

/* manifest.c: -o DIR. */
char *output_path(struct export *x, const char *name);
void write_manifest(struct export *x);
bool read_manifest(struct export *x);	/* false: no manifest, a first run */
void skip_finished_parts(struct export *x);

/* workers.c: run the parts; the writer merges one stream. */
void start_workers(struct export *x, pthread_t *threads);
bool write_one_stream(struct export *x, stream_writer *writer);
bool wait_for_workers(struct export *x, pthread_t *threads);	/* -o DIR; joins them */
void join_workers(struct export *x, pthread_t *threads);
void report_progress(struct export *x, bool final);

#endif
