/*
 * ns.c - namespace selection and renaming.
 *
 * A filter owns its patterns (copies) and compiled regexes. Matching is
 * fnmatch(3) with no flags, so '*' crosses dots and "a.*" selects every
 * collection of a, including names that hold dots themselves. Questions
 * about a whole database ("could anything of db be selected", "is all of
 * db selected") are answered by walking a glob against the prefix "db.";
 * where a pattern is too clever to decide, each answer leans the way its
 * contract states, never silently the other way.
 */
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "ns.h"

struct pattern_list {
	char **items;
	size_t count;
};

struct rename_rule {
	char *from_head, *from_tail;	/* FROM around its '*' (tail NULL: no '*') */
	char *to_head, *to_tail;
};

struct ns_filter {
	struct pattern_list includes, excludes;
	regex_t *regexes;
	size_t regex_count;
	struct rename_rule *renames;
	size_t rename_count;
	bool use_defaults;
};

static const char *const default_excludes[] = {
	"admin.*", "config.*", "local.*", "oplogkit.*", "*.system.profile", NULL,
};

ns_filter *
ns_filter_new(void)
{
	return xcalloc(1, sizeof(ns_filter));
}

static void
pattern_list_free(struct pattern_list *list)
{
	size_t k;

	for (k = 0; k < list->count; k++)
		free(list->items[k]);
	free(list->items);
}

void
ns_filter_free(ns_filter *filter)
{
	size_t k;

	if (filter == NULL)
		return;
	for (k = 0; k < filter->rename_count; k++) {
		free(filter->renames[k].from_head);
		free(filter->renames[k].from_tail);
		free(filter->renames[k].to_head);
		free(filter->renames[k].to_tail);
	}
	free(filter->renames);
	for (k = 0; k < filter->regex_count; k++)
		regfree(&filter->regexes[k]);
	free(filter->regexes);
	pattern_list_free(&filter->excludes);
	pattern_list_free(&filter->includes);
	free(filter);
}

void
ns_filter_use_defaults(ns_filter *filter)
{
	filter->use_defaults = true;
}

static bool
pattern_add(struct pattern_list *list, const char *option, const char *glob)
{
	if (glob[0] == '\0') {
		warnmsg("%s: empty pattern", option);
		return false;
	}
	list->items = xrealloc(list->items, (list->count + 1) * sizeof(char *));
	list->items[list->count++] = xstrdup(glob);
	return true;
}

bool
ns_filter_include(ns_filter *filter, const char *glob)
{
	return pattern_add(&filter->includes, "--ns", glob);
}

bool
ns_filter_exclude(ns_filter *filter, const char *glob)
{
	return pattern_add(&filter->excludes, "--exclude", glob);
}

bool
ns_filter_include_regex(ns_filter *filter, const char *regex)
{
	regex_t compiled;
	char why[256];
	int status;

	status = regcomp(&compiled, regex, REG_EXTENDED | REG_NOSUB);
	if (status != 0) {
		regerror(status, &compiled, why, sizeof(why));
		warnmsg("--ns-regex '%s': %s", regex, why);
		return false;
	}
	filter->regexes = xrealloc(filter->regexes, (filter->regex_count + 1) * sizeof(regex_t));
	filter->regexes[filter->regex_count++] = compiled;
	return true;
}

/* Split text at its one '*' into head and tail (tail NULL when none). */
static bool
split_star(const char *text, char **head, char **tail)
{
	const char *star = strchr(text, '*');

	*tail = NULL;
	if (star == NULL) {
		*head = xstrdup(text);
		return true;
	}
	if (strchr(star + 1, '*') != NULL)
		return false;
	*head = xstrdup(text);
	(*head)[star - text] = '\0';
	*tail = xstrdup(star + 1);
	return true;
}

bool
ns_filter_rename(ns_filter *filter, const char *rule)
{
	struct rename_rule parsed = { NULL, NULL, NULL, NULL };
	const char *equals = strchr(rule, '=');
	char *from;
	bool ok;

	if (equals == NULL || equals == rule || equals[1] == '\0') {
		warnmsg("--rename '%s': expected FROM=TO", rule);
		return false;
	}
	from = xstrdup(rule);
	from[equals - rule] = '\0';
	ok = split_star(from, &parsed.from_head, &parsed.from_tail) &&
	    split_star(equals + 1, &parsed.to_head, &parsed.to_tail) &&
	    (parsed.from_tail == NULL) == (parsed.to_tail == NULL);
	free(from);
	if (!ok) {
		free(parsed.from_head);
		free(parsed.from_tail);
		free(parsed.to_head);
		free(parsed.to_tail);
		warnmsg("--rename '%s': FROM and TO must both hold one '*' or neither", rule);
		return false;
	}
	filter->renames = xrealloc(filter->renames,
	    (filter->rename_count + 1) * sizeof(struct rename_rule));
	filter->renames[filter->rename_count++] = parsed;
	return true;
}

bool
ns_filter_is_set(const ns_filter *filter)
{
	return filter->includes.count > 0 || filter->excludes.count > 0 ||
	    filter->regex_count > 0 || filter->rename_count > 0;
}

static bool
has_includes(const ns_filter *filter)
{
	return filter->includes.count > 0 || filter->regex_count > 0;
}

static bool
glob_list_match(char *const *globs, size_t count, const char *ns)
{
	size_t k;

	for (k = 0; k < count; k++)
		if (fnmatch(globs[k], ns, 0) == 0)
			return true;
	return false;
}

static size_t
default_count(void)
{
	size_t count = 0;

	while (default_excludes[count] != NULL)
		count++;
	return count;
}

bool
ns_match(const ns_filter *filter, const char *ns)
{
	size_t k;

	if (glob_list_match(filter->excludes.items, filter->excludes.count, ns))
		return false;
	if (!has_includes(filter)) {
		return !filter->use_defaults ||
		    !glob_list_match((char *const *)default_excludes, default_count(), ns);
	}
	if (glob_list_match(filter->includes.items, filter->includes.count, ns))
		return true;
	for (k = 0; k < filter->regex_count; k++)
		if (regexec(&filter->regexes[k], ns, 0, NULL, 0) == 0)
			return true;
	return false;
}

/*
 * The length of the bracket expression at pattern[0] == '[', as fnmatch
 * reads it, or 0 when it has no closing ']' (then '[' is a literal).
 */
static size_t
bracket_length(const char *pattern)
{
	size_t k = 1;

	if (pattern[k] == '!' || pattern[k] == '^')
		k++;
	if (pattern[k] == ']')
		k++;
	for (; pattern[k] != '\0'; k++)
		if (pattern[k] == ']')
			return k + 1;
	return 0;
}

/* Whether one pattern element at *pattern matches c; advances *pattern. */
static bool
element_match(const char **pattern, char c)
{
	const char *p = *pattern;
	size_t length;

	if (*p == '?') {
		*pattern = p + 1;
		return true;
	}
	if (*p == '[' && (length = bracket_length(p)) > 0) {
		char bracket[256], text[2] = { c, '\0' };

		*pattern = p + length;
		if (length >= sizeof(bracket))
			return true;	/* too long to test: assume it may match */
		memcpy(bracket, p, length);
		bracket[length] = '\0';
		return fnmatch(bracket, text, 0) == 0;
	}
	if (*p == '\\' && p[1] != '\0')
		p++;
	*pattern = p + 1;
	return *p == c;
}

/*
 * Walk glob over prefix until the prefix ends or a '*' comes. Returns
 * false on a mismatch; else *rest is the pattern left.
 */
static bool
glob_walk_prefix(const char *glob, const char *prefix, const char **rest)
{
	for (; *prefix != '\0' && *glob != '\0' && *glob != '*'; prefix++)
		if (!element_match(&glob, *prefix))
			return false;
	if (*prefix != '\0' && *glob != '*')
		return false;
	*rest = glob;
	return true;
}

/* Whether glob matches some string that starts with prefix. */
static bool
glob_may_match_prefix(const char *glob, const char *prefix)
{
	const char *rest;

	return glob_walk_prefix(glob, prefix, &rest);
}

/* Whether glob matches every string that starts with prefix (false if unsure). */
static bool
glob_covers_prefix(const char *glob, const char *prefix)
{
	const char *rest;

	if (!glob_walk_prefix(glob, prefix, &rest) || *rest != '*')
		return false;
	return rest[strspn(rest, "*")] == '\0';
}

static void
database_prefix(const char *db, char *out, size_t size)
{
	snprintf(out, size, "%s.", db);
}

/* Whether the defaults leave out the whole database (system.profile aside). */
static bool
defaults_exclude_database(const char *prefix)
{
	size_t k;

	for (k = 0; default_excludes[k] != NULL; k++)
		if (glob_covers_prefix(default_excludes[k], prefix))
			return true;
	return false;
}

/*
 * The two questions about a database are one walk with the tests swapped.
 * Some namespace could be selected: only an exclude that covers all of db
 * rules it out, and an include that may match a name in it is enough.
 * Every namespace is selected: an exclude that may touch db rules it out,
 * and an include must cover all of it. A regex is unsure: it may match,
 * it never covers.
 */
static bool
database_selected(const ns_filter *filter, const char *db, bool whole)
{
	bool (*rules_out)(const char *, const char *) =
	    whole ? glob_may_match_prefix : glob_covers_prefix;
	bool (*rules_in)(const char *, const char *) =
	    whole ? glob_covers_prefix : glob_may_match_prefix;
	char prefix[512];
	size_t k;

	database_prefix(db, prefix, sizeof(prefix));
	for (k = 0; k < filter->excludes.count; k++)
		if (rules_out(filter->excludes.items[k], prefix))
			return false;
	if (!has_includes(filter))
		return !filter->use_defaults || !defaults_exclude_database(prefix);
	if (!whole && filter->regex_count > 0)
		return true;
	for (k = 0; k < filter->includes.count; k++)
		if (rules_in(filter->includes.items[k], prefix))
			return true;
	return false;
}

bool
ns_match_database(const ns_filter *filter, const char *db)
{
	return database_selected(filter, db, false);
}

bool
ns_match_whole_database(const ns_filter *filter, const char *db)
{
	return database_selected(filter, db, true);
}

const char *
ns_literal_include(const ns_filter *filter, size_t index)
{
	size_t k;

	for (k = 0; k < filter->includes.count; k++) {
		const char *glob = filter->includes.items[k];

		if (strpbrk(glob, "*?[\\") != NULL)
			continue;
		if (index-- == 0)
			return glob;
	}
	return NULL;
}

bool
ns_match_database_by_pattern(const ns_filter *filter, const char *db)
{
	char prefix[512];
	size_t k;

	if (!ns_match_database(filter, db))
		return false;
	if (!has_includes(filter) || filter->regex_count > 0)
		return true;
	database_prefix(db, prefix, sizeof(prefix));
	for (k = 0; k < filter->includes.count; k++) {
		const char *glob = filter->includes.items[k];

		if (strpbrk(glob, "*?[\\") != NULL && glob_may_match_prefix(glob, prefix))
			return true;
	}
	return false;
}

const char *
ns_literal_rename(const ns_filter *filter, size_t index)
{
	size_t k;

	for (k = 0; k < filter->rename_count; k++)
		if (filter->renames[k].from_tail == NULL && index-- == 0)
			return filter->renames[k].from_head;
	return NULL;
}

bool
ns_has_renames(const ns_filter *filter)
{
	return filter->rename_count > 0;
}

/* Whether ns matches rule; if so, *middle and *middle_length say what '*' took. */
static bool
rule_match(const struct rename_rule *rule, const char *ns, const char **middle,
    size_t *middle_length)
{
	size_t length = strlen(ns), head, tail;

	if (rule->from_tail == NULL)
		return strcmp(ns, rule->from_head) == 0;
	head = strlen(rule->from_head);
	tail = strlen(rule->from_tail);
	if (length < head + tail || strncmp(ns, rule->from_head, head) != 0 ||
	    strcmp(ns + length - tail, rule->from_tail) != 0)
		return false;
	*middle = ns + head;
	*middle_length = length - head - tail;
	return true;
}

bool
ns_rename(const ns_filter *filter, const char *ns, char *out, size_t size)
{
	const char *middle = "";
	size_t middle_length = 0, k;
	int n;

	for (k = 0; k < filter->rename_count; k++) {
		const struct rename_rule *rule = &filter->renames[k];

		if (!rule_match(rule, ns, &middle, &middle_length))
			continue;
		n = snprintf(out, size, "%s%.*s%s", rule->to_head, (int)middle_length, middle,
		    rule->to_tail != NULL ? rule->to_tail : "");
		if (n < 0 || (size_t)n >= size)
			die(EXIT_USAGE, "--rename: %s would become a name longer than %zu bytes",
			    ns, size - 1);
		return true;
	}
	n = snprintf(out, size, "%s", ns);
	if (n < 0 || (size_t)n >= size)
		die(EXIT_USAGE, "namespace %.64s... is longer than %zu bytes", ns, size - 1);
	return false;
}

bool
ns_split(const char *ns, char *db, size_t size, const char **collection)
{
	const char *dot = strchr(ns, '.');
	size_t length;

	if (dot == NULL || dot == ns || dot[1] == '\0')
		return false;
	length = (size_t)(dot - ns);
	if (length >= size)
		return false;
	memcpy(db, ns, length);
	db[length] = '\0';
	*collection = dot + 1;
	return true;
}
