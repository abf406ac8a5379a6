/*
 * estimate.c - what snap-import expects to copy: the estimate snap-export
 * puts in its stream's header (filters/export/estimate.c), summed over the
 * collections the selection keeps, or for a snap-export -o directory the
 * same estimate in its manifest. A header without one (an older
 * writer), or no header at all (mongodump, --into),
 * leaves the total unknown: progress and metrics then show no total, no
 * percentage and no ETA rather than made-up ones.
 */
#include <string.h>

#include "entry.h"
#include "metrics.h"
#include "import.h"

/* Add what estimate {documents, bytes, collections} says of the kept collections. */
static void
estimate_add(struct import *x, const bson_t *estimate)
{
	bson_iter_t list, field;
	uint64_t documents, bytes;
	const uint8_t *data;
	uint32_t length;
	bson_t item;

	if (!bson_iter_init_find(&list, estimate, "collections") || !BSON_ITER_HOLDS_ARRAY(&list) ||
	    !bson_iter_recurse(&list, &field)) {
		x->documents_known = x->bytes_known = false;
		return;
	}
	/* Per collection, so --ns and --exclude count only what they keep. */
	while (bson_iter_next(&field)) {
		bson_iter_t ns;

		if (!BSON_ITER_HOLDS_DOCUMENT(&field))
			continue;
		bson_iter_document(&field, &length, &data);
		if (!bson_init_static(&item, data, length) || !bson_iter_init_find(&ns, &item, "ns") ||
		    !BSON_ITER_HOLDS_UTF8(&ns) || !ns_match(x->selection, bson_iter_utf8(&ns, NULL)))
			continue;
		if (entry_count(&item, "documents", &documents))
			x->documents_total += documents;
		else
			x->documents_known = false;
		if (entry_count(&item, "bytes", &bytes))
			x->bytes_total += bytes;
		else
			x->bytes_known = false;
	}
}

/* The document estimate in holder (a header's o, a manifest), or false. */
static bool
estimate_find(const bson_t *holder, bson_t *estimate)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;

	if (!bson_iter_init_find(&iter, holder, "estimate") || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return false;
	bson_iter_document(&iter, &length, &data);
	return bson_init_static(estimate, data, length);
}

void
import_estimate(struct import *x, const bson_t *header)
{
	bson_iter_t iter;
	bson_t o, estimate;
	const uint8_t *data;
	uint32_t length;

	if (x->estimate_fixed)
		return;
	if (x->headers++ == 0)
		x->documents_known = x->bytes_known = true;
	if (!bson_iter_init_find(&iter, header, "o") || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		goto unknown;
	bson_iter_document(&iter, &length, &data);
	if (!bson_init_static(&o, data, length) || !estimate_find(&o, &estimate))
		goto unknown;
	estimate_add(x, &estimate);
	return;
unknown:
	x->documents_known = x->bytes_known = false;
}

void
import_estimate_manifest(struct import *x, const bson_t *manifest)
{
	bson_t estimate;

	/* The manifest's is the whole snapshot's, said once: the parts' headers have none. */
	x->estimate_fixed = true;
	x->documents_known = x->bytes_known = true;
	if (estimate_find(manifest, &estimate))
		estimate_add(x, &estimate);
	else
		x->documents_known = x->bytes_known = false;	/* an older snap-export */
}

void
import_counts(struct import *x, struct progress_counts *counts)
{
	size_t k;

	memset(counts, 0, sizeof(*counts));
	for (k = 0; k < x->target_count; k++) {
		counts->documents += atomic_load(&x->targets[k]->documents);
		counts->bytes += atomic_load(&x->targets[k]->bytes);
	}
	counts->documents_known = x->documents_known;
	counts->documents_total = x->documents_total;
	counts->bytes_known = x->bytes_known;
	counts->bytes_total = x->bytes_total;
}

void
import_metrics(struct import *x, const char *phase)
{
	struct metrics_sample sample;
	struct progress_counts counts;

	import_counts(x, &counts);
	memset(&sample, 0, sizeof(sample));
	sample.snapshot = true;
	sample.documents_done = sample.entries_applied = counts.documents;
	sample.document_bytes_done = sample.bytes_applied = counts.bytes;
	sample.documents_total_known = counts.documents_known;
	sample.document_bytes_total_known = counts.bytes_known;
	sample.documents_total = counts.documents_total;
	sample.document_bytes_total = counts.bytes_total;
	sample.errors = atomic_load(&x->failed) ? 1 : 0;
	sample.caught_up = true;
	sample.phase = phase;
	metrics_update(&sample);
}
