/*
 * batch-flush.c - batch_flush: each collection's writes sent, grouped by
 * kind or in stream order, and the counters brought up to date.
 *
 * A batch never holds two writes for one _id, so the order of writes
 * inside it matters only where two documents meet on a unique secondary
 * index: a write may take a key another document frees later in the
 * batch. The writes of a collection are kept in stream order; they run
 * grouped by kind (cheaper), and when that meets a duplicate key the
 * whole collection's part of the batch runs again, in stream order, in
 * ordered bulks. A duplicate key that remains in stream order is a real
 * conflict: exit 4 naming the entry, before the checkpoint moves.
 */
#include <string.h>

#include "batch-internal.h"
#include "die.h"

/* List the writes of the given kinds (mask of 1 << kind). */
size_t
select_writes(const struct ns_batch *nb, unsigned kinds, size_t *list)
{
	size_t k, n = 0;

	for (k = 0; k < nb->count; k++)
		if (kinds & 1u << nb->writes[k].kind)
			list[n++] = k;
	return n;
}

/*
 * Deletes first, in a bulk of their own: they validate nothing, so they
 * go without bypassDocumentValidation, which some servers refuse on a
 * delete; and a delete can only free a unique key the rest may need.
 */
static void
flush_deletes(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_DELETE, list);
	struct outcome out;

	if (n == 0)
		return;
	execute(batch->client, nb, nb->writes, list, n, false, &out);
	if (out.error_count > 0)
		die_bulk_write(batch, nb, nb->writes, list, n, out.error_index[0], out.error_code[0],
		    out.first_error);
	outcome_clear(&out);
}

/* The inserts that found their _id taken, as one bulk of replacements. */
static void
replace_again(struct batch *batch, const struct ns_batch *nb, const size_t *list,
    const bool *failed, size_t n)
{
	struct write *replaces = xcalloc(n, sizeof(*replaces));
	size_t *order = xcalloc(n, sizeof(*order)), m = 0, k;
	struct outcome out;

	for (k = 0; k < n; k++) {
		if (!failed[k])
			continue;
		replaces[m] = nb->writes[list[k]];
		replaces[m].kind = WRITE_REPLACE;
		order[m] = m;
		m++;
	}
	if (m > 0) {
		execute(batch->client, nb, replaces, order, m, true, &out);
		for (k = 0; k < out.error_count; k++) {
			uint32_t at = out.error_index[k] < m ? out.error_index[k] : 0;

			if (out.error_code[k] != DUPLICATE_KEY)
				die_bulk_write(batch, nb, replaces, order, m, at, out.error_code[k],
				    out.first_error);
			run_alone(batch, nb, &replaces[at]);
		}
		outcome_clear(&out);
	}
	free(order);
	free(replaces);
}

/*
 * Inserts as plain inserts, which are cheap, where an upsert by _id
 * costs a lookup (on FerretDB 1.24, a scan of the collection). The
 * ones whose _id is already there, a replay's, become replacements.
 */
static void
flush_inserts(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_INSERT, list);
	struct outcome out;
	bool *failed;

	if (n == 0)
		return;
	execute(batch->client, nb, nb->writes, list, n, true, &out);
	failed = duplicate_key_failures(batch, nb, nb->writes, list, n, &out);
	outcome_clear(&out);
	replace_again(batch, nb, list, failed, n);
	free(failed);
}

/*
 * Replacements and updates in one bulk. A non-upsert update that
 * matched nothing found its document gone (a later delete removed it):
 * counted from the totals, since a bulk does not say which one missed.
 * Duplicate keys are run again alone, after the rest: a delete or update
 * of the same batch may have been what freed the key.
 */
static void
flush_plain(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	size_t n = select_writes(nb, 1u << WRITE_REPLACE | 1u << WRITE_UPDATE, list);
	int64_t upserts = 0, expected = 0, found;
	struct outcome out;
	bool *failed;
	size_t k;

	if (n == 0)
		return;
	execute(batch->client, nb, nb->writes, list, n, true, &out);
	failed = duplicate_key_failures(batch, nb, nb->writes, list, n, &out);
	for (k = 0; k < n; k++) {
		const struct write *write = &nb->writes[list[k]];

		if (failed[k])
			continue;
		if (write->upsert)
			upserts++;
		else
			expected++;
	}
	found = out.matched + out.upserted - upserts;
	if (expected > found)
		batch->count->missing += (uint64_t)(expected - found);
	outcome_clear(&out);
	for (k = 0; k < n; k++)
		if (failed[k] && !run_alone(batch, nb, &nb->writes[list[k]]) &&
		    !nb->writes[list[k]].upsert)
			batch->count->missing++;
	free(failed);
}

/* Updates and replacements of writes[from, to) that found no document. */
static void
count_missing(struct batch *batch, const struct ns_batch *nb, size_t from, size_t to,
    const struct outcome *out)
{
	count_missing_of(batch, nb->writes + from, to - from, out);
}

/*
 * writes[from, to) as ordered bulks: the server stops at the first
 * error, which is dealt with before the rest goes on. An insert that
 * meets a duplicate key is run again as a replacement by _id (a replay's
 * _id was there); a duplicate key that remains is a conflict.
 */
static void
run_ordered(struct batch *batch, const struct ns_batch *nb, size_t from, size_t to)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(batch->client, nb->db, nb->coll);
	size_t *list = xcalloc(to - from, sizeof(*list)), k;

	while (from < to) {
		const struct write *failed;
		struct write replace;
		struct outcome out;
		size_t done;

		for (k = from; k < to; k++)
			list[k - from] = k;
		memset(&out, 0, sizeof(out));
		execute_chunk(coll, nb, nb->writes, list, to - from,
		    nb->writes[from].kind != WRITE_DELETE, true, 0, &out);
		done = out.error_count == 0 ? to - from : out.error_index[0];
		if (done >= to - from && out.error_count > 0)
			die(EXIT_SERVER, "%s.%s: bulk write error at %zu of %zu", nb->db, nb->coll, done,
			    to - from);
		count_missing(batch, nb, from, from + done, &out);
		if (out.error_count == 0) {
			outcome_clear(&out);
			break;
		}
		failed = &nb->writes[from + done];
		if (out.error_code[0] != DUPLICATE_KEY)
			die_bulk_write(batch, nb, nb->writes, list, to - from, (uint32_t)done,
			    out.error_code[0], out.first_error);
		if (failed->kind == WRITE_INSERT) {
			replace = *failed;
			replace.kind = WRITE_REPLACE;
			run_alone(batch, nb, &replace);
		} else {
			duplicate_key(batch, nb, failed, out.first_duplicate);
		}
		outcome_clear(&out);
		from += done + 1;
	}
	free(list);
	mongoc_collection_destroy(coll);
}

static bool
plain_write(const struct write *write)
{
	return write->kind != WRITE_DIFF && write->kind != WRITE_RMW;
}

/*
 * The collection's writes in stream order: runs of plain writes as
 * ordered bulks (at most UPDATE_CHUNK, deletes apart since some servers
 * refuse bypassDocumentValidation on a delete), each diff alone in its
 * place. Any duplicate key met here is a conflict.
 */
static void
flush_in_order(struct batch *batch, const struct ns_batch *nb)
{
	size_t from = 0, to;

	batch->in_order = true;
	while (from < nb->count) {
		const struct write *first = &nb->writes[from];

		if (!plain_write(first)) {
			run_diff(batch, nb, first);
			from++;
			continue;
		}
		for (to = from + 1; to < nb->count && to - from < UPDATE_CHUNK &&
		    plain_write(&nb->writes[to]) &&
		    (nb->writes[to].kind == WRITE_DELETE) == (first->kind == WRITE_DELETE); to++)
			continue;
		run_ordered(batch, nb, from, to);
		from = to;
	}
	batch->in_order = false;
}

static void
count_applied(struct counters *count, const struct ns_batch *nb)
{
	size_t k;

	for (k = 0; k < nb->count; k++) {
		count->inserts += nb->writes[k].ops[0];
		count->updates += nb->writes[k].ops[1];
		count->deletes += nb->writes[k].ops[2];
	}
}

/*
 * One collection's writes: grouped by kind, which costs the fewest
 * round trips; when that met a duplicate key, all of them again in
 * stream order (each write is idempotent, so running one twice is
 * harmless), with the counters of the grouped pass forgotten.
 */
static void
flush_namespace(struct batch *batch, const struct ns_batch *nb, size_t *list)
{
	struct counters before = *batch->count;

	if (nb->ordered) {
		flush_in_order(batch, nb);
		count_applied(batch->count, nb);
		return;
	}
	batch->reorder = false;
	flush_deletes(batch, nb, list);
	flush_inserts(batch, nb, list);
	flush_plain(batch, nb, list);
	flush_diffs(batch, nb, list);
	if (batch->reorder) {
		batch->count->missing = before.missing;
		batch->count->fallbacks = before.fallbacks;
		batch->count->reordered++;
		flush_in_order(batch, nb);
	}
	count_applied(batch->count, nb);
}

void
batch_flush(struct batch *batch, mongoc_client_t *client)
{
	size_t *list;
	int n;

	if (batch->ops == 0)
		return;
	batch->client = client;
	list = xcalloc(batch->ops, sizeof(*list));
	for (n = 0; n < batch->namespace_count; n++)
		flush_namespace(batch, &batch->namespaces[n], list);
	free(list);
	batch->count->batches++;
	batch_clear(batch);
}
