/*
 * fuzz_ns.c - libFuzzer entry point for namespace selection (common/ns.c)
 * and the namespaces a command names (command_namespaces, common/entry.c).
 *
 * The input is text, then a NUL, then one BSON entry. Each text line is a
 * rule or a question: "+GLOB" include, "-GLOB" exclude, "~RE" regex,
 * ">FROM=TO" rename, "D" the default exclusions, "?NS" a namespace to
 * ask about. The entry's ns and its command's namespaces are asked too.
 *
 * Besides memory errors, it aborts when the answers contradict the
 * contracts of ns.h: a selected db.coll whose database "cannot be
 * selected", a database "wholly selected" that leaves one of its
 * collections out, a namespace selected by a pattern whose database no
 * pattern could select.
 *
 * make fuzz builds it; make fuzz-short runs it; see tests/fuzz/README.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "ns.h"

#define RULE_MAX 64
#define NS_QUERY_MAX 200
#define QUERY_MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
ends_with(const char *text, const char *suffix)
{
	size_t length = strlen(text), suffix_length = strlen(suffix);

	return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

static bool
is_literal_include(const ns_filter *filter, const char *ns)
{
	const char *literal;

	for (size_t k = 0; (literal = ns_literal_include(filter, k)) != NULL; k++)
		if (strcmp(literal, ns) == 0)
			return true;
	return false;
}

static void
ask(const ns_filter *filter, const char *ns)
{
	char db[256], renamed[1024];
	bool selected;

	if (strlen(ns) > NS_QUERY_MAX)
		return;
	selected = ns_match(filter, ns);
	(void)ns_rename(filter, ns, renamed, sizeof(renamed));
	if (strnlen(renamed, sizeof(renamed)) == sizeof(renamed))
		abort();
	if (strchr(ns, '.') == NULL)
		return;
	ns_database(ns, db, sizeof(db));
	if (selected && !ns_match_database(filter, db))
		abort();
	if (ns_match_whole_database(filter, db) && !selected && !ends_with(ns, ".system.profile"))
		abort();
	if (selected && !is_literal_include(filter, ns) && !ns_match_database_by_pattern(filter, db))
		abort();
}

/* Apply one rule line to filter, or remember a question. */
static void
take_line(ns_filter *filter, char *line, char **queries, size_t *query_count)
{
	if (strlen(line) > RULE_MAX + 1)
		return;
	switch (line[0]) {
	case '+': (void)ns_filter_include(filter, line + 1); break;
	case '-': (void)ns_filter_exclude(filter, line + 1); break;
	case '~':
		/* glibc's regcomp expands bounded repeats: (a{99}){99} takes GBs. An
		 * operator's own --ns-regex may; a fuzzer's is not the question. */
		if (strchr(line, '{') == NULL && strlen(line) <= 17)
			(void)ns_filter_include_regex(filter, line + 1);
		break;
	case '>': (void)ns_filter_rename(filter, line + 1); break;
	case 'D': ns_filter_use_defaults(filter); break;
	case '?':
		if (*query_count < QUERY_MAX)
			queries[(*query_count)++] = line + 1;
		break;
	default: break;
	}
}

static void
ask_entry(const ns_filter *filter, const uint8_t *data, size_t size)
{
	char ns[2][256];
	bson_t entry;
	int count;

	if (size < 5 || !bson_init_static(&entry, data, size) ||
	    !bson_validate(&entry, BSON_VALIDATE_NONE, NULL))
		return;
	ask(filter, entry_ns(&entry));
	count = command_namespaces(&entry, ns);
	if (count < 0 || count > 2)
		abort();
	for (int k = 0; k < count; k++) {
		if (strnlen(ns[k], sizeof(ns[k])) == sizeof(ns[k]))
			abort();
		ask(filter, ns[k]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t text_length = nul != NULL ? (size_t)(nul - data) : size;
	char *text, *line, *save = NULL;
	char *queries[QUERY_MAX];
	size_t query_count = 0;
	ns_filter *filter;

	if (text_length > 4096)
		return 0;
	text = malloc(text_length + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, text_length);
	text[text_length] = '\0';
	filter = ns_filter_new();
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		take_line(filter, line, queries, &query_count);
	for (size_t k = 0; k < query_count; k++)
		ask(filter, queries[k]);
	if (nul != NULL)
		ask_entry(filter, nul + 1, size - text_length - 1);
	ns_filter_free(filter);
	free(text);
	return 0;
}
