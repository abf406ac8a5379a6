/*
 * oplog-filter - keep, drop and rename the entries of an oplog stream by
 * namespace, operation and time.
 *
 * An entry that passes unchanged is copied as its original bytes, so with
 * no options the output is the input, validated. Commands are judged by
 * the collections they act on (in o, not in ns), applyOps by its inner
 * ops, one by one. Where a command straddles the selection (a rename from
 * a selected collection to one left out, a dropDatabase of a database
 * only partly selected) the entry is turned into what the destination
 * needs instead; see the man page for each case and why.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "die.h"
#include "entry.h"
#include "ns.h"
#include "options.h"
#include "stream.h"

#define NS_MAX 256
#define IDLE_FLUSH_MS 50	/* flush the output once input pauses this long */

static struct {
	ns_filter *filter;
	bool selecting;		/* some --ns/--exclude/--ns-regex given */
	bool renaming;
	bool op_given;
	bool ops[5];		/* i u d c n */
	bool have_since, have_until;
	timestamp_t since, until;	/* since exclusive, until inclusive */
	const char *output;
	int zstd_level;
} opt;

static const char op_names[] = "iudcn";	/* the order of opt.ops */
static int first_operand;	/* argv's first FILE */

/* Where we are, for messages; and the output with its segment counters. */
static struct {
	const char *name;
	uint64_t entry;
	stream_writer *out;
	uint64_t written;	/* data entries written since the last header */
	bool modified;		/* some entry dropped or rewritten since then */
	uint64_t warnings;
} run;

/* Where a filtered entry goes: the output stream, or an applyOps array. */
struct sink {
	bson_t *array;		/* NULL: the output stream */
	uint32_t next_index;
};

static void read_command_line(int, char *[]);
static void filter_stream(stream_reader *);
static bool filter_entry(const bson_t *, struct sink *);

int
main(int argc, char *argv[])
{
	int k;

	die_init(argv[0]);
	opt.filter = ns_filter_new();
	read_command_line(argc, argv);
	stream_refuse_tty(opt.output);
	/* SIGINT/SIGTERM end the input early, the output whole: zstd frame closed. */
	cli_catch_signals();
	run.out = stream_create(opt.output, opt.zstd_level, false);
	if (run.out == NULL)
		exit(EXIT_DIFFERENT);
	for (k = first_operand; (k < argc || k == first_operand) && !cli_stop; k++) {
		stream_reader *reader = stream_open(k < argc ? argv[k] : NULL);

		if (reader == NULL) {
			(void)stream_finish(run.out);
			exit(EXIT_USAGE);
		}
		filter_stream(reader);
		stream_close(reader);
	}
	if (!stream_finish(run.out))
		exit(EXIT_DIFFERENT);
	ns_filter_free(opt.filter);
	return EXIT_DONE;
}

static void
parse_ops(const char *name, const char *list, void *unused)
{
	const char *p = list;

	opt.op_given = true;
	for (;;) {
		const char *at = strchr(op_names, *p);

		if (*p == '\0' || at == NULL || (p[1] != ',' && p[1] != '\0'))
			die(EXIT_USAGE, "--op '%s': expected a list of i, u, d, c, n", list);
		opt.ops[at - op_names] = true;
		if (p[1] == '\0')
			return;
		p += 2;
	}
}

static void
parse_ts(const char *option, const char *text, void *value)
{
	bool *given = value == &opt.since ? &opt.have_since : &opt.have_until;

	if (!ts_parse(text, value))
		die(EXIT_USAGE, "%s '%s': expected T, T,I or {\"$timestamp\":...}", option, text);
	*given = true;
}

static void
read_command_line(int argc, char *argv[])
{
	static const struct program program = {
		.name = "oplog-filter",
		.synopsis = "[options] [FILE ...]",
		.summary = "Keep, drop and rename the entries of an oplog stream.",
		.details =
		    "TS is T, T,I or {\"$timestamp\":{\"t\":T,\"i\":I}}. Without options the\n"
		    "output is the input, validated. Reads stdin without FILE.\n",
		.min_operands = 0, .max_operands = -1,
	};
	struct ns_select select = { .filter = opt.filter };
	const struct option_def table[] = {
		OPT_NS_SELECT(&select),
		OPT_CALL(0, "op", "LIST", parse_ops, NULL, "keep only these operations (i,u,d,c,n)"),
		OPT_CALL(0, "since", "TS", parse_ts, &opt.since, "keep entries after TS (exclusive)"),
		OPT_CALL(0, "until", "TS", parse_ts, &opt.until, "keep entries up to TS (inclusive)"),
		OPT_NS_RENAME(&select),
		OPT_OUTPUT(&opt.output, "write to FILE instead of stdout"),
		OPT_ZSTD(&opt.zstd_level),
		OPT_END(),
	};

	first_operand = options_parse(&program, table, argc, argv);
	options_ns_select_check(&program, &select);
	options_ns_select_free(&select);
	opt.renaming = ns_has_renames(opt.filter);
	opt.selecting = ns_filter_is_set(opt.filter);
}

static void
lossy(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A warning about an entry the destination cannot get exactly right. */
static void
lossy(const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	warnmsg("%s: entry %" PRIu64 ": %s", run.name, run.entry, message);
	run.warnings++;
}

static void
too_large(void)
{
	die(EXIT_DIFFERENT, "%s: entry %" PRIu64 ": the rewritten entry is too large",
	    run.name, run.entry);
}

static void
sink_put(struct sink *sink, const bson_t *doc)
{
	char key[16];
	const char *key_text;
	size_t key_length;

	if (sink->array == NULL) {
		if (!stream_write(run.out, doc))
			exit(EXIT_DIFFERENT);
		run.written++;
		return;
	}
	key_length = bson_uint32_to_string(sink->next_index++, &key_text, key, sizeof(key));
	if (!bson_append_document(sink->array, key_text, (int)key_length, doc))
		too_large();
}

static bool
op_selected(const char *op)
{
	const char *at;

	if (!opt.op_given)
		return true;
	at = op[0] != '\0' && op[1] == '\0' ? strchr(op_names, op[0]) : NULL;
	return at != NULL && opt.ops[at - op_names];
}

/* Copying a document with some top-level fields replaced or removed. */
enum edit_kind { EDIT_UTF8, EDIT_DOCUMENT, EDIT_ARRAY, EDIT_REMOVE };

struct edit {
	const char *key;
	enum edit_kind kind;
	const char *text;
	const bson_t *doc;
};

static const struct edit *
edit_find(const struct edit *edits, size_t count, const char *key)
{
	size_t k;

	for (k = 0; k < count; k++)
		if (strcmp(edits[k].key, key) == 0)
			return &edits[k];
	return NULL;
}

/* out gets src with edits applied; fields that src lacks are not added. */
static void
copy_edited(const bson_t *src, bson_t *out, const struct edit *edits, size_t count)
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
		too_large();
}

/* Borrow a document or array field of doc (false when absent). */
static bool
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

static const char *
utf8_field(const bson_t *doc, const char *key)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, doc, key) && BSON_ITER_HOLDS_UTF8(&iter))
		return bson_iter_utf8(&iter, NULL);
	return NULL;
}

/* Split "db.coll" into "db.$cmd" and "coll" (coll points into ns). */
static const char *
split_namespace(const char *ns, char *command_ns, size_t size)
{
	char db[NS_MAX];

	int n;

	ns_database(ns, db, sizeof(db));
	n = snprintf(command_ns, size, "%s.$cmd", db);
	if (n < 0 || (size_t)n >= size)
		die(EXIT_DIFFERENT, "%s: entry %" PRIu64 ": database name too long: %.64s...",
		    run.name, run.entry, db);
	return ns[strlen(db)] == '.' ? ns + strlen(db) + 1 : "";
}

/* Rename ns into out (NS_MAX bytes); false when it stays as it is. */
static bool
renamed(const char *ns, char *out)
{
	return ns_rename(opt.filter, ns, out, NS_MAX) && strcmp(ns, out) != 0;
}

/* An index spec with its "ns" field (older servers write one) renamed. */
static void
spec_renamed(const bson_t *spec, const char *ns, bson_t *out)
{
	const struct edit edit = { "ns", EDIT_UTF8, ns, NULL };

	copy_edited(spec, out, &edit, 1);
}

/* An array of index specs, each renamed. */
static void
specs_renamed(const bson_t *specs, const char *ns, bson_t *out)
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
				too_large();
			continue;
		}
		bson_iter_document(&iter, &length, &data);
		if (!bson_init_static(&spec, data, length))
			continue;
		spec_renamed(&spec, ns, &edited);
		ok = bson_append_document(out, key_text, (int)key_length, &edited);
		bson_destroy(&edited);
		if (!ok)
			too_large();
	}
}

/*
 * A collection command (create, drop, collMod, index commands) moved to
 * new_ns: ns becomes "db.$cmd", o's first field the collection, and the
 * index specs' ns fields follow.
 */
static void
put_command_renamed(const bson_t *entry, const char *name, const char *new_ns,
    struct sink *sink)
{
	char command_ns[NS_MAX];
	const char *coll = split_namespace(new_ns, command_ns, sizeof(command_ns));
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
		spec_renamed(&id_index, new_ns, &id_index_new);
		o_edits[count++] = (struct edit){ "idIndex", EDIT_DOCUMENT, NULL, &id_index_new };
	}
	if (borrow_field(&o, "indexes", true, &indexes)) {
		bson_destroy(&indexes_new);
		specs_renamed(&indexes, new_ns, &indexes_new);
		o_edits[count++] = (struct edit){ "indexes", EDIT_ARRAY, NULL, &indexes_new };
	}
	copy_edited(&o, &o_new, o_edits, count);
	entry_edits[0] = (struct edit){ "ns", EDIT_UTF8, command_ns, NULL };
	entry_edits[1] = (struct edit){ "o", EDIT_DOCUMENT, NULL, &o_new };
	copy_edited(entry, &out, entry_edits, 2);
	sink_put(sink, &out);
	bson_destroy(&out);
	bson_destroy(&o_new);
	bson_destroy(&indexes_new);
	bson_destroy(&id_index_new);
}

/* The entry turned into a drop of ns (ui and o2 go: they described the old command). */
static void
put_drop(const bson_t *entry, const char *ns, struct sink *sink)
{
	char command_ns[NS_MAX];
	const char *coll = split_namespace(ns, command_ns, sizeof(command_ns));
	bson_t o, out;
	struct edit edits[4] = {
		{ "ns", EDIT_UTF8, command_ns, NULL },
		{ "o", EDIT_DOCUMENT, NULL, &o },
		{ "o2", EDIT_REMOVE, NULL, NULL },
		{ "ui", EDIT_REMOVE, NULL, NULL },
	};

	bson_init(&o);
	BSON_APPEND_UTF8(&o, "drop", coll);
	copy_edited(entry, &out, edits, 4);
	sink_put(sink, &out);
	bson_destroy(&out);
	bson_destroy(&o);
}

/* i, u, d (and unknown ops): by ns, or by o.ns for an old index insert. */
static bool
filter_data(const bson_t *entry, struct sink *sink)
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
	if (opt.selecting && !ns_match(opt.filter, target))
		return false;
	if (!renamed(target, new_ns))
		return true;
	if (!index_insert) {
		const struct edit edit = { "ns", EDIT_UTF8, new_ns, NULL };

		copy_edited(entry, &out, &edit, 1);
	} else {
		struct edit edits[2];

		ns_database(new_ns, new_entry_ns, sizeof(new_entry_ns));
		strncat(new_entry_ns, ".system.indexes", sizeof(new_entry_ns) - strlen(new_entry_ns) - 1);
		spec_renamed(&o, new_ns, &o_new);
		edits[0] = (struct edit){ "ns", EDIT_UTF8, new_entry_ns, NULL };
		edits[1] = (struct edit){ "o", EDIT_DOCUMENT, NULL, &o_new };
		copy_edited(entry, &out, edits, 2);
		bson_destroy(&o_new);
	}
	sink_put(sink, &out);
	bson_destroy(&out);
	return false;
}

static bool
filter_collection_command(const bson_t *entry, const char *name, const char *ns,
    struct sink *sink)
{
	char new_ns[NS_MAX];

	if (opt.selecting && !ns_match(opt.filter, ns))
		return false;
	if (!renamed(ns, new_ns))
		return true;
	put_command_renamed(entry, name, new_ns, sink);
	return false;
}

/*
 * renameCollection from -> to. Both selected: kept (renamed). From only:
 * the collection leaves the selection, so the destination drops it. To
 * only: documents the stream never carried arrive in a selected
 * collection; the destination can only drop the old target (as the
 * source did) and warn that the collection must be copied again.
 */
static bool
filter_rename_collection(const bson_t *entry, const char ns[2][NS_MAX], struct sink *sink)
{
	bool from = !opt.selecting || ns_match(opt.filter, ns[0]);
	bool to = !opt.selecting || ns_match(opt.filter, ns[1]);
	char new_from[NS_MAX], new_to[NS_MAX];
	bool from_renamed, to_renamed;
	bson_t o, o_new, out;

	if (!from && !to)
		return false;
	from_renamed = renamed(ns[0], new_from);
	to_renamed = renamed(ns[1], new_to);
	if (from && !to) {
		put_drop(entry, new_from, sink);
		return false;
	}
	if (!from) {
		lossy("renameCollection %s -> %s: %s is selected but %s is not, so its "
		    "documents are not in the stream; dropping %s instead: copy it again",
		    ns[0], ns[1], ns[1], ns[0], new_to);
		put_drop(entry, new_to, sink);
		return false;
	}
	if (!from_renamed && !to_renamed)
		return true;
	if (entry_object(entry, "o", &o)) {
		struct edit edits[2] = {
			{ "renameCollection", EDIT_UTF8, new_from, NULL },
			{ "to", EDIT_UTF8, new_to, NULL },
		};
		struct edit entry_edit = { "o", EDIT_DOCUMENT, NULL, &o_new };

		copy_edited(&o, &o_new, edits, 2);
		copy_edited(entry, &out, &entry_edit, 1);
		sink_put(sink, &out);
		bson_destroy(&out);
		bson_destroy(&o_new);
	}
	return false;
}

/* Whether ns is one of the include globs without wildcards. */
static bool
is_literal_include(const char *ns)
{
	const char *literal;
	size_t k;

	for (k = 0; (literal = ns_literal_include(opt.filter, k)) != NULL; k++)
		if (strcmp(literal, ns) == 0)
			return true;
	return false;
}

/*
 * The selected collections of db that exact --rename rules move: a
 * dropDatabase of db, renamed or not, does not reach where they went, so
 * each becomes a drop there. reached_db: the database the dropDatabase
 * itself still drops (NULL: none), where no drop is needed.
 */
static void
put_renamed_drops(const bson_t *entry, const char *db, const char *reached_db, struct sink *sink)
{
	char from_db[NS_MAX], new_ns[NS_MAX], new_db[NS_MAX];
	const char *from;
	size_t k;

	for (k = 0; (from = ns_literal_rename(opt.filter, k)) != NULL; k++) {
		ns_database(from, from_db, sizeof(from_db));
		if (strcmp(from_db, db) != 0 || (opt.selecting && !ns_match(opt.filter, from)))
			continue;
		if (reached_db == NULL && is_literal_include(from))
			continue;	/* dropped as a literal --ns below */
		if (!renamed(from, new_ns))
			continue;
		ns_database(new_ns, new_db, sizeof(new_db));
		if (reached_db != NULL && strcmp(new_db, reached_db) == 0)
			continue;
		put_drop(entry, new_ns, sink);
		run.modified = true;	/* an entry the input did not have */
	}
}

/*
 * dropDatabase: kept when the whole database is selected; when only part
 * of it is, the collections named exactly by --ns are dropped one by one,
 * and what patterns select in it is left alone with a warning (dropping
 * the database would destroy collections the filter leaves out). Either
 * way the collections an exact --rename moves out of it are dropped
 * where they went.
 */
static bool
filter_drop_database(const bson_t *entry, struct sink *sink)
{
	char db[NS_MAX], literal_db[NS_MAX], new_ns[NS_MAX], new_db[NS_MAX];
	const char *literal;
	size_t k;

	ns_database(entry_ns(entry), db, sizeof(db));
	if (!opt.selecting || ns_match_whole_database(opt.filter, db)) {
		const struct edit edit = { "ns", EDIT_UTF8, new_ns, NULL };
		bool moved = renamed(entry_ns(entry), new_ns);
		bson_t out;

		ns_database(new_ns, new_db, sizeof(new_db));
		put_renamed_drops(entry, db, new_db, sink);
		if (!moved)
			return true;
		copy_edited(entry, &out, &edit, 1);
		sink_put(sink, &out);
		bson_destroy(&out);
		return false;
	}
	if (!ns_match_database(opt.filter, db))
		return false;
	put_renamed_drops(entry, db, NULL, sink);
	for (k = 0; (literal = ns_literal_include(opt.filter, k)) != NULL; k++) {
		ns_database(literal, literal_db, sizeof(literal_db));
		if (strcmp(literal_db, db) != 0 || !ns_match(opt.filter, literal))
			continue;
		(void)renamed(literal, new_ns);
		put_drop(entry, new_ns, sink);
	}
	if (ns_match_database_by_pattern(opt.filter, db))
		lossy("dropDatabase %s: the database is only partly selected; collections "
		    "selected by a pattern are not dropped on the destination", db);
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
filter_apply_ops(const bson_t *entry, struct sink *sink)
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
			if (bson_init_static(&op, data, length) && !filter_entry(&op, &inner)) {
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
				too_large();
		}
	}
	if (!changed) {
		bson_destroy(&kept);
		return true;
	}
	if (inner.next_index > 0 || empty_apply_ops_needed(entry, &o)) {
		const struct edit o_edit = { "applyOps", EDIT_ARRAY, NULL, &kept };
		const struct edit entry_edit = { "o", EDIT_DOCUMENT, NULL, &o_new };

		copy_edited(&o, &o_new, &o_edit, 1);
		copy_edited(entry, &out, &entry_edit, 1);
		sink_put(sink, &out);
		bson_destroy(&out);
		bson_destroy(&o_new);
	}
	bson_destroy(&kept);
	return false;
}

/* Commands other than applyOps and these go by the database of their ns. */
static bool
filter_other_command(const bson_t *entry, struct sink *sink)
{
	const char *ns = entry_ns(entry);
	char db[NS_MAX], new_ns[NS_MAX];
	bson_t out;

	ns_database(ns, db, sizeof(db));
	if (opt.selecting && !ns_match_database(opt.filter, db))
		return false;
	if (!renamed(ns, new_ns))
		return true;
	{
		const struct edit edit = { "ns", EDIT_UTF8, new_ns, NULL };

		copy_edited(entry, &out, &edit, 1);
	}
	sink_put(sink, &out);
	bson_destroy(&out);
	return false;
}

static bool
filter_command(const bson_t *entry, struct sink *sink)
{
	const char *name = entry_command(entry);
	char ns[2][NS_MAX];
	int count;

	if (strcmp(name, "applyOps") == 0)
		return filter_apply_ops(entry, sink);
	/* They end transactions whose ops were filtered already. */
	if (strcmp(name, "commitTransaction") == 0 || strcmp(name, "abortTransaction") == 0)
		return true;
	if (!op_selected("c"))
		return false;
	if (strcmp(name, "dropDatabase") == 0)
		return filter_drop_database(entry, sink);
	count = command_namespaces(entry, ns);
	if (strcmp(name, "renameCollection") == 0 && count == 2)
		return filter_rename_collection(entry, (const char (*)[NS_MAX])ns, sink);
	if (count == 1)
		return filter_collection_command(entry, name, ns[0], sink);
	return filter_other_command(entry, sink);
}

/*
 * Whether the entry passes unchanged (the caller copies it). Otherwise
 * the replacement, if any (none, one or several entries), went to sink.
 */
static bool
filter_entry(const bson_t *entry, struct sink *sink)
{
	const char *op = entry_op(entry);

	if (strcmp(op, "c") == 0)
		return filter_command(entry, sink);
	if (!op_selected(op))
		return false;
	if (strcmp(op, "n") == 0)
		return true;
	return filter_data(entry, sink);
}

static bool
in_time(const bson_t *entry)
{
	timestamp_t ts = entry_ts(entry);

	if (opt.have_since && ts_compare(ts, opt.since) <= 0)
		return false;
	if (opt.have_until && ts_compare(ts, opt.until) > 0)
		return false;
	return true;
}

static void
write_frame(const stream_reader *reader)
{
	uint32_t length;
	const uint8_t *frame = stream_frame(reader, &length);

	if (!stream_write_raw(run.out, frame, length))
		exit(EXIT_DIFFERENT);
}

/*
 * A trailer closes what came since the header: unchanged when every
 * entry passed as it was, else a new one with the count written and the
 * input's last ts (what the stream covers), clipped to --until.
 */
static void
write_trailer(const stream_reader *reader, const bson_t *entry)
{
	bson_t o, trailer;
	bson_iter_t iter;
	timestamp_t last = entry_ts(entry);

	if (!run.modified) {
		write_frame(reader);
		return;
	}
	if (entry_object(entry, "o", &o) && bson_iter_init_find(&iter, &o, "last") &&
	    BSON_ITER_HOLDS_TIMESTAMP(&iter))
		bson_iter_timestamp(&iter, &last.t, &last.i);
	if (opt.have_until && ts_compare(last, opt.until) > 0)
		last = opt.until;
	marker_trailer(&trailer, run.written, last);
	if (!stream_write(run.out, &trailer))
		exit(EXIT_DIFFERENT);
	bson_destroy(&trailer);
}

static void
filter_stream(stream_reader *reader)
{
	struct sink out = { NULL, 0 };
	const bson_t *entry;
	int status = STREAM_END;

	run.name = stream_name(reader);
	run.written = 0;
	run.modified = false;
	/* In a live pipeline (oplog-read | oplog-filter | oplog-apply) the next
	 * stage must see each entry when it comes, not when a buffer fills. */
	stream_set_wait(reader, IDLE_FLUSH_MS, false);
	while (!cli_stop) {
		status = stream_next(reader, &entry);
		if (status == STREAM_AGAIN && cli_stop)
			break;
		if (status == STREAM_AGAIN) {
			if (!stream_flush(run.out))
				exit(EXIT_DIFFERENT);
			continue;
		}
		if (status != STREAM_ENTRY)
			break;
		run.entry = stream_count(reader);
		if (entry_is_header(entry)) {
			write_frame(reader);
			run.written = 0;
			run.modified = false;
		} else if (entry_is_trailer(entry)) {
			write_trailer(reader, entry);
			run.written = 0;
			run.modified = false;
		} else if (in_time(entry) && filter_entry(entry, &out)) {
			write_frame(reader);
			run.written++;
		} else {
			run.modified = true;
		}
	}
	if (status == STREAM_ERROR) {
		(void)stream_finish(run.out);	/* what passed so far stays readable */
		stream_die(reader);
	}
}
