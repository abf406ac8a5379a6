/*
 * workers.c - snap-export's workers and writer: workers export parts in
 * parallel; in one-stream mode they hand chunks through a bounded queue to
 * the writer (this thread), which merges them into one stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "mongo-errors.h"
#include "ns.h"
#include "progress.h"
#include "queue.h"
#include "stream.h"
#include "export.h"

static void
insert_entry(struct export *x, bson_t *entry, const char *ns, const bson_t *doc)
{
	bson_reinit(entry);
	BSON_APPEND_UTF8(entry, "op", "i");
	BSON_APPEND_UTF8(entry, "ns", ns);
	BSON_APPEND_DOCUMENT(entry, "o", doc);
	BSON_APPEND_TIMESTAMP(entry, "ts", x->t0.t, x->t0.i);
}

typedef bool (*entry_sink)(void *context, const bson_t *entry);

/* Read the part's documents from the member, as insert entries, into sink. */
static bool
export_documents(struct export *x, mongoc_client_t *client, struct part *part, entry_sink sink,
    void *context)
{
	mongoc_collection_t *collection = mongoc_client_get_collection(client, part->db, part->coll);
	bson_t *opts = member_opts(x);
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	bson_t entry = BSON_INITIALIZER;
	bool ok = true;

	cursor = mongoc_collection_find_with_opts(collection, &part->filter, opts, x->read_prefs);
	while (ok && !cli_stop && !atomic_load(&x->failed) && mongoc_cursor_next(cursor, &doc)) {
		insert_entry(x, &entry, part->ns, doc);
		ok = sink(context, &entry);
		atomic_fetch_add(&part->exported, 1);
		atomic_fetch_add(&x->bytes_exported, entry.len);
		atomic_fetch_add(&x->document_bytes, doc->len);
	}
	if (ok && mongoc_cursor_error(cursor, &error)) {
		warnmsg("%s: reading from %s: %s", part->ns, x->member, error.message);
		atomic_store(&x->server_failed, true);
		atomic_store(&x->failed, true);
		ok = false;
	}
	bson_destroy(&entry);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_collection_destroy(collection);
	return ok && !cli_stop;
}

static bool
write_array(stream_writer *writer, const bson_t *array)
{
	bson_iter_t iter;
	bson_t entry;

	if (!bson_iter_init(&iter, array))
		return false;
	while (bson_iter_next(&iter))
		if (!iter_document(&iter, &entry) || !stream_write(writer, &entry))
			return false;
	return true;
}

static bool
sink_file(void *context, const bson_t *entry)
{
	return stream_write(context, entry);
}

/* -o DIR: the part as one whole stream file, renamed into place at the end. */
static bool
export_part_file(struct export *x, mongoc_client_t *client, struct part *part)
{
	char *path = output_path(x, part->file), *temp;
	size_t length = strlen(path) + 16;
	stream_writer *writer;
	bson_t marker;
	bool ok;

	temp = xmalloc(length);
	snprintf(temp, length, "%s.partial", path);
	writer = stream_create(temp, x->config->zstd_level, false);
	if (writer == NULL) {
		free(temp);
		free(path);
		return false;
	}
	snapshot_header(x, &marker, false);
	ok = stream_write(writer, &marker) && write_array(writer, &part->before);
	bson_destroy(&marker);
	if (ok && part->documents)
		ok = export_documents(x, client, part, sink_file, writer);
	ok = ok && write_array(writer, &part->after);
	marker_trailer(&marker, bson_count_keys(&part->before) + atomic_load(&part->exported) +
	    bson_count_keys(&part->after), x->t0);
	if (ok)
		ok = stream_write(writer, &marker);
	bson_destroy(&marker);
	if (!stream_finish(writer))
		ok = false;
	if (ok && rename(temp, path) != 0) {
		warnmsg("%s: %s", path, strerror(errno));
		ok = false;
	}
	free(temp);
	free(path);
	return ok;
}

static struct chunk *
chunk_new(int part)
{
	struct chunk *chunk = xcalloc(1, sizeof(*chunk));

	chunk->part = part;
	return chunk;
}

/* The queue is bounded, so a slow output holds memory at jobs * 2 chunks. */
static void
chunk_send(struct export *x, struct chunk *chunk)
{
	work_queue_put(x->chunks, chunk);
}

struct chunk_sink {
	struct export *x;
	int part;
	struct chunk *chunk;
};

static bool
sink_chunk(void *context, const bson_t *entry)
{
	struct chunk_sink *sink = context;
	struct export *x = sink->x;
	struct chunk *chunk = sink->chunk;

	if (chunk->length + entry->len > chunk->capacity) {
		chunk->capacity = chunk->length + entry->len + CHUNK_BYTES;
		chunk->data = xrealloc(chunk->data, chunk->capacity);
	}
	memcpy(chunk->data + chunk->length, bson_get_data(entry), entry->len);
	chunk->length += entry->len;
	chunk->entries++;
	if (chunk->length >= CHUNK_BYTES) {
		chunk_send(x, chunk);
		sink->chunk = chunk_new(sink->part);
	}
	return true;
}

static bool
export_part_chunks(struct export *x, mongoc_client_t *client, int index)
{
	struct chunk_sink sink = { x, index, chunk_new(index) };
	bool ok = true;

	if (x->parts[index]->documents)
		ok = export_documents(x, client, x->parts[index], sink_chunk, &sink);
	sink.chunk->last = ok;
	sink.chunk->failed = !ok;
	chunk_send(x, sink.chunk);
	return ok;
}

static int
take_part(struct export *x)
{
	int index = -1;

	if (pthread_mutex_lock(&x->parts_mutex) != 0)
		die(EXIT_LOCAL, "pthread_mutex_lock failed");
	while (x->next_part < x->part_count && x->parts[x->next_part]->done)
		x->next_part++;
	if (x->next_part < x->part_count && !cli_stop && !atomic_load(&x->failed))
		index = x->next_part++;
	pthread_mutex_unlock(&x->parts_mutex);
	return index;
}

static void *
worker_main(void *context)
{
	struct export *x = context;
	mongoc_client_t *client = mongoc_client_pool_pop(x->pool);
	int index;
	bool ok = true;

	while (ok && (index = take_part(x)) >= 0) {
		ok = x->config->directory ? export_part_file(x, client, x->parts[index]) :
		    export_part_chunks(x, client, index);
		if (ok && x->config->directory)
			x->parts[index]->done = true;
	}
	if (!ok && !cli_stop && !atomic_load(&x->failed)) {
		/* A local failure (a write); server failures set failed already. */
		atomic_store(&x->failed, true);
	}
	mongoc_client_pool_push(x->pool, client);
	pthread_mutex_lock(&x->parts_mutex);
	if (--x->workers_running == 0)
		work_queue_close(x->chunks);
	pthread_mutex_unlock(&x->parts_mutex);
	return NULL;
}

void
start_workers(struct export *x, pthread_t *threads)
{
	long k;

	x->chunks = work_queue_new((size_t)x->config->jobs * 2);
	x->workers_running = (int)x->config->jobs;
	for (k = 0; k < x->config->jobs; k++)
		if (pthread_create(&threads[k], NULL, worker_main, x) != 0)
			die(EXIT_LOCAL, "pthread_create failed");
}

void
join_workers(struct export *x, pthread_t *threads)
{
	long k;

	for (k = 0; k < x->config->jobs; k++)
		pthread_join(threads[k], NULL);
	work_queue_free(x->chunks);
	x->chunks = NULL;
}

/* The next chunk, or NULL when the workers are gone and the queue empty. */
static struct chunk *
chunk_receive(struct export *x)
{
	void *chunk;

	for (;;) {
		switch (work_queue_take(x->chunks, 1000, &chunk)) {
		case WORK_ITEM:
			work_queue_done(x->chunks);
			return chunk;
		case WORK_TIMEOUT:
			report_progress(x, false);
			break;
		case WORK_CLOSED:
			return NULL;
		}
	}
}

bool
write_one_stream(struct export *x, stream_writer *writer)
{
	int *parts_left = xcalloc((size_t)x->collection_count + 1, sizeof(*parts_left));
	uint64_t entries = 0;
	struct chunk *chunk;
	bool ok = true;
	bson_t marker;
	int k, complete = 0;

	for (k = 0; k < x->part_count; k++)
		parts_left[x->parts[k]->collection]++;
	snapshot_header(x, &marker, true);
	ok = stream_write(writer, &marker);
	bson_destroy(&marker);
	for (k = 0; ok && k < x->part_count; k++) {
		ok = write_array(writer, &x->parts[k]->before);
		entries += bson_count_keys(&x->parts[k]->before);
	}
	while ((chunk = chunk_receive(x)) != NULL) {
		struct part *part = x->parts[chunk->part];

		if (ok && chunk->length > 0)
			ok = stream_write_raw(writer, chunk->data, (uint32_t)chunk->length);
		entries += chunk->entries;
		if (ok && chunk->last && --parts_left[part->collection] == 0) {
			/* after is set on the last part of a collection only */
			for (k = 0; k < x->part_count; k++)
				if (x->parts[k]->collection == part->collection) {
					ok = ok && write_array(writer, &x->parts[k]->after);
					entries += bson_count_keys(&x->parts[k]->after);
				}
		}
		complete += chunk->last;
		free(chunk->data);
		free(chunk);
		report_progress(x, false);
		if (!ok)
			break;
	}
	if (!ok) {
		/* The output is gone: stop the workers, drain what they send. */
		atomic_store(&x->failed, true);
		while ((chunk = chunk_receive(x)) != NULL) {
			free(chunk->data);
			free(chunk);
		}
	}
	if (ok && complete == x->part_count && !cli_stop && !atomic_load(&x->failed)) {
		marker_trailer(&marker, entries, x->t0);
		ok = stream_write(writer, &marker);
		bson_destroy(&marker);
	} else {
		ok = false;
	}
	if (!stream_finish(writer))
		ok = false;
	free(parts_left);
	return ok;
}

/* -o DIR: the workers send no chunks; the queue closes when the last one is done. */
bool
wait_for_workers(struct export *x, pthread_t *threads)
{
	int k;

	while (chunk_receive(x) != NULL)
		continue;
	join_workers(x, threads);
	for (k = 0; k < x->part_count; k++)
		if (!x->parts[k]->done)
			return false;
	return true;
}

void
report_progress(struct export *x, bool final)
{
	struct progress_counts counts = { 0 };
	struct timespec now;
	char line[256];
	int k, done = 0;

	export_metrics(x, final ? "done" : "copying");
	if (!x->config->progress || !clock_progress_due(&x->last_report, final, &now))
		return;
	for (k = 0; k < x->part_count; k++) {
		counts.documents += atomic_load(&x->parts[k]->exported);
		done += x->parts[k]->done;
	}
	counts.bytes = atomic_load(&x->document_bytes);
	counts.documents_known = x->documents_known;
	counts.documents_total = x->documents_total;
	counts.bytes_known = x->bytes_known;
	counts.bytes_total = x->bytes_total;
	counts.seconds = clock_seconds_between(&x->started, &now);
	progress_format(line, sizeof(line), &counts);
	fprintf(stderr, "snap-export: %s%s", final ? "done: " : "", line);
	if (x->config->directory)
		fprintf(stderr, ", %d/%d parts", done, x->part_count);
	fprintf(stderr, "\n");
}
