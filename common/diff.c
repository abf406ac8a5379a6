/*
 * diff.c - apply and translate MongoDB's $v:2 update diffs.
 *
 * Written from what mongod does (document_diff_serialization: the format
 * and what a reader rejects; document_diff_applier: how a diff meets a
 * document; update_object_node: the order $set appends new fields), not
 * from its code. Where mongod would crash or loop on a diff it never writes
 * (array indexes out of order, an index at or past l), the diff is refused.
 *
 * The diff is checked whole before anything is applied, so the appliers
 * below can trust its shape; they still check what they read, and every
 * byte written is counted against DIFF_MAX_DOCUMENT.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "diff.h"

/* Nesting accepted in the documents themselves before libbson walks them. */
#define MAX_BSON_NESTING	1024
/* An array element costs at least 3 bytes, so no index past this fits a document. */
#define MAX_INDEX		((uint32_t)(DIFF_MAX_DOCUMENT / 3))
/* mongod pads at most 1500000 nulls for a $set past an array's end; stay inside. */
#define MAX_SET_INDEX		1000000

/* Sections of a document diff, in the only order they may appear. */
enum kind { KIND_DELETE = 1, KIND_UPDATE, KIND_INSERT, KIND_BINARY, KIND_SUBDIFF };

/* One field a document diff names; the value is found again by offset. */
struct change {
	const char *name;
	const uint8_t *container;	/* the document holding the element */
	uint32_t container_len;
	uint32_t offset;		/* of the element in container */
	uint32_t keylen;		/* of the element's own key */
	uint32_t namelen;
	uint8_t kind;
	bool done;			/* a u field written in place: not appended */
};

struct table {
	struct change *changes;		/* in diff order */
	struct change **sorted;		/* by name, for lookup */
	size_t count;
};

/* An array diff being read: after a: true and l, the u<idx>/s<idx> entries. */
struct array_reader {
	bson_iter_t iter;
	uint32_t size;			/* l, when has_size */
	uint32_t last;			/* index of the previous entry, when any */
	bool has_size;
	bool any;
};

struct array_mod {
	bson_iter_t value;
	uint32_t index;
	bool is_update;
};

struct ctx {
	char *errbuf;
	size_t errsize;
	size_t written;			/* bytes appended to the result so far */
	int code;			/* DIFF_ERROR_* of the failure */
	bool failed;
	size_t pathlen;
	char path[512];			/* where in the diff, for messages */
};

/* The update being built by diff_to_update. */
struct xlate {
	bson_t set;
	bson_t unset;
	bson_t *filter;
	char *path;
	size_t pathlen;
	size_t pathcap;
};

static bool apply_object(struct ctx *, bson_iter_t *, const uint8_t *, uint32_t, bson_t *, int);
static bool apply_array(struct ctx *, bson_iter_t *, const uint8_t *, uint32_t, bson_t *, int);
static bool validate_object(struct ctx *, const uint8_t *, uint32_t, int);
static bool walk_object(struct ctx *, struct xlate *, const uint8_t *, uint32_t, int);

static void
ctx_init(struct ctx *ctx, char *errbuf, size_t errsize)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->errbuf = errbuf;
	ctx->errsize = errsize;
	if (errbuf != NULL && errsize > 0)
		errbuf[0] = '\0';
}

static bool
vfail(struct ctx *ctx, int code, const char *fmt, va_list ap)
{
	char msg[512];

	if (ctx->failed)
		return false;
	ctx->failed = true;
	ctx->code = code;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (ctx->errbuf == NULL || ctx->errsize == 0)
		return false;
	if (ctx->pathlen > 200)
		snprintf(ctx->errbuf, ctx->errsize, "diff at ...%s: %s",
		    ctx->path + ctx->pathlen - 197, msg);
	else if (ctx->pathlen > 0)
		snprintf(ctx->errbuf, ctx->errsize, "diff at %s: %s", ctx->path, msg);
	else
		snprintf(ctx->errbuf, ctx->errsize, "diff: %s", msg);
	return false;
}

/* Record a malformed diff (or a result too large); always returns false. */
static bool __attribute__((format(printf, 2, 3)))
fail(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ctx, DIFF_ERROR_MALFORMED, fmt, ap);
	va_end(ap);
	return false;
}

/* Record a valid diff this code does not handle. */
static bool __attribute__((format(printf, 2, 3)))
unsupported(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ctx, DIFF_ERROR_UNSUPPORTED, fmt, ap);
	va_end(ap);
	return false;
}

/* Record a valid diff that $set/$unset cannot say exactly. */
static bool __attribute__((format(printf, 2, 3)))
inexact(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ctx, DIFF_ERROR_INEXACT, fmt, ap);
	va_end(ap);
	return false;
}

/* Append ".key" to the message path; returns the length to pop back to. */
static size_t
path_push(struct ctx *ctx, const char *key, uint32_t keylen)
{
	size_t old = ctx->pathlen;
	int n;

	n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "%s%.*s", old > 0 ? "." : "",
	    (int)(keylen > 64 ? 64 : keylen), key);
	if (n > 0)
		ctx->pathlen = old + (size_t)n < sizeof(ctx->path) ? old + (size_t)n : sizeof(ctx->path) - 1;
	return old;
}

static void
path_pop(struct ctx *ctx, size_t old)
{
	ctx->pathlen = old;
	ctx->path[old] = '\0';
}

/*
 * Walk a document's structure to a bounded depth before anything recurses
 * through it; libbson's bson_validate does not bound its own recursion,
 * nor check that an embedded document ends with its NUL (then libbson
 * cannot copy it, and the result could not be written).
 */
static bool
check_nesting(bson_iter_t *iter, int depth)
{
	bson_iter_t child;
	const uint8_t *data = NULL;
	uint32_t len = 0;

	if (depth > MAX_BSON_NESTING)
		return false;
	while (bson_iter_next(iter)) {
		if (BSON_ITER_HOLDS_DOCUMENT(iter))
			bson_iter_document(iter, &len, &data);
		else if (BSON_ITER_HOLDS_ARRAY(iter))
			bson_iter_array(iter, &len, &data);
		else
			continue;
		if (data == NULL || len < 5 || data[len - 1] != '\0')
			return false;
		if (!bson_iter_recurse(iter, &child) || !check_nesting(&child, depth + 1))
			return false;
	}
	return iter->err_off == 0;
}

static bool
check_bson(struct ctx *ctx, const bson_t *bson, const char *what)
{
	bson_iter_t iter;
	size_t offset;

	if (!bson_iter_init(&iter, bson) || !check_nesting(&iter, 0))
		return fail(ctx, "%s: corrupt (an embedded document without its NUL?) or nested "
		    "deeper than %d levels", what, MAX_BSON_NESTING);
	if (!bson_validate(bson, BSON_VALIDATE_NONE, &offset))
		return fail(ctx, "%s: invalid BSON at byte %zu", what, offset);
	return true;
}

static int
section_kind(char c)
{
	switch (c) {
	case 'd':
		return KIND_DELETE;
	case 'u':
		return KIND_UPDATE;
	case 'i':
		return KIND_INSERT;
	case 'b':
		return KIND_BINARY;
	case 's':
		return KIND_SUBDIFF;
	}
	return 0;
}

static int
change_compare(const void *a, const void *b)
{
	const struct change *x = *(const struct change *const *)a;
	const struct change *y = *(const struct change *const *)b;
	uint32_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
	int c = memcmp(x->name, y->name, n);

	if (c != 0)
		return c;
	return x->namelen < y->namelen ? -1 : x->namelen > y->namelen;
}

static void
table_free(struct table *t)
{
	free(t->changes);
	free(t->sorted);
	memset(t, 0, sizeof(*t));
}

/*
 * Check the sections of a document diff (mongod's reader: non-empty,
 * d u i b s in that order, each a document, and once the first s<field>
 * appears only s<field> follow) and count the fields they name.
 */
static bool
table_count(struct ctx *ctx, const uint8_t *data, uint32_t len, size_t *count)
{
	bson_iter_t iter, section;
	int prev = 0, kind;
	bool any = false;

	*count = 0;
	if (!bson_iter_init_from_data(&iter, data, len))
		return fail(ctx, "not a BSON document");
	while (bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);
		uint32_t keylen = bson_iter_key_len(&iter);

		any = true;
		if (keylen == 0)
			return fail(ctx, "empty section name");
		kind = section_kind(key[0]);
		if (prev == KIND_SUBDIFF && kind != KIND_SUBDIFF)
			return fail(ctx, "field \"%.64s\" after the sub-diffs", key);
		if (kind == 0 || (kind <= prev && kind != KIND_SUBDIFF))
			return fail(ctx, "unexpected section \"%.64s\"", key);
		if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
			return fail(ctx, "section \"%.64s\" is not a document", key);
		prev = kind;
		if (kind == KIND_SUBDIFF) {
			(*count)++;
			continue;
		}
		if (!bson_iter_recurse(&iter, &section))
			return fail(ctx, "section \"%.64s\" is corrupt", key);
		while (bson_iter_next(&section))
			(*count)++;
	}
	if (iter.err_off != 0)
		return fail(ctx, "corrupt diff");
	if (!any)
		return fail(ctx, "empty diff");
	return true;
}

static void
table_add(struct table *t, bson_iter_t *elem, const uint8_t *container, uint32_t container_len,
    int kind)
{
	struct change *c = &t->changes[t->count++];

	c->keylen = bson_iter_key_len(elem);
	c->name = bson_iter_key(elem);
	c->namelen = c->keylen;
	if (kind == KIND_SUBDIFF) {
		c->name++;
		c->namelen--;
	}
	c->container = container;
	c->container_len = container_len;
	c->offset = bson_iter_offset(elem);
	c->kind = (uint8_t)kind;
	c->done = false;
}

/* Read a document diff into a table: its changes in order, and by name. */
static bool
table_build(struct ctx *ctx, const uint8_t *data, uint32_t len, struct table *t)
{
	bson_iter_t iter, section;
	const uint8_t *sub;
	uint32_t sublen;
	size_t count, i;

	memset(t, 0, sizeof(*t));
	if (!table_count(ctx, data, len, &count))
		return false;
	t->changes = xcalloc(count + 1, sizeof(*t->changes));
	t->sorted = xcalloc(count + 1, sizeof(*t->sorted));
	if (!bson_iter_init_from_data(&iter, data, len))
		return fail(ctx, "not a BSON document");
	while (bson_iter_next(&iter) && t->count < count) {
		int kind = section_kind(bson_iter_key(&iter)[0]);

		if (kind == KIND_SUBDIFF) {
			table_add(t, &iter, data, len, kind);
			continue;
		}
		bson_iter_document(&iter, &sublen, &sub);
		if (!bson_iter_init_from_data(&section, sub, sublen))
			return fail(ctx, "corrupt section");
		while (bson_iter_next(&section) && t->count < count)
			table_add(t, &section, sub, sublen, kind);
	}
	for (i = 0; i < t->count; i++)
		t->sorted[i] = &t->changes[i];
	qsort(t->sorted, t->count, sizeof(*t->sorted), change_compare);
	for (i = 1; i < t->count; i++)
		if (change_compare(&t->sorted[i - 1], &t->sorted[i]) == 0)
			return fail(ctx, "duplicate field name \"%.*s\" in diff",
			    (int)(t->sorted[i]->namelen > 64 ? 64 : t->sorted[i]->namelen), t->sorted[i]->name);
	return true;
}

static struct change *
table_find(const struct table *t, const char *name, uint32_t namelen)
{
	struct change key, *keyp = &key, **found;

	key.name = name;
	key.namelen = namelen;
	found = bsearch(&keyp, t->sorted, t->count, sizeof(*t->sorted), change_compare);
	return found != NULL ? *found : NULL;
}

/* Position it on the change's element (the sub-diff, for s). */
static bool
change_value(struct ctx *ctx, const struct change *c, bson_iter_t *it)
{
	if (!bson_iter_init_from_data_at_offset(it, c->container, c->container_len, c->offset, c->keylen))
		return fail(ctx, "corrupt diff element");
	return true;
}

/* mongod's rule: a sub-diff is an array diff when its first field is named a. */
static bool
is_array_diff(const uint8_t *data, uint32_t len)
{
	bson_iter_t iter;

	return bson_iter_init_from_data(&iter, data, len) && bson_iter_next(&iter) &&
	    bson_iter_key_len(&iter) == 1 && bson_iter_key(&iter)[0] == 'a';
}

/* Read a whole unsigned decimal number; false if not digits or above max. */
static bool
parse_index(const char *text, uint32_t len, uint32_t max, uint32_t *out)
{
	uint64_t value = 0;
	uint32_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (uint64_t)(text[i] - '0');
		if (value > max)
			return false;
	}
	*out = (uint32_t)value;
	return true;
}

/* Read the header of an array diff: a: true, then an optional l: N. */
static bool
array_open(struct ctx *ctx, const uint8_t *data, uint32_t len, struct array_reader *r)
{
	bson_iter_t peek;

	memset(r, 0, sizeof(*r));
	if (!bson_iter_init_from_data(&r->iter, data, len) || !bson_iter_next(&r->iter) ||
	    bson_iter_key_len(&r->iter) != 1 || bson_iter_key(&r->iter)[0] != 'a')
		return fail(ctx, "array diff does not start with a");
	if (!BSON_ITER_HOLDS_BOOL(&r->iter) || !bson_iter_bool(&r->iter))
		return fail(ctx, "array diff header a is not true");
	peek = r->iter;
	if (!bson_iter_next(&peek) || bson_iter_key_len(&peek) != 1 || bson_iter_key(&peek)[0] != 'l')
		return true;
	if (!BSON_ITER_HOLDS_INT32(&peek))
		return fail(ctx, "array diff length l is not an int32");
	if (bson_iter_int32(&peek) < 0 || (uint32_t)bson_iter_int32(&peek) > MAX_INDEX)
		return fail(ctx, "array diff length l: %" PRId32 " is out of range", bson_iter_int32(&peek));
	r->size = (uint32_t)bson_iter_int32(&peek);
	r->has_size = true;
	r->iter = peek;
	return true;
}

/*
 * Read the entry at r->iter into mod. Indexes must increase and stay
 * below l: mongod's applier walks them in step with the array and never
 * meets an index it has passed (it would loop, or crash, on such a diff).
 */
static bool
array_entry(struct ctx *ctx, struct array_reader *r, struct array_mod *mod)
{
	const char *key = bson_iter_key(&r->iter);
	uint32_t keylen = bson_iter_key_len(&r->iter), index;

	if (keylen < 2 || (key[0] != 'u' && key[0] != 's'))
		return fail(ctx, "array diff field \"%.64s\" is not u<index> or s<index>", key);
	if (!parse_index(key + 1, keylen - 1, MAX_INDEX, &index))
		return fail(ctx, "array diff index \"%.64s\" is not a number up to %" PRIu32, key,
		    MAX_INDEX);
	if (r->any && index <= r->last)
		return fail(ctx, "array diff index %" PRIu32 " after %" PRIu32 ": not increasing",
		    index, r->last);
	if (r->has_size && index >= r->size)
		return fail(ctx, "array diff index %" PRIu32 " is not below l: %" PRIu32, index,
		    r->size);
	if (key[0] == 's' && !BSON_ITER_HOLDS_DOCUMENT(&r->iter))
		return fail(ctx, "array element sub-diff \"%.64s\" is not a document", key);
	r->any = true;
	r->last = index;
	mod->index = index;
	mod->is_update = key[0] == 'u';
	mod->value = r->iter;
	return true;
}

/* The next u<idx> or s<idx> of an array diff: 1, 0 at the end, -1 on a bad entry. */
static int
array_next(struct ctx *ctx, struct array_reader *r, struct array_mod *mod)
{
	if (!bson_iter_next(&r->iter)) {
		if (r->iter.err_off == 0)
			return 0;
		fail(ctx, "corrupt array diff");
		return -1;
	}
	return array_entry(ctx, r, mod) ? 1 : -1;
}

/*
 * A b entry patches the bytes of a BinData field (MongoDB 8.0 writes them
 * for time-series bucket columns): {o: offset, d: BinData}. mongod keeps
 * the first o bytes of the field, appends d's bytes after them (dropping
 * whatever followed) and keeps the field's own subtype; d's subtype is
 * ignored. mongod reads o with getIntField (any number, cut to an int):
 * here only a number that converts exactly is taken, and anything else in
 * the entry is refused by name rather than guessed at.
 */
struct patch {
	uint32_t offset;
	const uint8_t *data;
	uint32_t len;
};

/* A value's type, with its article, for messages. */
static const char *
type_name(bson_type_t type)
{
	switch (type) {
	case BSON_TYPE_DOUBLE: return "a double";
	case BSON_TYPE_UTF8: return "a string";
	case BSON_TYPE_DOCUMENT: return "an object";
	case BSON_TYPE_ARRAY: return "an array";
	case BSON_TYPE_BINARY: return "a BinData";
	case BSON_TYPE_BOOL: return "a bool";
	case BSON_TYPE_NULL: return "null";
	case BSON_TYPE_INT32: return "an int32";
	case BSON_TYPE_INT64: return "an int64";
	case BSON_TYPE_DECIMAL128: return "a decimal128";
	default: return "a value of another type";
	}
}

/* The offset o: a whole number from 0 to INT32_MAX, however it is typed. */
static bool
patch_offset(struct ctx *ctx, const bson_iter_t *iter, uint32_t *out)
{
	int64_t value;
	double d;

	switch (bson_iter_type(iter)) {
	case BSON_TYPE_INT32:
		value = bson_iter_int32(iter);
		break;
	case BSON_TYPE_INT64:
		value = bson_iter_int64(iter);
		break;
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(iter);
		if (!(d >= 0 && d <= INT32_MAX) || d != (double)(int64_t)d)
			return fail(ctx, "b entry offset o: %g is not a whole number from 0 to %d", d,
			    INT32_MAX);
		value = (int64_t)d;
		break;
	default:
		return fail(ctx, "b entry offset o is %s, not a number",
		    type_name(bson_iter_type(iter)));
	}
	if (value < 0 || value > INT32_MAX)
		return fail(ctx, "b entry offset o: %" PRId64 " is out of range (0 to %d)", value,
		    INT32_MAX);
	*out = (uint32_t)value;
	return true;
}

/* Read and check a b entry's value: exactly o and d, each once. */
static bool
patch_read(struct ctx *ctx, const bson_iter_t *entry, struct patch *p)
{
	bson_iter_t iter;
	bson_subtype_t subtype;
	bool has_offset = false, has_data = false;

	memset(p, 0, sizeof(*p));
	if (!BSON_ITER_HOLDS_DOCUMENT(entry))
		return fail(ctx, "b entry is %s, not an object {o, d}",
		    type_name(bson_iter_type(entry)));
	if (!bson_iter_recurse(entry, &iter))
		return fail(ctx, "b entry is corrupt");
	while (bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);

		if (strcmp(key, "o") == 0 && !has_offset) {
			if (!patch_offset(ctx, &iter, &p->offset))
				return false;
			has_offset = true;
		} else if (strcmp(key, "d") == 0 && !has_data) {
			if (!BSON_ITER_HOLDS_BINARY(&iter))
				return fail(ctx, "b entry data d is %s, not BinData",
				    type_name(bson_iter_type(&iter)));
			bson_iter_binary(&iter, &subtype, &p->len, &p->data);
			/* Its bytes hold a length of their own, which libbson hides and mongod keeps. */
			if (subtype == BSON_SUBTYPE_BINARY_DEPRECATED)
				return unsupported(ctx, "b entry data d has subtype 2 (old binary): "
				    "not supported");
			has_data = true;
		} else {
			return fail(ctx, "b entry has %s field \"%.64s\" (only o and d)",
			    has_offset || has_data ? "a second or unknown" : "an unknown", key);
		}
	}
	if (iter.err_off != 0)
		return fail(ctx, "b entry is corrupt");
	if (!has_offset)
		return fail(ctx, "b entry has no offset o");
	if (!has_data)
		return fail(ctx, "b entry has no data d");
	return true;
}

/* Check the b entry of change c, its message naming b.<field>. */
static bool
validate_patch(struct ctx *ctx, const struct change *c)
{
	struct patch p;
	bson_iter_t value;
	size_t old = path_push(ctx, "b", 1);
	bool ok;

	path_push(ctx, c->name, c->namelen);
	ok = change_value(ctx, c, &value) && patch_read(ctx, &value, &p);
	path_pop(ctx, old);
	return ok;
}

/* Check one sub-diff (an s<field> or s<idx> value), object or array. */
static bool validate_array(struct ctx *, const uint8_t *, uint32_t, int);

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
	if (is_array_diff(data, len))
		return validate_array(ctx, data, len, depth);
	return validate_object(ctx, data, len, depth);
}

static bool
validate_object(struct ctx *ctx, const uint8_t *data, uint32_t len, int depth)
{
	struct table t;
	bson_iter_t value;
	size_t i, old;
	bool ok = true;

	if (!table_build(ctx, data, len, &t)) {
		table_free(&t);
		return false;
	}
	for (i = 0; ok && i < t.count; i++) {
		struct change *c = &t.changes[i];

		if (c->kind == KIND_BINARY)
			ok = validate_patch(ctx, c);
		if (!ok || c->kind != KIND_SUBDIFF)
			continue;
		old = path_push(ctx, c->name - 1, c->keylen);
		ok = change_value(ctx, c, &value) && validate_subdiff(ctx, &value, depth + 1);
		path_pop(ctx, old);
	}
	table_free(&t);
	return ok;
}

static bool
validate_array(struct ctx *ctx, const uint8_t *data, uint32_t len, int depth)
{
	struct array_reader r;
	struct array_mod mod;
	size_t old;
	int status;

	if (!array_open(ctx, data, len, &r))
		return false;
	while ((status = array_next(ctx, &r, &mod)) == 1) {
		if (mod.is_update)
			continue;
		old = path_push(ctx, bson_iter_key(&mod.value), bson_iter_key_len(&mod.value));
		if (!validate_subdiff(ctx, &mod.value, depth + 1))
			return false;
		path_pop(ctx, old);
	}
	return status == 0;
}

bool
diff_validate(const bson_t *diff, char *errbuf, size_t errsize)
{
	struct ctx ctx;

	ctx_init(&ctx, errbuf, errsize);
	return check_bson(&ctx, diff, "diff") &&
	    validate_object(&ctx, bson_get_data(diff), diff->len, 0);
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
	array = is_array_diff(data, len);
	if (pre == NULL || (array ? !BSON_ITER_HOLDS_ARRAY(pre) : !BSON_ITER_HOLDS_DOCUMENT(pre)))
		return append_null(ctx, out, key, keylen);
	if (!bson_iter_recurse(pre, &child))
		return fail(ctx, "corrupt document");
	if (!account(ctx, keylen + 7))
		return false;
	/* The document's path, for a message from below. */
	old = path_push(ctx, key, keylen);
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
	path_pop(ctx, old);
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

	if (!change_value(ctx, c, &value) || !patch_read(ctx, &value, &p))
		return false;
	if (!BSON_ITER_HOLDS_BINARY(pre)) {
		old = path_push(ctx, key, keylen);
		fail(ctx, "the document holds %s here, not BinData: its b entry cannot apply "
		    "(mongod refuses it too)", type_name(bson_iter_type(pre)));
		path_pop(ctx, old);
		return false;
	}
	bson_iter_binary(pre, &subtype, &len, &bytes);
	if (subtype == BSON_SUBTYPE_BINARY_DEPRECATED) {
		old = path_push(ctx, key, keylen);
		unsupported(ctx, "a b entry patching BinData of subtype 2 (old binary) is not supported");
		path_pop(ctx, old);
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
	bool ok = table_build(ctx, data, len, &t);

	while (ok && bson_iter_next(pre)) {
		const char *key = bson_iter_key(pre);
		uint32_t keylen = bson_iter_key_len(pre);

		c = table_find(&t, key, keylen);
		if (c == NULL) {
			ok = append_value(ctx, out, key, keylen, pre);
			continue;
		}
		switch (c->kind) {
		case KIND_DELETE:
		case KIND_INSERT:
			break;
		case KIND_UPDATE:
			ok = change_value(ctx, c, &value) && append_value(ctx, out, key, keylen, &value);
			c->done = true;
			break;
		case KIND_SUBDIFF:
			ok = change_value(ctx, c, &value) &&
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
			ok = change_value(ctx, c, &value) &&
			    append_value(ctx, out, c->name, c->namelen, &value);
	}
	table_free(&t);
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

	if (!array_open(ctx, data, len, &r) || (have = array_next(ctx, &r, &mod)) < 0)
		return false;
	while (ok && (!r.has_size || index < r.size) && bson_iter_next(pre)) {
		if (have == 1 && mod.index == index) {
			ok = apply_element(ctx, pre, &mod, out, index, depth);
			have = array_next(ctx, &r, &mod);
		} else {
			keylen = bson_uint32_to_string(index, &key, buf, sizeof(buf));
			ok = append_value(ctx, out, key, (uint32_t)keylen, pre);
		}
		index++;
	}
	while (ok && have >= 0 && ((r.has_size && index < r.size) || have == 1)) {
		if (have == 1 && mod.index == index) {
			ok = apply_element(ctx, NULL, &mod, out, index, depth);
			have = array_next(ctx, &r, &mod);
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
	ctx_init(&ctx, errbuf, errsize);
	if (!check_bson(&ctx, doc, "document") || !check_bson(&ctx, diff, "diff") ||
	    !validate_object(&ctx, bson_get_data(diff), diff->len, 0))
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

/*
 * Translation. mongod applies a $set's fields sorted by name (a std::map;
 * since 4.4 with numeric names ordered as numbers) and appends the ones a
 * document lacks in that order, where the diff appends u then i in listed
 * order. So new fields of one object translate only when the listed order
 * is sorted under both orders; a subset of a sorted list stays sorted, so
 * it does not matter which u fields the document already has.
 */

/* std::string's order: bytes as unsigned, a prefix first. */
static bool
less_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c < 0 || (c == 0 && alen < blen);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* mongod's cmpPathsAndArrayIndexes: names that are numbers by length, then digits. */
static bool
less_paths(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	uint32_t i;

	if (alen == 0 || blen == 0 || !is_digit(a[0]) || !is_digit(b[0]) ||
	    (a[0] == '0' && alen > 1) || (b[0] == '0' && blen > 1))
		return less_bytes(a, alen, b, blen);
	if (alen != blen)
		return alen < blen;
	for (i = 0; i < alen && is_digit(a[i]) && is_digit(b[i]); i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i];
	return less_bytes(a, alen, b, blen);
}

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

	if (!array_open(ctx, data, len, &r))
		return false;
	if (r.has_size)
		return inexact(ctx, "at %.200s: l resizes the array", x->path);
	while (ok && (status = array_next(ctx, &r, &mod)) == 1) {
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

	if (!change_value(ctx, c, &value))
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
		if (is_array_diff(data, len))
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
	bool ok = table_build(ctx, data, len, &t);

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
			if (prev != NULL && !(less_bytes(prev->name, prev->namelen, c->name, c->namelen) &&
			    less_paths(prev->name, prev->namelen, c->name, c->namelen)))
				ok = inexact(ctx, "at %.200s: mongod would append new fields \"%.*s\" and "
				    "\"%.*s\" in sorted order, not as listed", x->path,
				    (int)(prev->namelen > 64 ? 64 : prev->namelen), prev->name,
				    (int)(c->namelen > 64 ? 64 : c->namelen), c->name);
			prev = c;
		}
		ok = ok && walk_change(ctx, x, c, depth);
		xpath_pop(x, old);
	}
	table_free(&t);
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
	ctx_init(&ctx, msg, sizeof(msg));
	memset(&x, 0, sizeof(x));
	bson_init(&x.set);
	bson_init(&x.unset);
	x.filter = filter;
	x.path = xmalloc(x.pathcap = 64);
	x.path[0] = '\0';

	ok = check_bson(&ctx, diff, "diff") &&
	    validate_object(&ctx, bson_get_data(diff), diff->len, 0) &&
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
