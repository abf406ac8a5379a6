/*
 * estimate.c - how much the snapshot will copy, as the source says: each
 * collection's document count and data size from collStats (MongoDB's
 * size is the documents' BSON size), else its estimated count alone.
 * FerretDB 1.24 answers collStats with size equal to storageSize, its
 * SQLite pages (twice the BSON or more): not the documents' size, so
 * there the byte total is left unknown rather than shown wrong. The totals ride in the
 * stream's header, {..., estimate: {documents, bytes, collections: [{ns,
 * documents, bytes}]}}, so snap-import can show done/total and an ETA;
 * a reader that does not know the field ignores it, and a stream without
 * it (older writers, mongodump) just has no total. With -o DIR the same
 * document is the manifest's "estimate" (a part file has none).
 */
#include <stdio.h>
#include <string.h>

#include "die.h"
#include "entry.h"
#include "metrics.h"
#include "export.h"

void
estimate_collection(struct export *x, mongoc_client_t *client, const char *db, const char *coll)
{
	bson_t *command = BCON_NEW("collStats", BCON_UTF8(coll));
	bson_t *opts = member_opts(x);
	uint64_t documents = 0, bytes = 0, storage;
	bool have_documents = false, have_bytes = false;
	mongoc_collection_t *collection;
	bson_error_t error;
	bson_t reply, item;
	char ns[NS_SIZE], key[16];
	const char *key_text;
	int64_t count;

	if (mongoc_client_read_command_with_opts(client, db, command, x->read_prefs, opts, &reply,
	    &error)) {
		have_documents = entry_count(&reply, "count", &documents);
		have_bytes = entry_count(&reply, "size", &bytes);
		if (have_bytes && entry_count(&reply, "storageSize", &storage) && storage == bytes)
			have_bytes = false;	/* a storage size (FerretDB), not the data's */
	}
	bson_destroy(&reply);
	if (!have_documents) {
		/* A server without collStats (or without its count): the count alone. */
		collection = mongoc_client_get_collection(client, db, coll);
		count = mongoc_collection_estimated_document_count(collection, opts, x->read_prefs,
		    NULL, &error);
		mongoc_collection_destroy(collection);
		if (count >= 0) {
			documents = (uint64_t)count;
			have_documents = true;
		}
	}
	bson_destroy(opts);
	bson_destroy(command);
	if (!have_documents)
		x->documents_known = false;
	if (!have_bytes)
		x->bytes_known = false;
	x->documents_total += documents;
	x->bytes_total += bytes;

	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	bson_uint32_to_string(bson_count_keys(&x->estimates), &key_text, key, sizeof(key));
	BSON_APPEND_DOCUMENT_BEGIN(&x->estimates, key_text, &item);
	BSON_APPEND_UTF8(&item, "ns", ns);
	if (have_documents)
		BSON_APPEND_INT64(&item, "documents", (int64_t)documents);
	if (have_bytes)
		BSON_APPEND_INT64(&item, "bytes", (int64_t)bytes);
	bson_append_document_end(&x->estimates, &item);
}

/*
 * The estimate as a document {documents, bytes, collections} under key
 * in parent: the stream header's and the -o DIR manifest's. A total some
 * collection does not know is left out, not made up.
 */
void
estimate_append(struct export *x, bson_t *parent, const char *key)
{
	bson_t totals;

	BSON_APPEND_DOCUMENT_BEGIN(parent, key, &totals);
	if (x->documents_known)
		BSON_APPEND_INT64(&totals, "documents", (int64_t)x->documents_total);
	if (x->bytes_known)
		BSON_APPEND_INT64(&totals, "bytes", (int64_t)x->bytes_total);
	BSON_APPEND_ARRAY(&totals, "collections", &x->estimates);
	bson_append_document_end(parent, &totals);
}

/*
 * A rerun of -o DIR takes the plan from the manifest, and its estimate
 * with it (the collections were counted when the plan was drawn). A
 * manifest without one (an older writer) leaves the totals unknown.
 */
void
estimate_read(struct export *x, const bson_t *manifest)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;
	bson_t estimate;

	x->documents_known = x->bytes_known = false;
	if (!bson_iter_init_find(&iter, manifest, "estimate") || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return;
	bson_iter_document(&iter, &length, &data);
	if (!bson_init_static(&estimate, data, length))
		return;
	x->documents_known = entry_count(&estimate, "documents", &x->documents_total);
	x->bytes_known = entry_count(&estimate, "bytes", &x->bytes_total);
	if (bson_iter_init_find(&iter, &estimate, "collections") && BSON_ITER_HOLDS_ARRAY(&iter)) {
		bson_iter_array(&iter, &length, &data);
		bson_destroy(&x->estimates);
		if (!bson_init_static(&estimate, data, length))
			bson_init(&x->estimates);
		else
			bson_copy_to(&estimate, &x->estimates);
	}
}

/*
 * marker_header's entry, with estimate in o when asked (the one stream
 * of the whole plan; a part file of -o DIR has none, as its range of a
 * collection has no count of its own: the manifest carries it).
 */
void
snapshot_header(struct export *x, bson_t *out, bool estimate)
{
	bson_t plain, o;
	bson_iter_t iter, field;

	marker_header(&plain, "snapshot", x->source, x->t0);
	if (!estimate) {
		bson_steal(out, &plain);
		return;
	}
	bson_init(out);
	bson_iter_init(&iter, &plain);
	while (bson_iter_next(&iter)) {
		if (strcmp(bson_iter_key(&iter), "o") != 0 || !bson_iter_recurse(&iter, &field)) {
			bson_append_iter(out, NULL, 0, &iter);
			continue;
		}
		BSON_APPEND_DOCUMENT_BEGIN(out, "o", &o);
		while (bson_iter_next(&field))
			bson_append_iter(&o, NULL, 0, &field);
		estimate_append(x, &o, "estimate");
		bson_append_document_end(out, &o);
	}
	bson_destroy(&plain);
}

/* --metrics: documents and bytes done against the estimate. */
void
export_metrics(struct export *x, const char *phase)
{
	struct metrics_sample sample;
	int k;

	memset(&sample, 0, sizeof(sample));
	sample.snapshot = true;
	for (k = 0; k < x->part_count; k++)
		sample.documents_done += atomic_load(&x->parts[k]->exported);
	sample.entries_read = sample.documents_done;
	sample.bytes_read = atomic_load(&x->bytes_exported);
	sample.document_bytes_done = atomic_load(&x->document_bytes);
	sample.documents_total_known = x->documents_known;
	sample.document_bytes_total_known = x->bytes_known;
	sample.documents_total = x->documents_total;
	sample.document_bytes_total = x->bytes_total;
	sample.caught_up = true;
	sample.checkpoint = x->t0;
	sample.phase = phase;
	metrics_update(&sample);
}
