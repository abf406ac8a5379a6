/*
 * straddle.c - the commands that can straddle the selection:
 * renameCollection (from one side of it to the other) and dropDatabase
 * (of a database only partly selected, or one that exact --rename rules
 * move collections out of). Each is turned into what the destination
 * needs; see oplog-filter(1) for each case and why.
 */
#include <string.h>

#include "filter.h"

/*
 * renameCollection from -> to. Both selected: kept (renamed). From only:
 * the collection leaves the selection, so the destination drops it. To
 * only: documents the stream never carried arrive in a selected
 * collection; the destination can only drop the old target (as the
 * source did) and warn that the collection must be copied again.
 */
bool
filter_rename_collection(struct filter *x, const bson_t *entry, const char ns[2][NS_MAX],
    struct sink *sink)
{
	bool from = !x->selecting || ns_match(x->config->filter, ns[0]);
	bool to = !x->selecting || ns_match(x->config->filter, ns[1]);
	char new_from[NS_MAX], new_to[NS_MAX];
	bool from_renamed, to_renamed;
	bson_t o, o_new, out;

	if (!from && !to)
		return false;
	from_renamed = renamed(x, ns[0], new_from);
	to_renamed = renamed(x, ns[1], new_to);
	if (from && !to) {
		put_drop(x, entry, new_from, sink);
		return false;
	}
	if (!from) {
		lossy(x, "renameCollection %s -> %s: %s is selected but %s is not, so its "
		    "documents are not in the stream; dropping %s instead: copy it again",
		    ns[0], ns[1], ns[1], ns[0], new_to);
		put_drop(x, entry, new_to, sink);
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

		copy_edited(x, &o, &o_new, edits, 2);
		copy_edited(x, entry, &out, &entry_edit, 1);
		sink_put(x, sink, &out);
		bson_destroy(&out);
		bson_destroy(&o_new);
	}
	return false;
}

/* Whether ns is one of the include globs without wildcards. */
static bool
is_literal_include(const ns_filter *filter, const char *ns)
{
	const char *literal;
	size_t k;

	for (k = 0; (literal = ns_literal_include(filter, k)) != NULL; k++)
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
put_renamed_drops(struct filter *x, const bson_t *entry, const char *db, const char *reached_db,
    struct sink *sink)
{
	const ns_filter *filter = x->config->filter;
	char from_db[NS_MAX], new_ns[NS_MAX], new_db[NS_MAX];
	const char *from;
	size_t k;

	for (k = 0; (from = ns_literal_rename(filter, k)) != NULL; k++) {
		ns_database(from, from_db, sizeof(from_db));
		if (strcmp(from_db, db) != 0 || (x->selecting && !ns_match(filter, from)))
			continue;
		if (reached_db == NULL && is_literal_include(filter, from))
			continue;	/* dropped as a literal --ns below */
		if (!renamed(x, from, new_ns))
			continue;
		ns_database(new_ns, new_db, sizeof(new_db));
		if (reached_db != NULL && strcmp(new_db, reached_db) == 0)
			continue;
		put_drop(x, entry, new_ns, sink);
		x->modified = true;	/* an entry the input did not have */
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
bool
filter_drop_database(struct filter *x, const bson_t *entry, struct sink *sink)
{
	const ns_filter *filter = x->config->filter;
	char db[NS_MAX], literal_db[NS_MAX], new_ns[NS_MAX], new_db[NS_MAX];
	const char *literal;
	size_t k;

	ns_database(entry_ns(entry), db, sizeof(db));
	if (!x->selecting || ns_match_whole_database(filter, db)) {
		const struct edit edit = { "ns", EDIT_UTF8, new_ns, NULL };
		bool moved = renamed(x, entry_ns(entry), new_ns);
		bson_t out;

		ns_database(new_ns, new_db, sizeof(new_db));
		put_renamed_drops(x, entry, db, new_db, sink);
		if (!moved)
			return true;
		copy_edited(x, entry, &out, &edit, 1);
		sink_put(x, sink, &out);
		bson_destroy(&out);
		return false;
	}
	if (!ns_match_database(filter, db))
		return false;
	put_renamed_drops(x, entry, db, NULL, sink);
	for (k = 0; (literal = ns_literal_include(filter, k)) != NULL; k++) {
		ns_database(literal, literal_db, sizeof(literal_db));
		if (strcmp(literal_db, db) != 0 || !ns_match(filter, literal))
			continue;
		(void)renamed(x, literal, new_ns);
		put_drop(x, entry, new_ns, sink);
	}
	if (ns_match_database_by_pattern(filter, db))
		lossy(x, "dropDatabase %s: the database is only partly selected; collections "
		    "selected by a pattern are not dropped on the destination", db);
	return false;
}
