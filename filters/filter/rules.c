/*
 * rules.c - oplog-filter's rules for one entry: by --op, then data
 * entries by their ns (an old index insert by o.ns), commands by the
 * collections they act on (in o, not in ns), applyOps by its inner ops
 * one by one through these same rules.
 *
 * A rule says whether the entry passes as it is (its original bytes are
 * then copied) or has been dropped or replaced by what went to the sink.
 */
#include <string.h>

#include "filter.h"

static bool
op_selected(const struct filter *x, const char *op)
{
	const char *at;

	if (!x->config->op_given)
		return true;
	at = op[0] != '\0' && op[1] == '\0' ? strchr(FILTER_OPS, op[0]) : NULL;
	return at != NULL && x->config->ops[at - FILTER_OPS];
}

/* i, u, d (and unknown ops): by ns, or by o.ns for an old index insert. */
static bool
filter_data(struct filter *x, const bson_t *entry, struct sink *sink)
{
	const char *ns = entry_ns(entry), *target = ns, *index_ns;
	char new_ns[NS_MAX], new_entry_ns[NS_MAX];
	bson_t o, o_new, out;
	bool index_insert = false;
	size_t length = strlen(ns);

	if (length > 15 && strcmp(ns + length - 15, ".system.indexes") == 0 &&
	    entry_object(entry, "o", &o) && (index_ns = utf8_field(&o, "ns")) != NULL) {
		target = index_ns;
		index_insert = true;
	}
	if (x->selecting && !ns_match(x->config->filter, target))
		return false;
	if (!renamed(x, target, new_ns))
		return true;
	if (!index_insert) {
		const struct edit edit = { "ns", EDIT_UTF8, new_ns, NULL };

		copy_edited(x, entry, &out, &edit, 1);
	} else {
		struct edit edits[2];

		ns_database(new_ns, new_entry_ns, sizeof(new_entry_ns));
		strncat(new_entry_ns, ".system.indexes", sizeof(new_entry_ns) - strlen(new_entry_ns) - 1);
		spec_renamed(x, &o, new_ns, &o_new);
		edits[0] = (struct edit){ "ns", EDIT_UTF8, new_entry_ns, NULL };
		edits[1] = (struct edit){ "o", EDIT_DOCUMENT, NULL, &o_new };
		copy_edited(x, entry, &out, edits, 2);
		bson_destroy(&o_new);
	}
	sink_put(x, sink, &out);
	bson_destroy(&out);
	return false;
}

static bool
filter_collection_command(struct filter *x, const bson_t *entry, const char *name,
    const char *ns, struct sink *sink)
{
	char new_ns[NS_MAX];

	if (x->selecting && !ns_match(x->config->filter, ns))
		return false;
	if (!renamed(x, ns, new_ns))
		return true;
	put_command_renamed(x, entry, name, new_ns, sink);
	return false;
}

/*
 * An applyOps whose inner ops all went: dropped, unless it is a link of
 * a transaction (partialTxn, prepare, or a commit with a prevOpTime);
 * then it stays, empty, so the applier sees the transaction whole from
 * its first link to its end (it refuses a commit whose chain starts
 * before the stream).
 */
static bool
empty_apply_ops_needed(const bson_t *entry, const bson_t *o)
{
	bson_t previous;
	timestamp_t ts;

	if (entry_flag(o, "prepare") || entry_flag(o, "partialTxn") || entry_flag(entry, "partialTxn"))
		return true;
	if (bson_has_field(entry, "multiOpType"))
		return false;	/* batched retryable writes chain prevOpTime too */
	if (!entry_object(entry, "prevOpTime", &previous))
		return false;
	ts = entry_ts(&previous);
	return ts.t != 0 || ts.i != 0;
}

/* applyOps: every inner op through the same rules. */
static bool
filter_apply_ops(struct filter *x, const bson_t *entry, struct sink *sink)
{
	bson_t o, ops, kept, o_new, out;
	struct sink inner = { &kept, 0 };
	bson_iter_t iter;
	bool changed = false;

	if (!entry_object(entry, "o", &o) || !borrow_field(&o, "applyOps", true, &ops) ||
	    !bson_iter_init(&iter, &ops))
		return true;
	bson_init(&kept);
	while (bson_iter_next(&iter)) {
		const uint8_t *data;
		uint32_t length;
		bson_t op;

		if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
			bson_iter_document(&iter, &length, &data);
			if (bson_init_static(&op, data, length) && !filter_entry(x, &op, &inner)) {
				changed = true;
				continue;
			}
		}
		/* kept as it was: copied under its new index */
		{
			char key[16];
			const char *key_text;
			size_t key_length = bson_uint32_to_string(inner.next_index++, &key_text,
			    key, sizeof(key));

			if (!bson_append_iter(&kept, key_text, (int)key_length, &iter))
				too_large(x);
		}
	}
	if (!changed) {
		bson_destroy(&kept);
		return true;
	}
	if (inner.next_index > 0 || empty_apply_ops_needed(entry, &o)) {
		const struct edit o_edit = { "applyOps", EDIT_ARRAY, NULL, &kept };
		const struct edit entry_edit = { "o", EDIT_DOCUMENT, NULL, &o_new };

		copy_edited(x, &o, &o_new, &o_edit, 1);
		copy_edited(x, entry, &out, &entry_edit, 1);
		sink_put(x, sink, &out);
		bson_destroy(&out);
		bson_destroy(&o_new);
	}
	bson_destroy(&kept);
	return false;
}

/* Commands other than applyOps and these go by the database of their ns. */
static bool
filter_other_command(struct filter *x, const bson_t *entry, struct sink *sink)
{
	const char *ns = entry_ns(entry);
	char db[NS_MAX], new_ns[NS_MAX];
	bson_t out;

	ns_database(ns, db, sizeof(db));
	if (x->selecting && !ns_match_database(x->config->filter, db))
		return false;
	if (!renamed(x, ns, new_ns))
		return true;
	{
		const struct edit edit = { "ns", EDIT_UTF8, new_ns, NULL };

		copy_edited(x, entry, &out, &edit, 1);
	}
	sink_put(x, sink, &out);
	bson_destroy(&out);
	return false;
}

static bool
filter_command(struct filter *x, const bson_t *entry, struct sink *sink)
{
	const char *name = entry_command(entry);
	char ns[2][NS_MAX];
	int count;

	if (strcmp(name, "applyOps") == 0)
		return filter_apply_ops(x, entry, sink);
	/* They end transactions whose ops were filtered already. */
	if (strcmp(name, "commitTransaction") == 0 || strcmp(name, "abortTransaction") == 0)
		return true;
	if (!op_selected(x, "c"))
		return false;
	if (strcmp(name, "dropDatabase") == 0)
		return filter_drop_database(x, entry, sink);
	count = command_namespaces(entry, ns);
	if (strcmp(name, "renameCollection") == 0 && count == 2)
		return filter_rename_collection(x, entry, (const char (*)[NS_MAX])ns, sink);
	if (count == 1)
		return filter_collection_command(x, entry, name, ns[0], sink);
	return filter_other_command(x, entry, sink);
}

bool
filter_entry(struct filter *x, const bson_t *entry, struct sink *sink)
{
	const char *op = entry_op(entry);

	if (strcmp(op, "c") == 0)
		return filter_command(x, entry, sink);
	if (!op_selected(x, op))
		return false;
	if (strcmp(op, "n") == 0)
		return true;
	return filter_data(x, entry, sink);
}
