/*
 * batch-plan.c - one i, u or d entry of the stream turned into a write
 * of the batch.
 *
 * Every write is idempotent (replace by _id, $set/$unset of whole values,
 * delete by _id), so a bulk cut short by a network error, or a grouped
 * pass run again in order, is simply run again. A $v:2 diff becomes an
 * exact update where diff_to_update can say it without a condition, and
 * otherwise a read-modify-write (batch-rmw.c).
 */
#include <string.h>

#include "batch-internal.h"
#include "diff.h"
#include "die.h"
#include "operators.h"

/* Forget what the write holds but its selector (NULL-safe). */
void
write_forget(struct write *write)
{
	size_t k;

	if (write->doc != NULL)
		bson_destroy(write->doc);
	if (write->condition != NULL)
		bson_destroy(write->condition);
	for (k = 0; k < write->nsteps; k++)
		bson_destroy(write->steps[k].diff);
	free(write->steps);
	write->doc = write->condition = NULL;
	write->steps = NULL;
	write->nsteps = 0;
}

void
write_clear(struct write *write)
{
	write_forget(write);
	if (write->selector != NULL)
		bson_destroy(write->selector);
	write->selector = NULL;
}

void
step_add(struct write *write, const struct step *step)
{
	write->steps = xrealloc(write->steps, (write->nsteps + 1) * sizeof(*write->steps));
	write->steps[write->nsteps++] = (struct step){ bson_copy(step->diff), step->create,
	    step->operators };
}

bool
step_apply(const struct step *step, const bson_t *doc, bson_t *out, char *why, size_t why_size)
{
	if (step->operators)
		return operators_apply(doc, step->diff, out, why, why_size);
	return diff_apply(doc, step->diff, out, why, why_size);
}

/* The _id op writes (o2's for an update, o's otherwise) into *id. */
bool
op_id(const struct op_view *op, bson_iter_t *id)
{
	if (op->kind == OP_UPDATE)
		return op->has_o2 && bson_iter_init_find(id, &op->o2, "_id");
	return op->has_o && bson_iter_init_find(id, &op->o, "_id");
}

static bson_t *
selector_new(const bson_iter_t *id)
{
	bson_t *selector = bson_new();

	bson_append_iter(selector, "_id", 3, id);
	return selector;
}

/* The document of a field of o, copied (NULL when absent). */
static bson_t *
subdocument_copy(const bson_t *o, const char *field)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;

	if (!bson_iter_init_find(&iter, o, field) || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return NULL;
	bson_iter_document(&iter, &length, &data);
	return bson_new_from_data(data, length);
}

/* o without its $v field: an update MongoDB accepts. */
static bson_t *
operators_copy(const bson_t *o)
{
	bson_t *update = bson_new();
	bson_iter_t iter;

	bson_iter_init(&iter, o);
	while (bson_iter_next(&iter))
		if (strcmp(bson_iter_key(&iter), "$v") != 0)
			bson_append_iter(update, NULL, 0, &iter);
	return update;
}

/* Whether o is the operator form: its first key other than $v starts with '$'. */
static bool
has_operators(const bson_t *o)
{
	bson_iter_t iter;

	bson_iter_init(&iter, o);
	while (bson_iter_next(&iter)) {
		if (strcmp(bson_iter_key(&iter), "$v") == 0)
			continue;
		return bson_iter_key(&iter)[0] == '$';
	}
	return false;
}

/*
 * u with $v:2: exact translation, conditional translation, or
 * read-modify-write. An upserting diff (b: true) is never sent as an
 * upsert: $set of a dotted path would create what mongod's applier does
 * not (a sub-diff of a missing field creates nothing), and with a shape
 * condition the upsert would try an insert over the existing _id. It
 * runs as a plain update; a miss reads the document back, and a missing
 * document becomes {_id} plus the diff, as mongod's upsert makes it.
 */
static bool
plan_diff(struct write *write, const bson_t *diff, char *why, size_t why_size)
{
	bson_t update, condition;
	bson_error_t error;
	bool translated;

	write->create = write->upsert;
	write->upsert = false;
	if (!diff_validate(diff, why, why_size))
		return false;
	/* kept to fold later diffs of the _id */
	step_add(write, &(struct step){ (bson_t *)diff, write->create, false });
	memset(&error, 0, sizeof(error));
	translated = diff_to_update(diff, &update, &condition, &error);
	if (translated && bson_empty(&condition)) {
		write->doc = bson_copy(&update);
		if (write->create) {
			write->kind = WRITE_DIFF;
			write->condition = bson_copy(&condition);
		}
		bson_destroy(&update);
		bson_destroy(&condition);
		return true;
	}
	/*
	 * Exact only under a shape condition: read-modify-write instead. The
	 * condition in the selector would keep FerretDB from its _id index
	 * (a scan of the collection per write); a read by _id and a
	 * replacement by _id use it.
	 */
	if (translated) {
		bson_destroy(&update);
		bson_destroy(&condition);
		write->kind = WRITE_RMW;
		write->doc = bson_new();
		return true;
	}
	bson_destroy(&update);
	bson_destroy(&condition);
	if (error.domain == DIFF_ERROR_DOMAIN && error.code == DIFF_ERROR_INEXACT) {
		write->kind = WRITE_RMW;
		write->doc = bson_new();
		return true;
	}
	snprintf(why, why_size, "bad $v:2 diff: %s", error.message);
	return false;
}

/*
 * u: a whole document replaces; FerretDB logs every update as a $set of
 * the whole new document, _id included, which is a replacement too
 * (mongod never puts _id in $set), or $unset fields would survive.
 */
static bool
plan_update(struct write *write, const bson_t *o, char *why, size_t why_size)
{
	bson_t diff, *set;
	bson_iter_t iter;

	if (diff_from_oplog(o, &diff))
		return plan_diff(write, &diff, why, why_size);
	if (!has_operators(o)) {
		write->kind = WRITE_REPLACE;
		write->doc = bson_copy(o);
		return true;
	}
	set = subdocument_copy(o, "$set");
	if (set != NULL && bson_iter_init_find(&iter, set, "_id")) {
		write->kind = WRITE_REPLACE;
		write->doc = set;
		return true;
	}
	if (set != NULL)
		bson_destroy(set);
	if (operators_apply_here(o)) {
		/*
		 * A path with a numeric part: an array element or a field
		 * named by a number, which servers apply otherwise than
		 * mongod (FerretDB removes an element on $unset and sorts
		 * "10" before "9"): applied here, as a diff is, a missing
		 * document upserted from {_id} when the entry says b.
		 */
		write->create = write->upsert;
		write->upsert = false;
		write->kind = WRITE_RMW;
		write->doc = bson_new();
		step_add(write, &(struct step){ (bson_t *)o, write->create, true });
		return true;
	}
	write->doc = operators_copy(o);
	return true;
}

/* Build the write for op; false with why when the op is malformed. */
bool
plan_write(struct write *write, const struct op_view *op, bson_iter_t *id, char *why,
    size_t why_size)
{
	memset(write, 0, sizeof(*write));
	write->ops[op->kind == OP_INSERT ? 0 : op->kind == OP_UPDATE ? 1 : 2] = 1;
	if (!op->has_o) {
		snprintf(why, why_size, "%s entry without its o document", op->op);
		return false;
	}
	if (op->kind == OP_UPDATE) {
		if (!op_id(op, id)) {
			snprintf(why, why_size, "u entry without o2._id");
			return false;
		}
		write->kind = WRITE_UPDATE;
		write->upsert = op->upsert;
		if (!plan_update(write, &op->o, why, why_size))
			return false;
	} else if (!op_id(op, id)) {
		snprintf(why, why_size, "%s entry without o._id", op->op);
		return false;
	} else if (op->kind == OP_INSERT) {
		write->kind = WRITE_INSERT;
		write->upsert = true;
		write->doc = bson_copy(&op->o);
	} else {
		write->kind = WRITE_DELETE;
		write->doc = bson_new();
	}
	write->selector = selector_new(id);
	return true;
}
