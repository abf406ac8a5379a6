/*
 * operators.c - apply the $set/$unset of an update entry as mongod does.
 *
 * Written from what mongod's update system does (update_object_node:
 * the paths of one level applied in cmpPathsAndArrayIndexes order;
 * path_support: what a path finds, what it creates, padding; set_node,
 * unset_node), not from its code. The paths are sorted part by part
 * once, so every level below is a contiguous run of them: one pass over
 * the document writes the result, existing fields in place, new ones
 * appended in that order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "field-order.h"
#include "operators.h"

#define MAX_DOCUMENT	(16 * 1024 * 1024)	/* mongod's limit on a user document */
#define MAX_PADDING	1500000	/* mongod pads an array with at most this many nulls */
#define MAX_PARTS	200	/* parts of one path (mongod: 100 levels of nesting, and slack) */

struct part {
	const char *name;
	uint32_t length;
};

struct mod {
	const char *path;
	struct part *parts;
	size_t count;
	bool unset;
	bson_iter_t value;	/* $set's */
};

struct ctx {
	char *errbuf;
	size_t errsize;
	bool failed;
};

static bool __attribute__((format(printf, 2, 3)))
fail(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->failed)
		return false;
	ctx->failed = true;
	va_start(ap, fmt);
	vsnprintf(ctx->errbuf, ctx->errsize, fmt, ap);
	va_end(ap);
	return false;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* mongod's order of the names $set creates (field-order.h). */
static int
name_compare(const struct part *a, const struct part *b)
{
	return field_name_compare(a->name, a->length, b->name, b->length);
}

static bool
same_name(const struct part *a, const char *name, uint32_t length)
{
	return a->length == length && memcmp(a->name, name, length) == 0;
}

/* Part by part; a path sorts before the paths it is a prefix of. */
static int
mod_compare(const void *pa, const void *pb)
{
	const struct mod *a = pa, *b = pb;
	size_t k;
	int c;

	for (k = 0; k < a->count && k < b->count; k++)
		if ((c = name_compare(&a->parts[k], &b->parts[k])) != 0)
			return c;
	return a->count == b->count ? 0 : a->count < b->count ? -1 : 1;
}

static bool
split_path(struct ctx *ctx, struct mod *mod)
{
	const char *at = mod->path, *dot;

	mod->parts = xcalloc(MAX_PARTS, sizeof(*mod->parts));
	if (!bson_utf8_validate(mod->path, strlen(mod->path), false))
		return fail(ctx, "a path is not valid UTF-8");
	for (;;) {
		dot = strchr(at, '.');
		if (mod->count == MAX_PARTS)
			return fail(ctx, "path '%s' has more than %d parts", mod->path, MAX_PARTS);
		mod->parts[mod->count].name = at;
		mod->parts[mod->count].length = (uint32_t)(dot != NULL ? (size_t)(dot - at) : strlen(at));
		if (mod->parts[mod->count].length == 0)
			return fail(ctx, "path '%s' has an empty part", mod->path);
		if (at[0] == '$')
			return fail(ctx, "path '%s' has a positional part", mod->path);
		mod->count++;
		if (dot == NULL)
			return true;
		at = dot + 1;
	}
}

/* The mods of o's $set and $unset, sorted; conflicting paths fail, as mongod's parser does. */
static bool
mods_read(struct ctx *ctx, const bson_t *o, struct mod **mods, size_t *count)
{
	bson_iter_t iter, fields;
	size_t n = 0, size = 0, k;

	*mods = NULL;
	*count = 0;
	if (!bson_iter_init(&iter, o))
		return fail(ctx, "unreadable update");
	while (bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);
		bool unset = strcmp(key, "$unset") == 0;

		if (strcmp(key, "$v") == 0)
			continue;
		if (!unset && strcmp(key, "$set") != 0)
			return fail(ctx, "operator %s is not $set or $unset", key);
		if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &fields))
			return fail(ctx, "%s is not a document", key);
		while (bson_iter_next(&fields)) {
			struct mod *mod;

			if (n == size) {
				size = size ? size * 2 : 8;
				*mods = xrealloc(*mods, size * sizeof(**mods));
			}
			mod = &(*mods)[n++];
			*count = n;
			memset(mod, 0, sizeof(*mod));
			mod->path = bson_iter_key(&fields);
			mod->unset = unset;
			mod->value = fields;
			if (!split_path(ctx, mod))
				return false;
		}
		if (fields.err_off != 0)
			return fail(ctx, "%s is corrupt", key);
	}
	if (iter.err_off != 0)
		return fail(ctx, "the update is corrupt");
	if (n == 0)
		return fail(ctx, "an update with no $set or $unset path");
	qsort(*mods, n, sizeof(**mods), mod_compare);
	for (k = 0; k + 1 < n; k++) {
		const struct mod *a = &(*mods)[k], *b = &(*mods)[k + 1];
		size_t p;

		for (p = 0; p < a->count && same_name(&a->parts[p], b->parts[p].name,
		    b->parts[p].length); p++)
			continue;
		if (p == a->count)
			return fail(ctx, "updating the path '%s' would create a conflict at '%s'",
			    b->path, a->path);
	}
	return true;
}

static void
mods_free(struct mod *mods, size_t count)
{
	size_t k;

	for (k = 0; k < count; k++)
		free(mods[k].parts);
	free(mods);
}

/* The end of the run of mods from `from` that share part `depth`. */
static size_t
group_end(const struct mod *mods, size_t from, size_t to, size_t depth)
{
	size_t end = from + 1;

	while (end < to && same_name(&mods[end].parts[depth], mods[from].parts[depth].name,
	    mods[from].parts[depth].length))
		end++;
	return end;
}

static bool
group_sets(const struct mod *mods, size_t from, size_t to)
{
	for (; from < to; from++)
		if (!mods[from].unset)
			return true;
	return false;
}

static bool apply_object(struct ctx *, const bson_t *, const struct mod *, size_t, size_t, size_t,
    bson_t *);
static bool apply_array(struct ctx *, const bson_iter_t *, const struct mod *, size_t, size_t,
    size_t, bson_t *, const char *);

static bool
append_key(struct ctx *ctx, bool ok)
{
	return ok || fail(ctx, "the document passes %d bytes", MAX_DOCUMENT);
}

/*
 * A field or element made by the run mods[from, to) of part `depth`
 * where nothing was: a $set's value, or objects down to it; a run of
 * $unset alone makes nothing.
 */
static bool
create(struct ctx *ctx, const struct mod *mods, size_t from, size_t to, size_t depth, bson_t *out,
    const char *key, uint32_t keylen)
{
	bson_t child;

	if (!group_sets(mods, from, to))
		return true;
	if (mods[from].count == depth + 1)
		return append_key(ctx, bson_append_iter(out, key, (int)keylen, &mods[from].value));
	if (!bson_append_document_begin(out, key, (int)keylen, &child))
		return append_key(ctx, false);
	if (!apply_object(ctx, NULL, mods, from, to, depth + 1, &child))
		return false;
	return append_key(ctx, bson_append_document_end(out, &child));
}

/*
 * The field or element found at part `depth`, under the run mods[from,
 * to): replaced or unset when a path ends here (in an array an unset
 * element becomes null), descended into otherwise.
 */
static bool
change(struct ctx *ctx, const bson_iter_t *found, const struct mod *mods, size_t from, size_t to,
    size_t depth, bool in_array, bson_t *out, const char *key, uint32_t keylen)
{
	const struct mod *mod = &mods[from];
	const uint8_t *data;
	uint32_t length;
	bson_t sub, child;

	if (mod->count == depth + 1) {
		if (!mod->unset)
			return append_key(ctx, bson_append_iter(out, key, (int)keylen, &mod->value));
		return !in_array || append_key(ctx, bson_append_null(out, key, (int)keylen));
	}
	if (BSON_ITER_HOLDS_DOCUMENT(found)) {
		bson_iter_document(found, &length, &data);
		if (!bson_init_static(&sub, data, length))
			return fail(ctx, "corrupt document at '%.*s'", (int)keylen, key);
		if (!bson_append_document_begin(out, key, (int)keylen, &child))
			return append_key(ctx, false);
		if (!apply_object(ctx, &sub, mods, from, to, depth + 1, &child))
			return false;
		return append_key(ctx, bson_append_document_end(out, &child));
	}
	if (BSON_ITER_HOLDS_ARRAY(found)) {
		if (!bson_append_array_begin(out, key, (int)keylen, &child))
			return append_key(ctx, false);
		if (!apply_array(ctx, found, mods, from, to, depth + 1, &child, mod->path))
			return false;
		return append_key(ctx, bson_append_array_end(out, &child));
	}
	if (group_sets(mods, from, to))
		return fail(ctx, "Cannot create field '%.*s' in element {%.*s: a %s}",
		    (int)mod->parts[depth + 1].length, mod->parts[depth + 1].name, (int)keylen, key,
		    bson_iter_type(found) == BSON_TYPE_NULL ? "null" : "scalar");
	return append_key(ctx, bson_append_iter(out, key, (int)keylen, found));	/* unset: not there */
}

/* The object doc (NULL: a new one) under mods[from, to), which share parts [0, depth). */
static bool
apply_object(struct ctx *ctx, const bson_t *doc, const struct mod *mods, size_t from, size_t to,
    size_t depth, bson_t *out)
{
	bool *done = xcalloc(to - from + 1, sizeof(*done));
	bson_iter_t iter;
	size_t g, end = to;
	bool ok = true;

	if (doc != NULL && !bson_iter_init(&iter, doc))
		ok = fail(ctx, "unreadable document");
	while (ok && doc != NULL && bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);
		uint32_t keylen = bson_iter_key_len(&iter);

		for (g = from; g < to; g = end) {
			end = group_end(mods, g, to, depth);
			if (same_name(&mods[g].parts[depth], key, keylen))
				break;
		}
		if (g == to) {
			ok = append_key(ctx, bson_append_iter(out, key, (int)keylen, &iter));
			continue;
		}
		done[g - from] = true;
		ok = change(ctx, &iter, mods, g, end, depth, false, out, key, keylen);
	}
	for (g = from; ok && g < to; g = end) {
		end = group_end(mods, g, to, depth);
		if (!done[g - from])
			ok = create(ctx, mods, g, end, depth, out, mods[g].parts[depth].name,
			    mods[g].parts[depth].length);
	}
	free(done);
	return ok;
}

/* The array index a part names (digits, no zero-padding), or -1. */
static int64_t
part_index(const struct part *part)
{
	int64_t index = 0;
	uint32_t k;

	if (part->length == 0 || part->length > 9 || (part->name[0] == '0' && part->length > 1))
		return -1;
	for (k = 0; k < part->length; k++) {
		if (!is_digit(part->name[k]))
			return -1;
		index = index * 10 + (part->name[k] - '0');
	}
	return index;
}

/* A run of mods that names an element of an array: its index and where it is. */
struct slot {
	int64_t index;
	size_t from, to;
};

/*
 * The array at found under mods[from, to), whose part `depth` names an
 * element. Runs that name an index come sorted by it (the order sorts
 * plain numbers by value); a $set by a name that is no index fails, an
 * $unset by one changes nothing.
 */
static bool
apply_array(struct ctx *ctx, const bson_iter_t *found, const struct mod *mods, size_t from,
    size_t to, size_t depth, bson_t *out, const char *path)
{
	struct slot *slots = xcalloc(to - from + 1, sizeof(*slots));
	size_t nslots = 0, next = 0, g, end = to;
	int64_t length = 0, size, index;
	bson_iter_t iter;
	const char *name;
	char key[16];
	bool ok = true;

	if (!bson_iter_recurse(found, &iter))
		ok = fail(ctx, "corrupt array at '%s'", path);
	while (ok && bson_iter_next(&iter))
		length++;
	size = length;
	for (g = from; ok && g < to; g = end) {
		int64_t at = part_index(&mods[g].parts[depth]);

		end = group_end(mods, g, to, depth);
		if (at < 0 && group_sets(mods, g, end))
			ok = fail(ctx, "Cannot create field '%.*s' in an array at '%s'",
			    (int)mods[g].parts[depth].length, mods[g].parts[depth].name, path);
		else if (at >= length + MAX_PADDING && group_sets(mods, g, end))
			ok = fail(ctx, "can't backfill array to larger than %d elements at '%s'",
			    MAX_PADDING, path);
		if (at < 0)
			continue;
		slots[nslots++] = (struct slot){ at, g, end };
		if (at >= size && group_sets(mods, g, end))
			size = at + 1;
	}
	if (ok && !bson_iter_recurse(found, &iter))
		ok = fail(ctx, "corrupt array at '%s'", path);
	for (index = 0; ok && index < size; index++) {
		bool has = index < length && bson_iter_next(&iter);
		uint32_t keylen = (uint32_t)bson_uint32_to_string((uint32_t)index, &name, key,
		    sizeof(key));

		if (next < nslots && slots[next].index == index) {
			const struct slot *slot = &slots[next++];

			if (has)
				ok = change(ctx, &iter, mods, slot->from, slot->to, depth, true, out, name,
				    keylen);
			else if (group_sets(mods, slot->from, slot->to))
				ok = create(ctx, mods, slot->from, slot->to, depth, out, name, keylen);
			else	/* an $unset in the padding: a null like the rest */
				ok = append_key(ctx, bson_append_null(out, name, (int)keylen));
		} else if (has) {
			ok = append_key(ctx, bson_append_iter(out, name, (int)keylen, &iter));
		} else {
			ok = append_key(ctx, bson_append_null(out, name, (int)keylen));
		}
	}
	free(slots);
	return ok;
}

bool
operators_apply(const bson_t *doc, const bson_t *o, bson_t *out, char *errbuf, size_t errsize)
{
	struct ctx ctx = { errbuf, errsize, false };
	struct mod *mods;
	size_t count;
	bool ok;

	bson_init(out);
	ok = mods_read(&ctx, o, &mods, &count) && apply_object(&ctx, doc, mods, 0, count, 0, out);
	if (ok && out->len > MAX_DOCUMENT)
		ok = fail(&ctx, "the document passes %d bytes", MAX_DOCUMENT);
	mods_free(mods, count);
	if (!ok) {
		bson_destroy(out);
		bson_init(out);
	}
	return ok;
}

bool
operators_apply_here(const bson_t *o)
{
	bson_iter_t iter, fields;
	bool digits = false;

	if (!bson_iter_init(&iter, o))
		return false;
	while (bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);

		if (strcmp(key, "$v") == 0)
			continue;
		if ((strcmp(key, "$set") != 0 && strcmp(key, "$unset") != 0) ||
		    !BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &fields))
			return false;
		while (bson_iter_next(&fields)) {
			const char *at = bson_iter_key(&fields), *dot;

			for (;; at = dot + 1) {
				digits |= is_digit(*at);
				if ((dot = strchr(at, '.')) == NULL)
					break;
			}
		}
	}
	return digits;
}
