/*
 * proxy-probe - what an application feels of a server address: N client
 * threads, each on its own connection, each doing an insert then a find
 * by _id in a loop for a while; prints ops/s and latency percentiles.
 *
 *   proxy-probe URI DB SECONDS THREADS [ping]
 *   -> ops 12345 ops_per_s 4115.0 p50_us 210 p99_us 480
 *
 * With ping, each operation is a ping: no storage, so the cost of the
 * path (a proxy's hop) is as large a share of it as it can be.
 *
 * Built by bench/proxy.sh. Latencies are kept (bounded) and sorted once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#define MAX_SAMPLES 2000000

static struct {
	mongoc_client_pool_t *pool;
	const char *db;
	double seconds;
	long *samples;
	size_t count;
	pthread_mutex_t lock;
	int failures;
	bool ping;
} probe;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
record(long us)
{
	pthread_mutex_lock(&probe.lock);
	if (probe.count < MAX_SAMPLES)
		probe.samples[probe.count++] = us;
	pthread_mutex_unlock(&probe.lock);
}

static void *
worker(void *arg)
{
	mongoc_client_t *client = mongoc_client_pool_pop(probe.pool);
	mongoc_collection_t *collection = mongoc_client_get_collection(client, probe.db, "probe");
	int64_t id = (int64_t)(intptr_t)arg * 1000000000LL;
	double start = now(), t;
	bson_error_t error;
	bson_t *doc, *filter;
	mongoc_cursor_t *cursor;
	const bson_t *found;

	while (probe.ping && (t = now()) - start < probe.seconds) {
		doc = BCON_NEW("ping", BCON_INT32(1));
		if (!mongoc_client_command_simple(client, "admin", doc, NULL, NULL, &error))
			probe.failures++;
		bson_destroy(doc);
		record((long)((now() - t) * 1e6));
	}
	while (!probe.ping && (t = now()) - start < probe.seconds) {
		doc = BCON_NEW("_id", BCON_INT64(id), "payload", BCON_UTF8("0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef"), "n", BCON_INT32(7));
		if (!mongoc_collection_insert_one(collection, doc, NULL, NULL, &error))
			probe.failures++;
		bson_destroy(doc);
		record((long)((now() - t) * 1e6));
		t = now();
		filter = BCON_NEW("_id", BCON_INT64(id));
		cursor = mongoc_collection_find_with_opts(collection, filter, NULL, NULL);
		while (mongoc_cursor_next(cursor, &found))
			continue;
		if (mongoc_cursor_error(cursor, &error))
			probe.failures++;
		mongoc_cursor_destroy(cursor);
		bson_destroy(filter);
		record((long)((now() - t) * 1e6));
		id++;
	}
	mongoc_collection_destroy(collection);
	mongoc_client_pool_push(probe.pool, client);
	return NULL;
}

static int
by_value(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	pthread_t threads[64];
	mongoc_uri_t *uri;
	bson_error_t error;
	double started;
	int n, k;

	if ((argc != 5 && argc != 6) || (n = atoi(argv[4])) < 1 || n > 64 ||
	    (argc == 6 && strcmp(argv[5], "ping") != 0)) {
		fprintf(stderr, "usage: proxy-probe URI DB SECONDS THREADS(1-64) [ping]\n");
		return 2;
	}
	mongoc_init();
	if ((uri = mongoc_uri_new_with_error(argv[1], &error)) == NULL) {
		fprintf(stderr, "proxy-probe: %s\n", error.message);
		return 2;
	}
	probe.pool = mongoc_client_pool_new(uri);
	probe.db = argv[2];
	probe.ping = argc == 6;
	probe.seconds = atof(argv[3]);
	probe.samples = malloc(MAX_SAMPLES * sizeof(long));
	if (probe.samples == NULL)
		return 1;
	pthread_mutex_init(&probe.lock, NULL);
	started = now();
	for (k = 0; k < n; k++)
		pthread_create(&threads[k], NULL, worker, (void *)(intptr_t)(k + 1 + (int)(started * 10) % 1000 * 64));
	for (k = 0; k < n; k++)
		pthread_join(threads[k], NULL);
	qsort(probe.samples, probe.count, sizeof(long), by_value);
	if (probe.count == 0) {
		fprintf(stderr, "proxy-probe: no operation done\n");
		return 1;
	}
	printf("ops %zu ops_per_s %.1f p50_us %ld p99_us %ld failures %d\n", probe.count,
	    (double)probe.count / (now() - started), probe.samples[probe.count / 2],
	    probe.samples[probe.count * 99 / 100], probe.failures);
	mongoc_client_pool_destroy(probe.pool);
	mongoc_uri_destroy(uri);
	free(probe.samples);
	mongoc_cleanup();
	return probe.failures > 0;
}
