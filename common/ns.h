/*
 * ns.h - namespace selection and renaming, shared by every program that
 * takes --ns, --exclude, --ns-regex and --rename.
 *
 * Globs are fnmatch(3) patterns over the whole "db.collection" string
 * ('*' crosses dots). Regexes are POSIX EREs, unanchored (use ^ and $).
 * A namespace is selected when no exclude glob matches it and either
 * some include (glob or regex) matches it or there are no includes.
 *
 * A new filter selects everything: oplog-filter without options is a
 * validating copy. Programs that migrate (apply, export, sync-check) call
 * ns_filter_use_defaults(): then, while no include is given, the defaults
 * of DESIGN.md exclude admin.*, config.*, local.*, oplogkit.* and
 * *.system.profile.
 *
 * Selection always looks at the source's names, before any rename.
 */
#ifndef OPLOGKIT_NS_H
#define OPLOGKIT_NS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ns_filter ns_filter;

/* A filter that selects every namespace and renames nothing. */
ns_filter *ns_filter_new(void);
void ns_filter_free(ns_filter *filter);

/* Turn on the default exclusions (they apply while no include is given). */
void ns_filter_use_defaults(ns_filter *filter);

/* Add an include glob, an exclude glob, an include regex (POSIX ERE).
 * Return false with a message printed when the pattern is invalid. */
bool ns_filter_include(ns_filter *filter, const char *glob);
bool ns_filter_exclude(ns_filter *filter, const char *glob);
bool ns_filter_include_regex(ns_filter *filter, const char *regex);

/*
 * Add a rename rule "FROM=TO". FROM is a literal namespace that may hold
 * one '*' (any text, dots included); TO then holds one '*' that receives
 * it: "a.*=b.*", "a.old=a.new", "a.*=a.archive_*". The first rule that
 * matches wins. Returns false with a message printed when the rule is
 * malformed.
 */
bool ns_filter_rename(ns_filter *filter, const char *rule);

/* Whether some include or exclude pattern or rename rule was added. */
bool ns_filter_is_set(const ns_filter *filter);

/* Whether the namespace is selected. */
bool ns_match(const ns_filter *filter, const char *ns);

/*
 * Whether some namespace of database db could be selected. When it
 * cannot tell (a regex), it says true.
 */
bool ns_match_database(const ns_filter *filter, const char *db);

/*
 * Whether every namespace of database db is selected (say, --ns 'db.*'
 * with nothing of db excluded). When it cannot tell (a regex, an exclude
 * glob that may touch db), it says false. *.system.profile of the
 * defaults is not counted: the server owns that collection.
 */
bool ns_match_whole_database(const ns_filter *filter, const char *db);

/*
 * The include globs without wildcards, one by one: index 0, 1, ... until
 * NULL. They name collections exactly, so a program can act on each one
 * (oplog-filter turns a dropDatabase into drops of these).
 */
const char *ns_literal_include(const ns_filter *filter, size_t index);

/*
 * Whether some namespace of db could be selected by something other than
 * a literal include: a wildcard glob, a regex, or no include at all.
 */
bool ns_match_database_by_pattern(const ns_filter *filter, const char *db);

/*
 * The FROM of the rename rules without '*', one by one: index 0, 1, ...
 * until NULL. They move one collection each, maybe to another database
 * (oplog-filter drops it there when its database is dropped).
 */
const char *ns_literal_rename(const ns_filter *filter, size_t index);

/*
 * Split "db.collection" at its first dot: the database into db (size
 * bytes), *collection pointing into ns. False, with nothing promised,
 * when ns has no dot, an empty part, or a database that does not fit.
 */
bool ns_split(const char *ns, char *db, size_t size, const char **collection);

/* Whether any rename rule is set. */
bool ns_has_renames(const ns_filter *filter);

/*
 * Rename ns by the first matching rule into out (size bytes); returns
 * false when no rule matches (out then holds ns unchanged). A result
 * that does not fit in out is a usage error: it exits EXIT_USAGE.
 */
bool ns_rename(const ns_filter *filter, const char *ns, char *out, size_t size);

#endif
