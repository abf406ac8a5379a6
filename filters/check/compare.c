/*
 * compare.c - sync-check's whole comparison (namespaces as tasks for
 * --jobs workers) and its lag report (--lag-only, --watch, --max-lag).
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
	check_metrics(check, "comparing");
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

static bool lag_report(struct check *check, FILE *out, mongoc_client_t *source,
    mongoc_client_t *target, bool *within);

/*
 * On a live source a difference may be a write still on its way through
 * the applier: say how to look again at just those documents.
 */
static void
recheck_hint(const struct check *check)
{
	const struct check_config *config = check->config;

	if (config->output != NULL && !config->json)
		fprintf(stderr, "%s: if the source is live, some may be in flight: look again at "
		    "just these with: sync-check --recheck %s\n", die_progname(), config->output);
	else
		fprintf(stderr, "%s: if the source is live, some may be in flight: write them with "
		    "-o FILE, then look again at just those with --recheck FILE\n", die_progname());
}

int
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
	list_collections(check, source, &from);
	list_collections(check, target, &to);
	plan_tasks(check, &from, &to);
	check_metrics(check, "comparing");
	for (k = 0; k < check->config->jobs; k++)
		if ((err = pthread_create(&threads[k], NULL, worker, check)) != 0)
			die(EXIT_LOCAL, "pthread_create: %s", strerror(err));
	for (k = 0; k < check->config->jobs; k++)
		pthread_join(threads[k], NULL);
	if (cli_stop)
		die(EXIT_STOPPED, "interrupted after %" PRIu64 " of %zu namespaces",
		    check->namespaces, check->task_count);
	fprintf(stderr, "%s: %" PRIu64 " namespaces, %" PRIu64 " documents compared, %" PRIu64
	    " missing, %" PRIu64 " extra, %" PRIu64 " differ\n", die_progname(), check->namespaces,
	    check->compared, check->missing, check->extra, check->differ);
	lag_report(check, stderr, source, target, &within);
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	free(check->tasks);
	collection_list_free(&from);
	collection_list_free(&to);
	if (check->missing + check->extra + check->differ > 0) {
		recheck_hint(check);
		return EXIT_DIFFERENT;
	}
	return check->config->has_max_lag && !within ? EXIT_DIFFERENT : EXIT_DONE;
}

/* ---- lag ---- */

/*
 * One line (or, on stdout with --json, one document) about the lag; on
 * stderr, as part of the summary, it carries the program's name. *within:
 * the lag is known and not over --max-lag. Returns false when the servers
 * could not say (a message is printed).
 */
static bool
lag_report(struct check *check, FILE *out, mongoc_client_t *source, mongoc_client_t *target,
    bool *within)
{
	char newest[32], checkpoint[32];
	struct lag lag;
	bson_error_t error;
	int64_t behind = 0;
	bson_t doc = BSON_INITIALIZER;
	char *json;

	*within = false;
	if (!lag_measure(source, target, check->config->name, &lag, &error) ||
	    (lag.has_checkpoint && !lag_entries_after(source, lag.checkpoint, &behind, &error)) ||
	    !check_lag_note(check, source, &lag, behind, &error)) {
		warnmsg("lag: %s", error.message);
		check_count_error(check);
		return false;
	}
	*within = lag.has_checkpoint &&
	    (!check->config->has_max_lag || lag_within(&lag, check->config->max_lag_ms));
	ts_format(lag.newest, newest, sizeof(newest));
	ts_format(lag.checkpoint, checkpoint, sizeof(checkpoint));
	if (!check->config->json || out == stderr) {
		const char *prefix = out == stderr ? die_progname() : NULL;

		if (lag.has_checkpoint)
			fprintf(out, "%s%slag %ld s, %" PRId64 " entries (source newest %s, checkpoint %s at %s)\n",
			    prefix ? prefix : "", prefix ? ": " : "", lag.seconds, behind, newest,
			    check->config->name, checkpoint);
		else
			fprintf(out, "%s%slag unknown: no checkpoint %s on the target (source newest %s)\n",
			    prefix ? prefix : "", prefix ? ": " : "", check->config->name, newest);
		return fflush(out) == 0;
	}
	BSON_APPEND_UTF8(&doc, "name", check->config->name);
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

int
run_lag(struct check *check)
{
	mongoc_client_t *source = mongoc_client_pool_pop(check->source_pool);
	mongoc_client_t *target = mongoc_client_pool_pop(check->target_pool);
	struct timespec second = { 1, 0 };
	bool within = false, known;

	if (!check->config->watch) {
		known = lag_report(check, stdout, source, target, &within);
		mongoc_client_pool_push(check->source_pool, source);
		mongoc_client_pool_push(check->target_pool, target);
		if (!known)
			return EXIT_SERVER;
		return check->config->has_max_lag && !within ? EXIT_DIFFERENT : EXIT_DONE;
	}
	cli_catch_signals();
	while (!cli_stop) {
		lag_report(check, stdout, source, target, &within);	/* a failure is printed; go on */
		check_metrics(check, "watching");
		if (!cli_stop)
			nanosleep(&second, NULL);
	}
	mongoc_client_pool_push(check->source_pool, source);
	mongoc_client_pool_push(check->target_pool, target);
	return EXIT_DONE;
}

