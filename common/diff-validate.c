/*
 * diff-validate.c - check a $v:2 diff whole (every section, sub-diff,
 * array entry and b entry, and the nesting depth) before anything applies
 * or translates it; and find the diff in an update entry's o.
 */
#include "diff-internal.h"

/* Check the b entry of change c, its message naming b.<field>. */
static bool
validate_patch(struct ctx *ctx, const struct change *c)
{
	struct patch p;
	bson_iter_t value;
	size_t old = diff_path_push(ctx, "b", 1);
	bool ok;

	diff_path_push(ctx, c->name, c->namelen);
	ok = diff_change_value(ctx, c, &value) && diff_patch_read(ctx, &value, &p);
	diff_path_pop(ctx, old);
	return ok;
}

static bool validate_array(struct ctx *, const uint8_t *, uint32_t, int);

/* Check one sub-diff (an s<field> or s<idx> value), object or array. */
static bool
validate_subdiff(struct ctx *ctx, bson_iter_t *value, int depth)
{
	const uint8_t *data;
	uint32_t len;

	if (!BSON_ITER_HOLDS_DOCUMENT(value))
		return fail(ctx, "sub-diff is not a document");
	if (depth > DIFF_MAX_DEPTH)
		return fail(ctx, "diff nested deeper than %d levels", DIFF_MAX_DEPTH);
	bson_iter_document(value, &len, &data);
	if (diff_is_array(data, len))
		return validate_array(ctx, data, len, depth);
	return diff_validate_object(ctx, data, len, depth);
}

bool
diff_validate_object(struct ctx *ctx, const uint8_t *data, uint32_t len, int depth)
{
	struct table t;
	bson_iter_t value;
	size_t i, old;
	bool ok = true;

	if (!diff_table_build(ctx, data, len, &t)) {
		diff_table_free(&t);
		return false;
	}
	for (i = 0; ok && i < t.count; i++) {
		struct change *c = &t.changes[i];

		if (c->kind == KIND_BINARY)
			ok = validate_patch(ctx, c);
		if (!ok || c->kind != KIND_SUBDIFF)
			continue;
		old = diff_path_push(ctx, c->name - 1, c->keylen);
		ok = diff_change_value(ctx, c, &value) && validate_subdiff(ctx, &value, depth + 1);
		diff_path_pop(ctx, old);
	}
	diff_table_free(&t);
	return ok;
}

static bool
validate_array(struct ctx *ctx, const uint8_t *data, uint32_t len, int depth)
{
	struct array_reader r;
	struct array_mod mod;
	size_t old;
	int status;

	if (!diff_array_open(ctx, data, len, &r))
		return false;
	while ((status = diff_array_next(ctx, &r, &mod)) == 1) {
		if (mod.is_update)
			continue;
		old = diff_path_push(ctx, bson_iter_key(&mod.value), bson_iter_key_len(&mod.value));
		if (!validate_subdiff(ctx, &mod.value, depth + 1))
			return false;
		diff_path_pop(ctx, old);
	}
	return status == 0;
}

bool
diff_validate(const bson_t *diff, char *errbuf, size_t errsize)
{
	struct ctx ctx;

	diff_ctx_init(&ctx, errbuf, errsize);
	return diff_check_bson(&ctx, diff, "diff") &&
	    diff_validate_object(&ctx, bson_get_data(diff), diff->len, 0);
}

bool
diff_from_oplog(const bson_t *o, bson_t *diff)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t len;

	if (!bson_iter_init_find(&iter, o, "$v"))
		return false;
	if (BSON_ITER_HOLDS_DOUBLE(&iter) ? bson_iter_double(&iter) != 2.0 :
	    !BSON_ITER_HOLDS_NUMBER(&iter) || bson_iter_as_int64(&iter) != 2)
		return false;
	if (!bson_iter_init_find(&iter, o, "diff") || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return false;
	bson_iter_document(&iter, &len, &data);
	return bson_init_static(diff, data, len);
}

