/*
 * batch-fold.c - a later entry of an _id folded into the write the batch
 * already holds for it, so that the one write gives the document the two
 * entries give in turn, as mongod would. Where no single write can (an
 * operator update after another), fold says so and the batch is flushed.
 */
#include "batch-internal.h"
#include "diff.h"

/* Whether the document is known to exist after write (its content may not be). */
static bool
exists_after(const struct write *write)
{
	size_t k;

	if (write->kind == WRITE_INSERT || write->upsert)
		return true;
	for (k = 0; k < write->nsteps; k++)
		if (write->steps[k].create)
			return true;
	return false;
}

/* A translated diff becomes read-modify-write of its steps. */
static void
write_forget_translation(struct write *write)
{
	if (write->doc != NULL)
		bson_destroy(write->doc);
	if (write->condition != NULL)
		bson_destroy(write->condition);
	write->condition = NULL;
	write->doc = bson_new();
	write->kind = WRITE_RMW;
}

/* prev takes next's place: next's content moves into prev. */
static void
fold_take(struct write *prev, struct write *next)
{
	write_forget(prev);
	prev->kind = next->kind;
	prev->upsert = next->upsert;
	prev->create = next->create;
	prev->doc = next->doc;
	prev->condition = next->condition;
	prev->steps = next->steps;
	prev->nsteps = next->nsteps;
	next->doc = next->condition = NULL;
	next->steps = NULL;
	next->nsteps = 0;
}

/* The document prev writes whole (INSERT, REPLACE), turned by the diff into *doc. */
static bool
fold_diff_into(struct write *prev, const bson_t *base, const struct step *step, char *why,
    size_t why_size)
{
	bson_t result;

	if (!step_apply(step, base, &result, why, why_size)) {
		bson_destroy(&result);
		return false;
	}
	bson_destroy(prev->doc);
	prev->doc = bson_copy(&result);
	bson_destroy(&result);
	return true;
}

/*
 * Fold next, a later entry of the same _id, into prev so that one write
 * gives the document the two give in turn, as mongod would: what writes
 * a whole document takes over; a $v:2 diff of a document known here is
 * applied here (step_apply is mongod's applier); a diff of a document
 * known only to the server joins prev's read-modify-write chain. Returns
 * 1 when folded, 0 when it cannot be (an operator update: the caller
 * flushes first), -1 with why when a diff does not apply.
 */
int
fold(struct write *prev, struct write *next, char *why, size_t why_size)
{
	bool exists = exists_after(prev), whole = prev->kind == WRITE_INSERT ||
	    prev->kind == WRITE_REPLACE;

	if (next->kind == WRITE_DELETE || next->kind == WRITE_INSERT) {
		fold_take(prev, next);
	} else if (next->kind == WRITE_REPLACE) {
		if (prev->kind == WRITE_DELETE && !next->upsert)
			return 1;	/* no document to replace */
		next->upsert = next->upsert || exists;
		if (prev->kind == WRITE_INSERT || prev->kind == WRITE_DELETE)
			next->kind = WRITE_INSERT;	/* insert, replacing where it exists */
		fold_take(prev, next);
	} else if (next->nsteps == 0) {
		if (prev->kind == WRITE_DELETE && !next->upsert)
			return 1;
		return 0;	/* operators ($set, $inc...): only the server applies them */
	} else if (prev->kind == WRITE_DELETE) {
		if (!next->create)
			return 1;
		prev->kind = WRITE_INSERT;	/* prev->doc is the delete's empty one */
		prev->upsert = true;
		if (!fold_diff_into(prev, prev->selector, &next->steps[0], why, why_size))
			return -1;
	} else if (whole && (exists || !next->create)) {
		/* The document is prev's, or is missing and stays so. */
		if (!fold_diff_into(prev, prev->doc, &next->steps[0], why, why_size))
			return -1;
	} else if (prev->nsteps > 0 && !whole) {
		write_forget_translation(prev);
		step_add(prev, &next->steps[0]);
	} else {
		return 0;
	}
	return 1;
}
