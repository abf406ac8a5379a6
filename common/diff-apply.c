/*
 * diff-apply.c - apply a $v:2 diff to a document, as mongod's
 * document_diff_applier does (written from its behaviour, not its code).
 *
 * The diff is checked whole before anything is applied, so the appliers
 * below can trust its shape; they still check what they read, and every
 * byte written is counted against DIFF_MAX_DOCUMENT.
 */
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "diff-internal.h"

static bool apply_object(struct ctx *, bson_iter_t *, const uint8_t *, uint32_t, bson_t *, int);
static bool apply_array(struct ctx *, bson_iter_t *, const uint8_t *, uint32_t, bson_t *, int);

/* Count what an append added to the result against the size limit. */
static bool
account(struct ctx *ctx, size_t added)
{
	ctx->written += added;
	if (ctx->written > DIFF_MAX_DOCUMENT)
		return fail(ctx, "the result would be larger than %d bytes", DIFF_MAX_DOCUMENT);
	return true;
}

/* Append the value at iter under key. */
static bool
append_value(struct ctx *ctx, bson_t *out, const char *key, uint32_t keylen, const bson_iter_t *iter)
{
	uint32_t before = out->len;

	if (!bson_append_iter(out, key, (int)keylen, iter))
		return fail(ctx, "the result would be too large");
	return account(ctx, out->len - before);
}

static bool
append_null(struct ctx *ctx, bson_t *out, const char *key, uint32_t keylen)
{
	uint32_t before = out->len;

	if (!bson_append_null(out, key, (int)keylen))
		return fail(ctx, "the result would be too large");
	return account(ctx, out->len - before);
}

/*
 * The field key (pre: its value in the pre-image) meets a sub-diff: an
 * object diff descends into an object, an array diff into an array; any
 * other pairing, or no pre-image value (an element past the array's end),
 * writes null, as mongod does: a later entry rewrites that field.
 */
static bool
apply_subdiff(struct ctx *ctx, bson_iter_t *pre, bson_iter_t *subdiff, bson_t *out, const char *key,
    uint32_t keylen, int depth)
{
	const uint8_t *data;
	uint32_t len;
	bson_iter_t child;
	bson_t sub;
	size_t old;
	bool array, ok;

	bson_iter_document(subdiff, &len, &data);
	array = diff_is_array(data, len);
	if (pre == NULL || (array ? !BSON_ITER_HOLDS_ARRAY(pre) : !BSON_ITER_HOLDS_DOCUMENT(pre)))
		return append_null(ctx, out, key, keylen);
	if (!bson_iter_recurse(pre, &child))
		return fail(ctx, "corrupt document");
	if (!account(ctx, keylen + 7))
		return false;
	/* The document's path, for a message from below. */
	old = diff_path_push(ctx, key, keylen);
	if (array) {
		if (!bson_append_array_begin(out, key, (int)keylen, &sub))
			return fail(ctx, "the result would be too large");
		ok = apply_array(ctx, &child, data, len, &sub, depth + 1);
		ok = bson_append_array_end(out, &sub) && ok;
	} else {
		if (!bson_append_document_begin(out, key, (int)keylen, &sub))
			return fail(ctx, "the result would be too large");
		ok = apply_object(ctx, &child, data, len, &sub, depth + 1);
		ok = bson_append_document_end(out, &sub) && ok;
	}
	diff_path_pop(ctx, old);
	return ok;
}

/*
 * The field key (pre: its value) meets a b entry. A field the document
 * lacks stays absent: the walk over the pre-image never meets it. An
 * offset past the value's end leaves it as it is: mongod takes that for a
 * replay over a value a later entry shrank. A value that is not BinData
 * makes mongod's applier fail the entry (it asserts the type), so it is
 * refused here too, never patched by a guess.
 */
static bool
apply_patch(struct ctx *ctx, bson_iter_t *pre, const struct change *c, bson_t *out, const char *key,
    uint32_t keylen)
{
	struct patch p;
	bson_iter_t value;
	bson_subtype_t subtype;
	const uint8_t *bytes;
	uint32_t len, before;
	uint8_t *joined;
	size_t old;
	bool ok;

	if (!diff_change_value(ctx, c, &value) || !diff_patch_read(ctx, &value, &p))
		return false;
	if (!BSON_ITER_HOLDS_BINARY(pre)) {
		old = diff_path_push(ctx, key, keylen);
		fail(ctx, "the document holds %s here, not BinData: its b entry cannot apply "
		    "(mongod refuses it too)", diff_type_name(bson_iter_type(pre)));
		diff_path_pop(ctx, old);
		return false;
	}
	bson_iter_binary(pre, &subtype, &len, &bytes);
	if (subtype == BSON_SUBTYPE_BINARY_DEPRECATED) {
		old = diff_path_push(ctx, key, keylen);
		unsupported(ctx, "a b entry patching BinData of subtype 2 (old binary) is not supported");
		diff_path_pop(ctx, old);
		return false;
	}
	if (p.offset > len)
		return append_value(ctx, out, key, keylen, pre);
	if ((size_t)p.offset + p.len > DIFF_MAX_DOCUMENT)
		return fail(ctx, "the result would be larger than %d bytes", DIFF_MAX_DOCUMENT);
	joined = xmalloc((size_t)p.offset + p.len + 1);
	memcpy(joined, bytes, p.offset);
	memcpy(joined + p.offset, p.data, p.len);
	before = out->len;
	ok = bson_append_binary(out, key, (int)keylen, subtype, joined, p.offset + p.len);
	free(joined);
	if (!ok)
		return fail(ctx, "the result would be too large");
	return account(ctx, out->len - before);
}

/*
 * mongod's applier for objects: every pre-image field in place (deleted,
 * replaced by u, or diffed by s), except i fields, which go to the end;
 * then the u fields the pre-image lacked and the i fields, in diff order.
 */
static bool
apply_object(struct ctx *ctx, bson_iter_t *pre, const uint8_t *data, uint32_t len, bson_t *out,
    int depth)
{
	struct table t;
	struct change *c;
	bson_iter_t value;
	size_t i;
	bool ok = diff_table_build(ctx, data, len, &t);

	while (ok && bson_iter_next(pre)) {
		const char *key = bson_iter_key(pre);
		uint32_t keylen = bson_iter_key_len(pre);

		c = diff_table_find(&t, key, keylen);
		if (c == NULL) {
			ok = append_value(ctx, out, key, keylen, pre);
			continue;
		}
		switch (c->kind) {
		case KIND_DELETE:
		case KIND_INSERT:
			break;
		case KIND_UPDATE:
			ok = diff_change_value(ctx, c, &value) && append_value(ctx, out, key, keylen, &value);
			c->done = true;
			break;
		case KIND_SUBDIFF:
			ok = diff_change_value(ctx, c, &value) &&
			    apply_subdiff(ctx, pre, &value, out, key, keylen, depth);
			break;
		case KIND_BINARY:
			ok = apply_patch(ctx, pre, c, out, key, keylen);
			break;
		}
	}
	for (i = 0; ok && i < t.count; i++) {
		c = &t.changes[i];
		if ((c->kind == KIND_UPDATE && !c->done) || c->kind == KIND_INSERT)
			ok = diff_change_value(ctx, c, &value) &&
			    append_value(ctx, out, c->name, c->namelen, &value);
	}
	diff_table_free(&t);
	return ok;
}

static bool
apply_element(struct ctx *ctx, bson_iter_t *pre, struct array_mod *mod, bson_t *out, uint32_t index,
    int depth)
{
	char buf[16];
	const char *key;
	size_t keylen = bson_uint32_to_string(index, &key, buf, sizeof(buf));

	if (mod->is_update)
		return append_value(ctx, out, key, (uint32_t)keylen, &mod->value);
	return apply_subdiff(ctx, pre, &mod->value, out, key, (uint32_t)keylen, depth);
}

/*
 * mongod's applier for arrays: walk the pre-image up to l, applying the
 * entry whose index comes up and copying the rest; then, while below l
 * or entries remain, append their values or null.
 */
static bool
apply_array(struct ctx *ctx, bson_iter_t *pre, const uint8_t *data, uint32_t len, bson_t *out,
    int depth)
{
	struct array_reader r;
	struct array_mod mod;
	uint32_t index = 0;
	int have;
	char buf[16];
	const char *key;
	size_t keylen;
	bool ok = true;

	if (!diff_array_open(ctx, data, len, &r) || (have = diff_array_next(ctx, &r, &mod)) < 0)
		return false;
	while (ok && (!r.has_size || index < r.size) && bson_iter_next(pre)) {
		if (have == 1 && mod.index == index) {
			ok = apply_element(ctx, pre, &mod, out, index, depth);
			have = diff_array_next(ctx, &r, &mod);
		} else {
			keylen = bson_uint32_to_string(index, &key, buf, sizeof(buf));
			ok = append_value(ctx, out, key, (uint32_t)keylen, pre);
		}
		index++;
	}
	while (ok && have >= 0 && ((r.has_size && index < r.size) || have == 1)) {
		if (have == 1 && mod.index == index) {
			ok = apply_element(ctx, NULL, &mod, out, index, depth);
			have = diff_array_next(ctx, &r, &mod);
		} else {
			keylen = bson_uint32_to_string(index, &key, buf, sizeof(buf));
			ok = append_null(ctx, out, key, (uint32_t)keylen);
		}
		index++;
	}
	return ok && have >= 0;
}

bool
diff_apply(const bson_t *doc, const bson_t *diff, bson_t *out, char *errbuf, size_t errsize)
{
	struct ctx ctx;
	bson_iter_t pre;

	bson_init(out);
	diff_ctx_init(&ctx, errbuf, errsize);
	if (!diff_check_bson(&ctx, doc, "document") || !diff_check_bson(&ctx, diff, "diff") ||
	    !diff_validate_object(&ctx, bson_get_data(diff), diff->len, 0))
		return false;
	if (!bson_iter_init(&pre, doc))
		return fail(&ctx, "document: not a BSON document");
	ctx.written = 5;
	if (apply_object(&ctx, &pre, bson_get_data(diff), diff->len, out, 0) &&
	    out->len <= DIFF_MAX_DOCUMENT)
		return true;
	fail(&ctx, "the result would be larger than %d bytes", DIFF_MAX_DOCUMENT);
	bson_destroy(out);
	bson_init(out);
	return false;
}
