/*
 * batch-bulk.c - writes of the batch sent to the server as bulk writes,
 * and what came back: matched and upserted counts, write errors by
 * position. Transient errors are retried (every write is idempotent);
 * a duplicate key is handed to duplicate_key, which decides between a
 * reorder and a conflict; any other failure exits EXIT_SERVER naming
 * the entry.
 */
#include <inttypes.h>
#include <string.h>

#include "batch-internal.h"
#include "conn.h"
#include "die.h"

/* "NS: entry N at byte B: _id X" for messages; the caller frees it. */
char *
write_name(const struct ns_batch *nb, const struct write *write)
{
	char *id = bson_as_relaxed_extended_json(write->selector, NULL);
	char *name = bson_strdup_printf("%s.%s: entry %" PRIu64 " at byte %" PRIu64 ", %s", nb->db,
	    nb->coll, write->entry, write->offset, id);

	bson_free(id);
	return name;
}

void
outcome_clear(struct outcome *out)
{
	free(out->error_index);
	free(out->error_code);
	memset(out, 0, sizeof(*out));
}

static int64_t
reply_int(const bson_t *reply, const char *field)
{
	bson_iter_t iter;

	return bson_iter_init_find(&iter, reply, field) ? bson_iter_as_int64(&iter) : 0;
}

/* Collect writeErrors; returns how many. */
static size_t
outcome_errors(struct outcome *out, const bson_t *reply)
{
	bson_iter_t iter, errors, error;

	if (!bson_iter_init_find(&iter, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &errors))
		return 0;
	while (bson_iter_next(&errors)) {
		bson_t doc;
		const uint8_t *data;
		uint32_t length;

		if (!BSON_ITER_HOLDS_DOCUMENT(&errors))
			continue;
		bson_iter_document(&errors, &length, &data);
		if (!bson_init_static(&doc, data, length))
			continue;
		out->error_index = xrealloc(out->error_index, (out->error_count + 1) * sizeof(uint32_t));
		out->error_code = xrealloc(out->error_code, (out->error_count + 1) * sizeof(int32_t));
		out->error_index[out->error_count] = (uint32_t)reply_int(&doc, "index");
		out->error_code[out->error_count] = (int32_t)reply_int(&doc, "code");
		if (bson_iter_init_find(&error, &doc, "errmsg") && BSON_ITER_HOLDS_UTF8(&error)) {
			char *first = out->error_code[out->error_count] == DUPLICATE_KEY ?
			    out->first_duplicate : out->first_error;

			if (first[0] == '\0')
				snprintf(first, sizeof(out->first_error), "%s", bson_iter_utf8(&error, NULL));
		}
		out->error_count++;
	}
	return out->error_count;
}

static void
bulk_add(mongoc_bulk_operation_t *bulk, const struct write *write)
{
	bson_t opts = BSON_INITIALIZER, selector;
	bson_error_t error;
	bool ok;

	/* Documents go as the source had them: the source server already validated. */
	BSON_APPEND_INT32(&opts, "validate", BSON_VALIDATE_NONE);
	if (write->kind != WRITE_DELETE)
		BSON_APPEND_BOOL(&opts, "upsert", write->upsert);
	switch (write->kind) {
	case WRITE_INSERT:
		bson_reinit(&opts);
		BSON_APPEND_INT32(&opts, "validate", BSON_VALIDATE_NONE);
		ok = mongoc_bulk_operation_insert_with_opts(bulk, write->doc, &opts, &error);
		break;
	case WRITE_REPLACE:
		ok = mongoc_bulk_operation_replace_one_with_opts(bulk, write->selector, write->doc,
		    &opts, &error);
		break;
	case WRITE_DELETE:
		bson_reinit(&opts);
		ok = mongoc_bulk_operation_remove_one_with_opts(bulk, write->selector, &opts, &error);
		break;
	default:
		bson_init(&selector);
		bson_concat(&selector, write->selector);
		if (write->kind == WRITE_DIFF)
			bson_concat(&selector, write->condition);
		ok = mongoc_bulk_operation_update_one_with_opts(bulk, &selector, write->doc, &opts,
		    &error);
		bson_destroy(&selector);
	}
	bson_destroy(&opts);
	if (!ok)
		die(EXIT_SERVER, "cannot queue a write: %s", error.message);
}

/*
 * Run writes[list[0..n-1]] as one bulk, unordered unless ordered (then
 * the server stops at the first error). Transient errors are retried
 * (the whole bulk: every write is idempotent); write errors are added
 * to out, their index counted from base; anything else exits EXIT_SERVER.
 */
void
execute_chunk(mongoc_collection_t *coll, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, bool bypass, bool ordered, size_t base, struct outcome *out)
{
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(ordered));
	retry_policy policy;
	size_t k, errors_before = out->error_count;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
		bson_t reply;
		bson_error_t error;
		bool ok;

		/* The source accepted these documents; the target must not judge them again. */
		mongoc_bulk_operation_set_bypass_document_validation(bulk, bypass);
		for (k = 0; k < n; k++)
			bulk_add(bulk, &writes[list[k]]);
		ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0;
		mongoc_bulk_operation_destroy(bulk);
		if (ok || outcome_errors(out, &reply) > errors_before) {
			out->matched += reply_int(&reply, "nMatched");
			out->upserted += reply_int(&reply, "nUpserted");
			bson_destroy(&reply);
			break;
		}
		bson_destroy(&reply);
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "%s.%s: bulk write of %zu: %s%s", nb->db, nb->coll, n,
			    error.message, conn_error_transient(&error) ? " (retries gave up)" : "");
	}
	for (k = errors_before; k < out->error_count; k++)
		out->error_index[k] += (uint32_t)base;
	bson_destroy(opts);
}

/*
 * Run the writes in bulks of at most UPDATE_CHUNK updates: FerretDB 1.24
 * takes time quadratic in the size of one update command (1000 upserts:
 * minutes; 10 times 100: seconds), and each statement of one command
 * holds one of its 100 SQLite connections until the command ends, so a
 * command of about 100 statements waits for itself forever (seen at 100,
 * not at 60). Inserts and deletes go whole.
 */
void
execute(mongoc_client_t *client, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, bool bypass, struct outcome *out)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, nb->db, nb->coll);
	size_t chunk = n, done;

	memset(out, 0, sizeof(*out));
	if (n > 0 && writes[list[0]].kind != WRITE_INSERT && writes[list[0]].kind != WRITE_DELETE)
		chunk = UPDATE_CHUNK;
	for (done = 0; done < n; done += chunk)
		execute_chunk(coll, nb, writes, list + done, n - done < chunk ? n - done : chunk, bypass,
		    false, done, out);
	mongoc_collection_destroy(coll);
}

void
die_write(const struct ns_batch *nb, const struct write *write, int code, const char *message)
{
	die(EXIT_SERVER, "%s: write failed: %s (code %d)", write_name(nb, write), message, code);
}

/*
 * A duplicate key on a unique index. In the grouped pass it may be the
 * order's doing (the key is freed later in the stream): the collection's
 * writes run again in stream order. In stream order it is real: the
 * target holds a document the stream does not account for. Exit before
 * the checkpoint claims this entry or any after it.
 */
void
duplicate_key(struct batch *batch, const struct ns_batch *nb, const struct write *write,
    const char *message)
{
	if (!batch->in_order) {
		batch->reorder = true;
		return;
	}
	die(EXIT_SERVER, "%s: duplicate key on a unique index, in stream order: %s",
	    write_name(nb, write), message[0] != '\0' ? message : "(no message)");
}

/* Run one write alone; returns whether it matched or upserted a document. */
bool
run_alone(struct batch *batch, const struct ns_batch *nb, const struct write *write)
{
	struct outcome out;
	size_t zero = 0;
	bool hit;

	execute(batch->client, nb, write, &zero, 1, write->kind != WRITE_DELETE, &out);
	hit = out.matched + out.upserted > 0;
	if (out.error_count > 0) {
		if (out.error_code[0] != DUPLICATE_KEY)
			die_write(nb, write, out.error_code[0], out.first_error);
		duplicate_key(batch, nb, write, out.first_duplicate);
		hit = true;
	}
	outcome_clear(&out);
	return hit;
}

/*
 * A write of the bulk writes[list[0..n)] failed for good. The server's
 * index says which, but FerretDB 1.24 counts it wrong in an unordered
 * update (it names the first write, whichever failed), and the message
 * must name the entry that failed: each write runs again alone, in stream
 * order, and run_alone exits naming the one that fails. They are
 * idempotent and the bulk ran them already, so this changes nothing.
 * Only when none fails alone is the server's choice named.
 */
void
die_bulk_write(struct batch *batch, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, uint32_t at, int code, const char *message)
{
	size_t k;

	for (k = 0; n > 1 && k < n; k++) {
		struct write again = writes[list[k]];

		if (again.kind == WRITE_INSERT)
			again.kind = WRITE_REPLACE;	/* the bulk inserted it: its _id is there */
		run_alone(batch, nb, &again);
	}
	die_write(nb, &writes[list[at < n ? at : 0]], code, message);
}

/*
 * Which of the n writes of a bulk failed on a duplicate key (to be run
 * again alone); any other error ends the program. The caller frees it.
 */
bool *
duplicate_key_failures(struct batch *batch, const struct ns_batch *nb, const struct write *writes,
    const size_t *list, size_t n, const struct outcome *out)
{
	bool *failed = xcalloc(n, sizeof(*failed));
	size_t k;

	for (k = 0; k < out->error_count; k++) {
		uint32_t at = out->error_index[k];

		if (at >= n)
			die(EXIT_SERVER, "%s.%s: bulk write error at %u of %zu", nb->db, nb->coll, at, n);
		if (out->error_code[k] != DUPLICATE_KEY) {
			free(failed);	/* LeakSanitizer would turn the exit status into 1 */
			die_bulk_write(batch, nb, writes, list, n, at, out->error_code[k],
			    out->first_error);
		}
		failed[at] = true;
	}
	return failed;
}

/* Updates and replacements of writes[0, n) that found no document. */
void
count_missing_of(struct batch *batch, const struct write *writes, size_t n,
    const struct outcome *out)
{
	int64_t expected = 0, upserts = 0, found;
	size_t k;

	for (k = 0; k < n; k++) {
		const struct write *write = &writes[k];

		if (write->kind != WRITE_UPDATE && write->kind != WRITE_REPLACE)
			continue;
		if (write->upsert)
			upserts++;
		else
			expected++;
	}
	found = out->matched + out->upserted - upserts;
	if (expected > found)
		batch->count->missing += (uint64_t)(expected - found);
}
