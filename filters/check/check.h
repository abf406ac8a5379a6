/*
 * check.h - sync-check's parts: servers and output (report.c), listing and
 * metadata (metadata.c), the document merge (merge.c), the whole
 * comparison and the lag (compare.c), --recheck (recheck.c), --metrics
 * (metrics.c).
 * filters/sync-check.c is the command line.
 *
 * Every part takes the struct check: the configuration (read only), the
 * servers, the output and the totals (under lock), the tasks the --jobs
 * workers take (under lock). No file-scope state.
 */
#ifndef OPLOGKIT_CHECK_H
#define OPLOGKIT_CHECK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mongoc/mongoc.h>

#include "entry.h"
#include "ns.h"
#include "options.h"
#include "stream.h"

#define PENDING_MAX 500			/* _ids looked up by one $in query */
#define PENDING_BYTES (8 * 1024 * 1024)	/* documents held for one lookup */
#define MAX_JOBS 64

/* What the command line asks for. */
struct check_config {
	struct conn_options conn;
	const char *output, *recheck;
	const char *metrics, *metrics_log;	/* --metrics, --metrics-log */
	const char *name;
	bool lag_only, watch, json, has_max_lag, in_flight_ok;
	long max_lag_ms, jobs;
	ns_filter *filter;
};

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

/* The last lag measured, for --metrics (metrics.c). */
struct check_lag {
	bool measured, has_checkpoint, caught_up;
	timestamp_t checkpoint, first_pending;	/* first_pending: the oldest not applied */
	int64_t entries;	/* source entries after the checkpoint */
};

/* What every job shares: the servers, the output, the totals. */
struct check {
	const struct check_config *config;
	mongoc_client_pool_t *source_pool, *target_pool;
	pthread_mutex_t lock;
	stream_writer *writer;	/* BSON output, or NULL with --json */
	FILE *json_out;		/* --json output */
	struct task *tasks;
	size_t task_count, next_task;
	uint64_t namespaces, compared, missing, extra, differ, in_flight;
	uint64_t rechecked, errors;	/* --recheck records; lag measurements that failed */
	struct check_lag lag;
};

/* report.c */
void check_open(struct check *check, const struct check_config *config, const char *source_uri,
    const char *target_uri);
void check_close(struct check *check);
void report(struct check *check, const char *ns, const bson_iter_t *id, const char *kind,
    const bson_t *detail);
void report_pair(struct check *check, const char *ns, const char *what, const char *name,
    const bson_t *source, const bson_t *target);

/* metadata.c */
void split_ns(const char *ns, char *db, size_t db_size, const char **collection);
void list_database(mongoc_client_t *client, const char *db, const bson_t *filter,
    const ns_filter *selection, struct collection_list *list);
void list_collections(struct check *check, mongoc_client_t *client, struct collection_list *list);
void collection_list_free(struct collection_list *list);
bool same_bytes(const bson_t *a, const bson_t *b);
bool compare_metadata(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const struct task *task);

/* merge.c */
void compare_documents(struct check *check, mongoc_client_t *source, mongoc_client_t *target,
    const char *ns);

/* compare.c: the exit status of each mode */
int run_compare(struct check *check);
int run_lag(struct check *check);

/* metrics.c: --metrics (each call takes the lock) */
struct lag;
bool check_lag_note(struct check *check, mongoc_client_t *source, const struct lag *lag,
    int64_t behind, bson_error_t *error);
void check_count_error(struct check *check);
void check_metrics(struct check *check, const char *phase);

/* recheck.c */
int run_recheck(struct check *check);

#endif
