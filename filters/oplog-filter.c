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
 *
 * This file is the command line; filters/filter/ is the engine.
 */
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "filter/filter.h"
#include "ns.h"
#include "options.h"

static int read_command_line(struct filter_config *config, int argc, char *argv[]);

int
main(int argc, char *argv[])
{
	struct filter_config config = { 0 };
	int first, status;

	die_init(argv[0]);
	config.filter = ns_filter_new();
	first = read_command_line(&config, argc, argv);
	status = filter_run(&config, argv + first, argc - first);
	ns_filter_free(config.filter);
	return status;
}

/* --op i,u,...: each letter once through filter_select_op. */
static void
parse_ops(const char *name, const char *list, void *value)
{
	struct filter_config *config = value;
	const char *p = list;

	config->op_given = true;
	for (;;) {
		if (*p == '\0' || (p[1] != ',' && p[1] != '\0') || !filter_select_op(config, *p))
			die(EXIT_USAGE, "--op '%s': expected a list of i, u, d, c, n", list);
		if (p[1] == '\0')
			return;
		p += 2;
	}
}

/* --since and --until: the option's name says which. */
static void
parse_ts(const char *option, const char *text, void *value)
{
	struct filter_config *config = value;
	bool until = strcmp(option, "--until") == 0;

	if (!ts_parse(text, until ? &config->until : &config->since))
		die(EXIT_USAGE, "%s '%s': expected T, T,I or {\"$timestamp\":...}", option, text);
	*(until ? &config->have_until : &config->have_since) = true;
}

/* The command line into config; returns the index of the first FILE. */
static int
read_command_line(struct filter_config *config, int argc, char *argv[])
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
	struct ns_select select = { .filter = config->filter };
	const struct option_def table[] = {
		OPT_NS_SELECT(&select),
		OPT_CALL(0, "op", "LIST", parse_ops, config, "keep only these operations (i,u,d,c,n)"),
		OPT_CALL(0, "since", "TS", parse_ts, config, "keep entries after TS (exclusive)"),
		OPT_CALL(0, "until", "TS", parse_ts, config, "keep entries up to TS (inclusive)"),
		OPT_NS_RENAME(&select),
		OPT_OUTPUT(&config->output, "write to FILE instead of stdout"),
		OPT_ZSTD(&config->zstd_level),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	options_ns_select_check(&program, &select);
	options_ns_select_free(&select);
	return first;
}
