/*
 * workers.c - oplog-apply's partitions: --jobs threads, each with its own
 * client, writing the batches the reading thread builds.
 *
 * Data entries are partitioned by hash of (ns, _id), so each document's
 * entries stay in stream order on one connection; a collection with a
 * unique secondary index goes whole to one partition, in stream order
 * (two documents may meet on a key there). The reading thread fills one
 * batch per partition and hands it to its worker when it is full (or on
 * the clock, or at a barrier), waiting only until that worker's previous
 * batch is written: reading, validating and translating go on while the
 * server works, and no partition waits for another. A batch claims the
 * ts the reader had passed when it was handed over: every entry of its
 * partition up to there is in it or in an earlier one. The checkpoint
 * may say the smallest claim over the partitions (a partition with
 * nothing pending has passed every entry read).
 *
 * Each worker owns its client, its counters and the batch it writes; the
 * reading thread owns the batch it builds. Only the fields under lock
 * are shared.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "apply.h"
#include "clock.h"
#include "conn.h"
#include "die.h"

struct worker {
	struct workers *pool;
	pthread_t thread;
	mongoc_client_t *client;
	struct batch *building;	/* the reading thread's */
	struct timespec building_since;	/* its first entry */
	size_t building_ops;
	/* Under pool->lock: */
	struct batch *writing;	/* handed over, not yet written (NULL: idle) */
	struct batch *spare;	/* written and empty, for the reading thread */
	timestamp_t claim;	/* of writing */
	timestamp_t done;	/* the claim of the last batch written */
	bool done_any;		/* a batch was written */
	struct counters published;	/* count, as of the last batch written */
	/* The worker thread's own: */
	struct counters count;
	/* The reading thread's: */
	struct counters taken;	/* published, as already added to the applier's */
};

/* Whether a collection has a unique secondary index (the reading thread's). */
struct ns_unique {
	char *ns;
	bool unique;
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* to workers: a batch to write, or stop */
	pthread_cond_t written;	/* to the reading thread: a batch written */
	bool stop;
	int jobs;
	struct worker *workers;
	uint64_t handed;	/* batches handed over */
	mongoc_client_t *client;	/* the reading thread's, for listIndexes */
	struct ns_unique *unique;
	size_t unique_count;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct workers *pool = w->pool;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct batch *batch;

		while (w->writing == NULL && !pool->stop)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (w->writing == NULL)
			break;
		batch = w->writing;
		pthread_mutex_unlock(&pool->lock);
		batch_flush(batch, w->client);
		pthread_mutex_lock(&pool->lock);
		w->published = w->count;
		w->spare = batch;
		w->writing = NULL;
		w->done = w->claim;
		w->done_any = true;
		pthread_cond_broadcast(&pool->written);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct workers *
workers_new(mongoc_client_t *client, const char *uri, const char *tls_ca_file, int jobs,
    const stream_reader *reader, size_t max_ops, size_t max_bytes)
{
	struct workers *pool = xcalloc(1, sizeof(*pool));
	sigset_t all, old;
	int k, rc;

	pool->client = client;
	pool->jobs = jobs;
	pool->workers = xcalloc((size_t)jobs, sizeof(*pool->workers));
	if (pthread_mutex_init(&pool->lock, NULL) != 0 || pthread_cond_init(&pool->wake, NULL) != 0 ||
	    pthread_cond_init(&pool->written, NULL) != 0)
		die(EXIT_DIFFERENT, "cannot set up the worker threads");
	/* Signals are the reading thread's: it stops the stream cleanly. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (k = 0; k < jobs; k++) {
		struct worker *w = &pool->workers[k];

		w->pool = pool;
		w->client = conn_open(uri, tls_ca_file);
		w->building = batch_new(&w->count, reader, max_ops, max_bytes);
		w->spare = batch_new(&w->count, reader, max_ops, max_bytes);
		rc = pthread_create(&w->thread, NULL, worker_run, w);
		if (rc != 0)
			die(EXIT_DIFFERENT, "cannot start a worker thread: %s", strerror(rc));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pool;
}

/* Stop the threads (everything handed over is written first) and free all. */
void
workers_free(struct workers *pool)
{
	size_t k;
	int n;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (n = 0; n < pool->jobs; n++) {
		struct worker *w = &pool->workers[n];

		pthread_join(w->thread, NULL);
		conn_close(w->client);
		batch_free(w->building);
		batch_free(w->spare);
	}
	for (k = 0; k < pool->unique_count; k++)
		free(pool->unique[k].ns);
	free(pool->unique);
	free(pool->workers);
	pthread_cond_destroy(&pool->written);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/* listIndexes: whether an index other than _id's is unique (a missing collection has none). */
static bool
list_unique(mongoc_client_t *client, const char *ns)
{
	const char *dot = strchr(ns, '.');
	char *db = bson_strndup(ns, (size_t)(dot - ns));
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, dot + 1);
	retry_policy policy;
	bool unique;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(coll, NULL);
		const bson_t *spec;
		bson_error_t error;
		bson_iter_t iter;

		unique = false;
		while (mongoc_cursor_next(cursor, &spec)) {
			if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter) &&
			    strcmp(bson_iter_utf8(&iter, NULL), "_id_") == 0)
				continue;
			if (bson_iter_init_find(&iter, spec, "unique") && bson_iter_as_bool(&iter))
				unique = true;
		}
		if (!mongoc_cursor_error(cursor, &error)) {
			mongoc_cursor_destroy(cursor);
			break;
		}
		mongoc_cursor_destroy(cursor);
		if (error.code == 26)	/* NamespaceNotFound: no collection, no index */
			break;
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "%s: listIndexes: %s", ns, error.message);
	}
	mongoc_collection_destroy(coll);
	bson_free(db);
	return unique;
}

/* Asked once per collection, and again after any command (index DDL among them). */
static bool
ns_unique(struct workers *pool, const char *ns)
{
	size_t k;

	for (k = 0; k < pool->unique_count; k++)
		if (strcmp(pool->unique[k].ns, ns) == 0)
			return pool->unique[k].unique;
	pool->unique = xrealloc(pool->unique, (pool->unique_count + 1) * sizeof(*pool->unique));
	pool->unique[pool->unique_count].ns = xstrdup(ns);
	pool->unique[pool->unique_count].unique = list_unique(pool->client, ns);
	return pool->unique[pool->unique_count++].unique;
}

void
workers_indexes_changed(struct workers *pool)
{
	size_t k;

	for (k = 0; k < pool->unique_count; k++)
		free(pool->unique[k].ns);
	pool->unique_count = 0;
}

static uint64_t
ns_hash(const char *ns)
{
	uint64_t h = 1469598103934665603ULL;

	while (*ns != '\0')
		h = (h ^ (uint8_t)*ns++) * 1099511628211ULL;
	return h;
}

/* Whether partition n's worker is still writing a batch. */
static bool
worker_busy(struct workers *pool, int n)
{
	bool busy;

	pthread_mutex_lock(&pool->lock);
	busy = pool->workers[n].writing != NULL;
	pthread_mutex_unlock(&pool->lock);
	return busy;
}

/* Hand w's batch over once its previous one is written; claim: see the top. */
static void
hand_over(struct workers *pool, struct worker *w, timestamp_t claim)
{
	pthread_mutex_lock(&pool->lock);
	while (w->writing != NULL)
		pthread_cond_wait(&pool->written, &pool->lock);
	w->writing = w->building;
	w->claim = claim;
	w->building = w->spare;
	w->spare = NULL;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	w->building_ops = 0;
	pool->handed++;
}

bool
workers_add(struct workers *pool, const struct op_view *op, timestamp_t claim, char *why,
    size_t why_size)
{
	bool ordered = strchr(op->ns, '.') != NULL && ns_unique(pool, op->ns), full;
	uint64_t hash = ordered ? ns_hash(op->ns) : batch_route(op);
	struct worker *w = &pool->workers[hash % (uint64_t)pool->jobs];

	if (!batch_add(w->building, op, ordered, &full, why, why_size))
		return false;
	if (full) {
		hand_over(pool, w, claim);
		if (!batch_add(w->building, op, ordered, &full, why, why_size))
			return false;
		if (full) {
			snprintf(why, why_size, "entry does not fit in an empty batch");
			return false;
		}
	}
	if (w->building_ops++ == 0)
		clock_gettime(CLOCK_MONOTONIC, &w->building_since);
	return true;
}

/*
 * Only partitions whose worker is idle count: a batch handed to a busy
 * worker would wait for it anyway, and cutting it short would stall the
 * reading thread and split the stream into more, smaller batches (with 4
 * partitions on a slow server, 134 batches where 54 do).
 */
double
workers_pending_age_ms(struct workers *pool)
{
	double age = 0.0;
	int n;

	for (n = 0; n < pool->jobs; n++) {
		const struct worker *w = &pool->workers[n];
		double since;

		if (w->building_ops == 0 || worker_busy(pool, n))
			continue;
		since = clock_seconds_since(&w->building_since) * 1000;
		if (since > age)
			age = since;
	}
	return age;
}

uint64_t
workers_handed(const struct workers *pool)
{
	return pool->handed;
}

/* The flush timer's cut: the pending batches of idle workers (see workers_pending_age_ms). */
void
workers_cut(struct workers *pool, timestamp_t claim)
{
	int n;

	for (n = 0; n < pool->jobs; n++)
		if (pool->workers[n].building_ops > 0 && !worker_busy(pool, n))
			hand_over(pool, &pool->workers[n], claim);
}

void
workers_drain(struct workers *pool, timestamp_t claim)
{
	int n;

	for (n = 0; n < pool->jobs; n++)
		if (pool->workers[n].building_ops > 0)
			hand_over(pool, &pool->workers[n], claim);
	pthread_mutex_lock(&pool->lock);
	for (n = 0; n < pool->jobs; n++)
		while (pool->workers[n].writing != NULL)
			pthread_cond_wait(&pool->written, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}

bool
workers_written(struct workers *pool, timestamp_t claim, timestamp_t *ts)
{
	bool ok = true;
	int n;

	*ts = claim;
	pthread_mutex_lock(&pool->lock);
	for (n = 0; n < pool->jobs; n++) {
		const struct worker *w = &pool->workers[n];

		if (w->building_ops == 0 && w->writing == NULL)
			continue;	/* nothing pending: it has passed every entry read */
		if (!w->done_any)
			ok = false;
		else if (ts_compare(w->done, *ts) < 0)
			*ts = w->done;
	}
	pthread_mutex_unlock(&pool->lock);
	return ok;
}

void
workers_collect(struct workers *pool, struct counters *total)
{
	uint64_t *sum = (uint64_t *)total;
	size_t fields = sizeof(*total) / sizeof(uint64_t), k;
	int n;

	_Static_assert(sizeof(struct counters) % sizeof(uint64_t) == 0,
	    "struct counters holds only uint64_t");
	pthread_mutex_lock(&pool->lock);
	for (n = 0; n < pool->jobs; n++) {
		struct worker *w = &pool->workers[n];
		const uint64_t *now = (const uint64_t *)&w->published;
		uint64_t *taken = (uint64_t *)&w->taken;

		for (k = 0; k < fields; k++) {
			sum[k] += now[k] - taken[k];
			taken[k] = now[k];
		}
	}
	pthread_mutex_unlock(&pool->lock);
}
