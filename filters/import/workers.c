/*
 * workers.c - snap-import's workers: unordered inserts, a duplicate _id
 * replaced (a rerun converges), indexes built once the data is in.
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
worker_main(void *context)
{
	struct import *x = context;
	mongoc_client_t *worker = mongoc_client_pool_pop(x->pool);
	struct task *task;

	while ((task = task_receive(x)) != NULL) {
		bool ok = atomic_load(&x->failed) ||
		    (task->kind == TASK_INSERT ? run_insert(worker, task) : run_index(worker, task));

		if (!ok)
			atomic_store(&x->failed, true);
		task_done(x, task);
	}
	mongoc_client_pool_push(x->pool, worker);
	return NULL;
}

void
start_workers(struct import *x, pthread_t *threads)
{
	long k;

	x->tasks = work_queue_new((size_t)x->config->jobs * 2);
	for (k = 0; k < x->config->jobs; k++)
		if (pthread_create(&threads[k], NULL, worker_main, x) != 0)
			die(EXIT_LOCAL, "pthread_create failed");
}

void
stop_workers(struct import *x, pthread_t *threads)
{
	long k;

	work_queue_close(x->tasks);
	for (k = 0; k < x->config->jobs; k++)
		pthread_join(threads[k], NULL);
	work_queue_free(x->tasks);
	x->tasks = NULL;
}

/* Indexes once all data is in: one build per index, in parallel. */
void
build_indexes(struct import *x)
{
	bson_iter_t iter;
	size_t k;

	for (k = 0; k < x->target_count; k++) {
		if (!bson_iter_init(&iter, &x->targets[k]->indexes))
			continue;
		while (bson_iter_next(&iter)) {
			struct task *task = xcalloc(1, sizeof(*task));
			const uint8_t *data;
			uint32_t length;

			if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
				continue;
			bson_iter_document(&iter, &length, &data);
			task->kind = TASK_INDEX;
			task->target = x->targets[k];
			task->data = xmalloc(length);
			memcpy(task->data, data, length);
			task->length = length;
			task_send(x, task);
		}
	}
}
