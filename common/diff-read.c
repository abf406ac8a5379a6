/*
 * diff-read.c - read the parts of a $v:2 diff: a document diff's sections
 * as a table of changes (in order, and by name), an array diff's header
 * and u<idx>/s<idx> entries, a b entry's {o, d}.
 *
 * Written from what mongod does (document_diff_serialization: the format
 * and what a reader rejects), not from its code. Where mongod would crash
 * or loop on a diff it never writes (array indexes out of order, an index
 * at or past l), the diff is refused.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "diff-internal.h"

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

void
diff_table_free(struct table *t)
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
bool
diff_table_build(struct ctx *ctx, const uint8_t *data, uint32_t len, struct table *t)
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

struct change *
diff_table_find(const struct table *t, const char *name, uint32_t namelen)
{
	struct change key, *keyp = &key, **found;

	key.name = name;
	key.namelen = namelen;
	found = bsearch(&keyp, t->sorted, t->count, sizeof(*t->sorted), change_compare);
	return found != NULL ? *found : NULL;
}

/* Position it on the change's element (the sub-diff, for s). */
bool
diff_change_value(struct ctx *ctx, const struct change *c, bson_iter_t *it)
{
	if (!bson_iter_init_from_data_at_offset(it, c->container, c->container_len, c->offset, c->keylen))
		return fail(ctx, "corrupt diff element");
	return true;
}

/* mongod's rule: a sub-diff is an array diff when its first field is named a. */
bool
diff_is_array(const uint8_t *data, uint32_t len)
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
bool
diff_array_open(struct ctx *ctx, const uint8_t *data, uint32_t len, struct array_reader *r)
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
int
diff_array_next(struct ctx *ctx, struct array_reader *r, struct array_mod *mod)
{
	if (!bson_iter_next(&r->iter)) {
		if (r->iter.err_off == 0)
			return 0;
		fail(ctx, "corrupt array diff");
		return -1;
	}
	return array_entry(ctx, r, mod) ? 1 : -1;
}

/* A value's type, with its article, for messages. */
const char *
diff_type_name(bson_type_t type)
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
		    diff_type_name(bson_iter_type(iter)));
	}
	if (value < 0 || value > INT32_MAX)
		return fail(ctx, "b entry offset o: %" PRId64 " is out of range (0 to %d)", value,
		    INT32_MAX);
	*out = (uint32_t)value;
	return true;
}

/* Read and check a b entry's value: exactly o and d, each once. */
bool
diff_patch_read(struct ctx *ctx, const bson_iter_t *entry, struct patch *p)
{
	bson_iter_t iter;
	bson_subtype_t subtype;
	bool has_offset = false, has_data = false;

	memset(p, 0, sizeof(*p));
	if (!BSON_ITER_HOLDS_DOCUMENT(entry))
		return fail(ctx, "b entry is %s, not an object {o, d}",
		    diff_type_name(bson_iter_type(entry)));
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
				    diff_type_name(bson_iter_type(&iter)));
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

