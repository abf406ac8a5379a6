/*
 * ns.h - namespace selection and renaming, shared by every program that
 * takes --ns, --exclude, --ns-regex and --rename.
 *
 * Globs are fnmatch(3) patterns over the whole "db.collection" string
 * ('*' crosses dots). With no --ns and no --ns-regex, the defaults of
 * DESIGN.md exclude admin.*, config.*, local.*, oplogkit.* and
 * *.system.profile.
 */
#ifndef OPLOGKIT_NS_H
#define OPLOGKIT_NS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ns_filter ns_filter;

ns_filter *ns_filter_new(void);
void ns_filter_free(ns_filter *filter);

/* Add an include glob, an exclude glob, an include regex (POSIX ERE).
 * Return false with a message printed when the pattern is invalid. */
bool ns_filter_include(ns_filter *filter, const char *glob);
bool ns_filter_exclude(ns_filter *filter, const char *glob);
bool ns_filter_include_regex(ns_filter *filter, const char *regex);

/* Add a rename rule "FROM=TO" where FROM may hold one '*' that TO reuses. */
bool ns_filter_rename(ns_filter *filter, const char *rule);

/* Whether the namespace is selected. */
bool ns_match(const ns_filter *filter, const char *ns);

/* Whether some namespace of database db could be selected ("db.*"). */
bool ns_match_database(const ns_filter *filter, const char *db);

/* Whether any rename rule is set. */
bool ns_has_renames(const ns_filter *filter);

/* Rename ns by the first matching rule into out (size bytes); returns
 * false when no rule matches (out then holds ns unchanged). */
bool ns_rename(const ns_filter *filter, const char *ns, char *out, size_t size);

#endif
