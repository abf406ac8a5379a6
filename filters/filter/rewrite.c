/*
 * rewrite.c - the entries oplog-filter writes in place of one: a copy
 * with some top-level fields replaced or removed, a collection command
 * moved to its renamed namespace (index specs included), a drop.
 *
 * Every copy keeps the order of the original's fields, so a renamed
 * entry differs from its source only where the rename reaches.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "die.h"
#include "filter.h"

static const struct edit *
edit_find(const struct edit *edits, size_t count, const char *key)
{
	size_t k;

	for (k = 0; k < count; k++)
		if (strcmp(edits[k].key, key) == 0)
			return &edits[k];
	return NULL;
}

void
copy_edited(const struct filter *x, const bson_t *src, bson_t *out, const struct edit *edits,
    size_t count)
{
	bson_iter_t iter;
	bool ok = true;

	bson_init(out);
	if (!bson_iter_init(&iter, src))
		return;
	while (ok && bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);
		const struct edit *edit = edit_find(edits, count, key);

		if (edit == NULL) {
			ok = bson_append_iter(out, key, -1, &iter);
			continue;
		}
		switch (edit->kind) {
		case EDIT_UTF8: ok = bson_append_utf8(out, key, -1, edit->text, -1); break;
		case EDIT_DOCUMENT: ok = bson_append_document(out, key, -1, edit->doc); break;
		case EDIT_ARRAY: ok = bson_append_array(out, key, -1, edit->doc); break;
		case EDIT_REMOVE: break;
		}
	}
	if (!ok)
		too_large(x);
}

bool
borrow_field(const bson_t *doc, const char *key, bool array, bson_t *out)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;

	if (!bson_iter_init_find(&iter, doc, key))
		return false;
	if (array ? !BSON_ITER_HOLDS_ARRAY(&iter) : !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return false;
	if (array)
		bson_iter_array(&iter, &length, &data);
	else
		bson_iter_document(&iter, &length, &data);
	return bson_init_static(out, data, length);
}

const char *
utf8_field(const bson_t *doc, const char *key)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, doc, key) && BSON_ITER_HOLDS_UTF8(&iter))
		return bson_iter_utf8(&iter, NULL);
	return NULL;
}

/* Split "db.coll" into "db.$cmd" and "coll" (coll points into ns). */
static const char *
split_namespace(const struct filter *x, const char *ns, char *command_ns, size_t size)
{
	char db[NS_MAX];
	int n;

	ns_database(ns, db, sizeof(db));
	n = snprintf(command_ns, size, "%s.$cmd", db);
	if (n < 0 || (size_t)n >= size)
		die(EXIT_BAD_STREAM, "%s: entry %" PRIu64 ": database name too long: %.64s...",
		    x->name, x->entry, db);
	return ns[strlen(db)] == '.' ? ns + strlen(db) + 1 : "";
}

bool
renamed(const struct filter *x, const char *ns, char *out)
{
	return ns_rename(x->config->filter, ns, out, NS_MAX) && strcmp(ns, out) != 0;
}

void
spec_renamed(const struct filter *x, const bson_t *spec, const char *ns, bson_t *out)
{
	const struct edit edit = { "ns", EDIT_UTF8, ns, NULL };

	copy_edited(x, spec, out, &edit, 1);
}

/* An array of index specs, each renamed. */
static void
specs_renamed(const struct filter *x, const bson_t *specs, const char *ns, bson_t *out)
{
	bson_iter_t iter;
	uint32_t index = 0;

	bson_init(out);
	if (!bson_iter_init(&iter, specs))
		return;
	while (bson_iter_next(&iter)) {
		char key[16];
		const char *key_text;
		size_t key_length = bson_uint32_to_string(index++, &key_text, key, sizeof(key));
		bson_t spec, edited;
		const uint8_t *data;
		uint32_t length;
		bool ok;

		if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
			if (!bson_append_iter(out, key_text, (int)key_length, &iter))
				too_large(x);
			continue;
		}
		bson_iter_document(&iter, &length, &data);
		if (!bson_init_static(&spec, data, length))
			continue;
		spec_renamed(x, &spec, ns, &edited);
		ok = bson_append_document(out, key_text, (int)key_length, &edited);
		bson_destroy(&edited);
		if (!ok)
			too_large(x);
	}
}

void
put_command_renamed(struct filter *x, const bson_t *entry, const char *name, const char *new_ns,
    struct sink *sink)
{
	char command_ns[NS_MAX];
	const char *coll = split_namespace(x, new_ns, command_ns, sizeof(command_ns));
	bson_t o, id_index, indexes, id_index_new, indexes_new, o_new, out;
	struct edit o_edits[4];
	struct edit entry_edits[2];
	size_t count = 0;

	if (!entry_object(entry, "o", &o))
		return;
	bson_init(&id_index_new);
	bson_init(&indexes_new);
	o_edits[count++] = (struct edit){ name, EDIT_UTF8, coll, NULL };
	if (utf8_field(&o, "ns") != NULL)
		o_edits[count++] = (struct edit){ "ns", EDIT_UTF8, new_ns, NULL };
	if (borrow_field(&o, "idIndex", false, &id_index)) {
		bson_destroy(&id_index_new);
		spec_renamed(x, &id_index, new_ns, &id_index_new);
		o_edits[count++] = (struct edit){ "idIndex", EDIT_DOCUMENT, NULL, &id_index_new };
	}
	if (borrow_field(&o, "indexes", true, &indexes)) {
		bson_destroy(&indexes_new);
		specs_renamed(x, &indexes, new_ns, &indexes_new);
		o_edits[count++] = (struct edit){ "indexes", EDIT_ARRAY, NULL, &indexes_new };
	}
	copy_edited(x, &o, &o_new, o_edits, count);
	entry_edits[0] = (struct edit){ "ns", EDIT_UTF8, command_ns, NULL };
	entry_edits[1] = (struct edit){ "o", EDIT_DOCUMENT, NULL, &o_new };
	copy_edited(x, entry, &out, entry_edits, 2);
	sink_put(x, sink, &out);
	bson_destroy(&out);
	bson_destroy(&o_new);
	bson_destroy(&indexes_new);
	bson_destroy(&id_index_new);
}

void
put_drop(struct filter *x, const bson_t *entry, const char *ns, struct sink *sink)
{
	char command_ns[NS_MAX];
	const char *coll = split_namespace(x, ns, command_ns, sizeof(command_ns));
	bson_t o, out;
	struct edit edits[4] = {
		{ "ns", EDIT_UTF8, command_ns, NULL },
		{ "o", EDIT_DOCUMENT, NULL, &o },
		{ "o2", EDIT_REMOVE, NULL, NULL },
		{ "ui", EDIT_REMOVE, NULL, NULL },
	};

	bson_init(&o);
	BSON_APPEND_UTF8(&o, "drop", coll);
	copy_edited(x, entry, &out, edits, 4);
	sink_put(x, sink, &out);
	bson_destroy(&out);
	bson_destroy(&o);
}
