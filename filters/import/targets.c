/*
 * targets.c - snap-import's targets (where each source namespace goes,
 * after --rename; created, with --drop dropped, before its first
 * document), the batches the reader fills for them, the queue to the
 * workers, and the progress lines.
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

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "mongo-errors.h"
#include "ns.h"
#include "queue.h"
#include "stream.h"
#include "import.h"

/*
 * The target of source namespace ns, or NULL when the selection leaves
 * it out. Consecutive entries mostly share one, so the last is cached.
 */
struct target *
target_of(struct import *x, const char *ns)
{
	char renamed[NS_SIZE];
	struct target *target;
	const char *collection;
	size_t k;

	if (x->last_source[0] != '\0' && strcmp(ns, x->last_source) == 0)
		return x->last_target;
	snprintf(x->last_source, sizeof(x->last_source), "%s", ns);
	x->last_target = NULL;
	if (!ns_match(x->selection, ns))
		return NULL;
	ns_rename(x->selection, ns, renamed, sizeof(renamed));
	for (k = 0; k < x->target_count; k++)
		if (strcmp(x->targets[k]->ns, renamed) == 0)
			return x->last_target = x->targets[k];
	target = xcalloc(1, sizeof(*target));
	if (!ns_split(renamed, target->db, sizeof(target->db), &collection))
		finish_and_die(x, EXIT_BAD_STREAM, "%s: not a namespace DB.COLLECTION", renamed);
	snprintf(target->ns, sizeof(target->ns), "%s", renamed);
	snprintf(target->coll, sizeof(target->coll), "%s", collection);
	bson_init(&target->indexes);
	x->targets = xrealloc(x->targets, (x->target_count + 1) * sizeof(*x->targets));
	x->targets[x->target_count++] = target;
	return x->last_target = target;
}

static bool
run_command(struct import *x, const char *db, const bson_t *command, bson_error_t *error)
{
	bson_t reply;
	bool ok = conn_command(x->client, db, command, &reply, error);

	bson_destroy(&reply);
	return ok;
}

/*
 * Before the first document of a target: --drop drops it, then create it
 * with options (NULL: none). "Already exists" is what a rerun finds.
 */
void
prepare_target(struct import *x, struct target *target, const bson_t *options)
{
	bson_t create = BSON_INITIALIZER;
	bson_error_t error;
	bson_iter_t iter;

	if (target->prepared)
		return;
	target->prepared = true;
	if (x->config->drop) {
		bson_t *drop = BCON_NEW("drop", BCON_UTF8(target->coll));

		if (!run_command(x, target->db, drop, &error) &&
		    error.code != MONGO_NAMESPACE_NOT_FOUND)
			finish_and_die(x, EXIT_SERVER, "%s: drop failed: %s", target->ns, error.message);
		bson_destroy(drop);
	}
	BSON_APPEND_UTF8(&create, "create", target->coll);
	if (options != NULL && bson_iter_init(&iter, options))
		while (bson_iter_next(&iter))
			if (strcmp(bson_iter_key(&iter), "create") != 0)
				bson_append_iter(&create, NULL, 0, &iter);
	if (!run_command(x, target->db, &create, &error) && error.code != MONGO_NAMESPACE_EXISTS)
		finish_and_die(x, EXIT_SERVER, "%s: create failed: %s", target->ns, error.message);
	bson_destroy(&create);
}

/*
 * Remember an index spec. Left out: createIndexes' own field, "ns" (old
 * servers' leftover that new ones reject) and "v" (the server's default
 * version is what a new index should get; FerretDB rejects the field).
 */
void
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

void
task_send(struct import *x, struct task *task)
{
	work_queue_put(x->tasks, task);
}

/* The next task, or NULL once the queue is closed and empty. */
struct task *
task_receive(struct import *x)
{
	void *task;

	return work_queue_take(x->tasks, -1, &task) == WORK_ITEM ? task : NULL;
}

void
task_done(struct import *x, struct task *task)
{
	free(task->data);
	free(task);
	work_queue_done(x->tasks);
}

/* Send the current batch and wait until every task is done. */
void
drain(struct import *x)
{
	flush_batch(x);
	while (!work_queue_wait_idle(x->tasks, 1000))
		report_progress(x, false);
}

void
finish_and_die(struct import *x, int status, const char *fmt, ...)
{
	va_list ap;

	/* What was read before the error is good: insert it, then stop. */
	drain(x);
	va_start(ap, fmt);
	vwarnmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

void
flush_batch(struct import *x)
{
	if (x->current == NULL)
		return;
	if (x->current->count > 0)
		task_send(x, x->current);
	else
		free(x->current);
	x->current = NULL;
}

void
add_document(struct import *x, struct target *target, const uint8_t *data, uint32_t length)
{
	if (x->current != NULL && x->current->target != target)
		flush_batch(x);
	if (x->current == NULL) {
		x->current = xcalloc(1, sizeof(*x->current));
		x->current->kind = TASK_INSERT;
		x->current->target = target;
		if (target->first.tv_sec == 0)
			clock_gettime(CLOCK_MONOTONIC, &target->first);
	}
	if (x->current->length + length > x->current->capacity) {
		x->current->capacity = x->current->length + length + 1024 * 1024;
		x->current->data = xrealloc(x->current->data, x->current->capacity);
	}
	memcpy(x->current->data + x->current->length, data, length);
	x->current->length += length;
	x->current->count++;
	if (x->current->count >= (uint32_t)x->config->batch || x->current->length >= BATCH_BYTES)
		flush_batch(x);
	report_progress(x, false);
}

void
report_progress(struct import *x, bool final)
{
	struct progress_counts counts;
	struct timespec now;
	char line[256];
	size_t k;

	import_metrics(x, final ? "done" : "copying");
	if (!x->config->progress || !clock_progress_due(&x->last_report, final, &now))
		return;
	import_counts(x, &counts);
	counts.seconds = clock_seconds_between(&x->started, &now);
	progress_format(line, sizeof(line), &counts);
	fprintf(stderr, "snap-import: %s%s\n", final ? "done: " : "", line);
	if (!final)
		return;
	for (k = 0; k < x->target_count; k++) {
		struct target *target = x->targets[k];
		double span = clock_seconds_between(&target->first, &target->last);
		uint64_t count = atomic_load(&target->documents);

		fprintf(stderr, "snap-import: %s: %llu documents, %.1f MB, %.0f docs/s\n",
		    target->ns, (unsigned long long)count,
		    (double)atomic_load(&target->bytes) / 1e6,
		    span > 0 ? (double)count / span : 0.0);
	}
}
