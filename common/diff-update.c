/*
 * diff-update.c - say a $v:2 diff as an update {$set, $unset} with dotted
 * paths, plus the filter under which that update gives exactly what
 * diff_apply gives (update_object_node: the order $set appends new fields).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "diff-internal.h"
#include "field-order.h"

/* mongod pads at most 1500000 nulls for a $set past an array's end; stay inside. */
#define MAX_SET_INDEX		1000000

/* The update being built by diff_to_update. */
struct xlate {
	bson_t set;
	bson_t unset;
	bson_t *filter;
	char *path;
	size_t pathlen;
	size_t pathcap;
};

static bool walk_object(struct ctx *, struct xlate *, const uint8_t *, uint32_t, int);

/*
 * The order of new fields: mongod applies a $set's fields sorted by name (a std::map;
 * since 4.4 with numeric names ordered as numbers) and appends the ones a
 * document lacks in that order, where the diff appends u then i in listed
 * order. So new fields of one object translate only when the listed order
 * is sorted under both orders; a subset of a sorted list stays sorted, so
 * it does not matter which u fields the document already has.
 */

/* A name that can stand as one part of a dotted update path. */
static bool
name_settable(const char *name, uint32_t len)
{
	return len > 0 && name[0] != '$' && memchr(name, '.', len) == NULL;
}

/* A value whose nested field names $set stores as given (no '.', no leading '$'). */
static bool
value_settable(const bson_iter_t *iter, int depth)
{
	bson_iter_t child;
	bool array = BSON_ITER_HOLDS_ARRAY(iter);

	if (!array && !BSON_ITER_HOLDS_DOCUMENT(iter))
		return true;
	if (depth > MAX_BSON_NESTING || !bson_iter_recurse(iter, &child))
		return false;
	while (bson_iter_next(&child)) {
		if (!array && !name_settable(bson_iter_key(&child), bson_iter_key_len(&child)))
			return false;
		if (!value_settable(&child, depth + 1))
			return false;
	}
	return true;
}

static size_t
xpath_push(struct xlate *x, const char *name, uint32_t len)
{
	size_t old = x->pathlen, need = old + 1 + len + 1;

	if (need > x->pathcap) {
		x->pathcap = need * 2;
		x->path = xrealloc(x->path, x->pathcap);
	}
	if (old > 0)
		x->path[x->pathlen++] = '.';
	memcpy(x->path + x->pathlen, name, len);
	x->pathlen += len;
	x->path[x->pathlen] = '\0';
	return old;
}

static void
xpath_pop(struct xlate *x, size_t old)
{
	x->pathlen = old;
	x->path[old] = '\0';
}

enum condition { COND_ABSENT, COND_OBJECT, COND_ARRAY };

/*
 * Require the shape the diff assumes at the current path. $type alone
 * also matches an array holding such a value, hence the $not for objects.
 */
static bool
add_condition(struct ctx *ctx, struct xlate *x, enum condition what)
{
	bson_t cond, not;

	if (x->filter == NULL)
		return inexact(ctx, "at %.200s: exact only under a filter on the document's shape",
		    x->path);
	if (!bson_append_document_begin(x->filter, x->path, (int)x->pathlen, &cond))
		return fail(ctx, "filter too large");
	switch (what) {
	case COND_ABSENT:
		BSON_APPEND_BOOL(&cond, "$exists", false);
		break;
	case COND_OBJECT:
		BSON_APPEND_UTF8(&cond, "$type", "object");
		BSON_APPEND_DOCUMENT_BEGIN(&cond, "$not", &not);
		BSON_APPEND_UTF8(&not, "$type", "array");
		bson_append_document_end(&cond, &not);
		break;
	case COND_ARRAY:
		BSON_APPEND_UTF8(&cond, "$type", "array");
		break;
	}
	return bson_append_document_end(x->filter, &cond);
}

static bool
set_value(struct ctx *ctx, struct xlate *x, const bson_iter_t *value)
{
	if (!value_settable(value, 0))
		return inexact(ctx, "at %.200s: the value holds a field name that is empty, "
		    "has a '.' or a leading '$'",
		    x->path);
	if (!bson_append_iter(&x->set, x->path, (int)x->pathlen, value))
		return fail(ctx, "update too large");
	return true;
}

/* u<idx> entries become $set of path.idx: both replace, or pad with null. */
static bool
walk_array(struct ctx *ctx, struct xlate *x, const uint8_t *data, uint32_t len)
{
	struct array_reader r;
	struct array_mod mod;
	char buf[16];
	const char *key;
	size_t keylen, old;
	int status;
	bool ok = true;

	if (!diff_array_open(ctx, data, len, &r))
		return false;
	if (r.has_size)
		return inexact(ctx, "at %.200s: l resizes the array", x->path);
	while (ok && (status = diff_array_next(ctx, &r, &mod)) == 1) {
		if (!mod.is_update)
			return inexact(ctx, "at %.200s: s%" PRIu32 " diffs an array element", x->path,
			    mod.index);
		if (mod.index > MAX_SET_INDEX)
			return inexact(ctx, "at %.200s: index %" PRIu32 " is past what $set pads",
			    x->path, mod.index);
		keylen = bson_uint32_to_string(mod.index, &key, buf, sizeof(buf));
		old = xpath_push(x, key, (uint32_t)keylen);
		ok = set_value(ctx, x, &mod.value);
		xpath_pop(x, old);
	}
	return ok && status == 0;
}

static bool
walk_change(struct ctx *ctx, struct xlate *x, struct change *c, int depth)
{
	bson_iter_t value;
	const uint8_t *data;
	uint32_t len;

	if (!diff_change_value(ctx, c, &value))
		return false;
	switch (c->kind) {
	case KIND_DELETE:
		if (!bson_append_utf8(&x->unset, x->path, (int)x->pathlen, "", 0))
			return fail(ctx, "update too large");
		return true;
	case KIND_UPDATE:
		return set_value(ctx, x, &value);
	case KIND_INSERT:
		return set_value(ctx, x, &value) && add_condition(ctx, x, COND_ABSENT);
	case KIND_SUBDIFF:
		bson_iter_document(&value, &len, &data);
		if (diff_is_array(data, len))
			return add_condition(ctx, x, COND_ARRAY) && walk_array(ctx, x, data, len);
		return add_condition(ctx, x, COND_OBJECT) && walk_object(ctx, x, data, len, depth + 1);
	case KIND_BINARY:
		break;
	}
	/* The result keeps bytes of the old value: no update operator can say that. */
	return inexact(ctx, "at %.200s: a b entry patches bytes of a BinData value, which "
	    "$set cannot say", x->path);
}

static bool
walk_object(struct ctx *ctx, struct xlate *x, const uint8_t *data, uint32_t len, int depth)
{
	struct table t;
	struct change *prev = NULL;
	size_t i, old;
	bool ok = diff_table_build(ctx, data, len, &t);

	for (i = 0; ok && i < t.count; i++) {
		struct change *c = &t.changes[i];

		if (!name_settable(c->name, c->namelen)) {
			ok = inexact(ctx, "field name \"%.*s\" cannot be part of an update path",
			    (int)(c->namelen > 64 ? 64 : c->namelen), c->name);
			break;
		}
		if (depth == 0 && c->namelen == 3 && memcmp(c->name, "_id", 3) == 0) {
			ok = inexact(ctx, "the diff changes _id");
			break;
		}
		old = xpath_push(x, c->name, c->namelen);
		if (c->kind == KIND_UPDATE || c->kind == KIND_INSERT) {
			if (prev != NULL &&
			    !(field_bytes_compare(prev->name, prev->namelen, c->name, c->namelen) < 0 &&
			    field_name_compare(prev->name, prev->namelen, c->name, c->namelen) < 0))
				ok = inexact(ctx, "at %.200s: mongod would append new fields \"%.*s\" and "
				    "\"%.*s\" in sorted order, not as listed", x->path,
				    (int)(prev->namelen > 64 ? 64 : prev->namelen), prev->name,
				    (int)(c->namelen > 64 ? 64 : c->namelen), c->name);
			prev = c;
		}
		ok = ok && walk_change(ctx, x, c, depth);
		xpath_pop(x, old);
	}
	diff_table_free(&t);
	return ok;
}

bool
diff_to_update(const bson_t *diff, bson_t *update, bson_t *filter, bson_error_t *error)
{
	struct ctx ctx;
	struct xlate x;
	char msg[512];
	bool ok;

	bson_init(update);
	if (filter != NULL)
		bson_init(filter);
	diff_ctx_init(&ctx, msg, sizeof(msg));
	memset(&x, 0, sizeof(x));
	bson_init(&x.set);
	bson_init(&x.unset);
	x.filter = filter;
	x.path = xmalloc(x.pathcap = 64);
	x.path[0] = '\0';

	ok = diff_check_bson(&ctx, diff, "diff") &&
	    diff_validate_object(&ctx, bson_get_data(diff), diff->len, 0) &&
	    walk_object(&ctx, &x, bson_get_data(diff), diff->len, 0);
	if (ok && bson_empty(&x.set) && bson_empty(&x.unset))
		ok = inexact(&ctx, "the diff sets and unsets nothing");
	if (ok) {
		if (!bson_empty(&x.set))
			BSON_APPEND_DOCUMENT(update, "$set", &x.set);
		if (!bson_empty(&x.unset))
			BSON_APPEND_DOCUMENT(update, "$unset", &x.unset);
	} else {
		bson_reinit(update);
		if (filter != NULL)
			bson_reinit(filter);
		if (error != NULL)
			bson_set_error(error, DIFF_ERROR_DOMAIN, (uint32_t)ctx.code, "%s", msg);
	}
	bson_destroy(&x.set);
	bson_destroy(&x.unset);
	free(x.path);
	return ok;
}
