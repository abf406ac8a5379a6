/*
 * source-retire - drop the migrated namespaces from the old cluster, and
 * only those, once nothing can still need them.
 *
 * In order: list the selected namespaces of the source with their
 * document counts (the plan); without --yes or --dry-run stop there.
 * Then refuse, dropping nothing, when the source took writes on those
 * namespaces after the switch (--since: the source's own ts then, as its
 * oplog counts them; the target's switch-ts is another clock) and no
 * reverse stream accounts for them (a sign that an application still
 * writes there), or when sync-check, run as a child on the same
 * selection, finds the two sides different. Only then run --stop-cmd (what stops the reverse stream,
 * which would otherwise bring the dropped data back) and drop each
 * namespace, reporting its count.
 *
 * A reverse stream is the oplog-apply that keeps the source current from
 * the target; its checkpoint lives in oplogkit.checkpoints on the source.
 * Another host's process cannot be seen from here, so "running" is read
 * from what it leaves behind: a checkpoint written within --fresh, or one
 * that has reached the target's newest oplog entry (an idle applier
 * writes none, and then has nothing left to bring over).
 *
 * This file is the command line; filters/retire/ is the engine.
 */
#include <limits.h>
#include <stdlib.h>

#include "conn.h"
#include "die.h"
#include "ns.h"
#include "options.h"
#include "retire/retire.h"

static void read_command_line(struct retire_config *config, int argc, char **argv,
    char **source_uri, char **target_uri);

int
main(int argc, char **argv)
{
	struct retire_config config = {
		.reverse_name = "default", .fresh_ms = 60 * 1000, .rechecks = 5,
	};
	char *source_uri, *target_uri;
	int status;

	die_init(argv[0]);
	config.filter = ns_filter_new();
	ns_filter_use_defaults(config.filter);
	config.select.filter = config.filter;
	read_command_line(&config, argc, argv, &source_uri, &target_uri);
	status = retire_run(&config, source_uri, target_uri);
	ns_filter_free(config.filter);
	options_ns_select_free(&config.select);
	free(source_uri);
	free(target_uri);
	return status;
}

static void
parse_since(const char *name, const char *text, void *value)
{
	struct retire_config *config = value;

	if (!ts_parse(text, &config->since))
		die(EXIT_USAGE, "%s: not a timestamp: %s", name, text);
	config->has_since = true;
}

/* The SOURCE TARGET operands, or NULLs. */
static void
read_command_line(struct retire_config *config, int argc, char **argv, char **source_uri,
    char **target_uri)
{
	static const struct program program = {
		.name = "source-retire",
		.synopsis = "--since TS [--yes | --dry-run] [options] [SOURCE TARGET]",
		.summary = "Drop the migrated namespaces from the old cluster (SOURCE) once it is safe:\n"
		    "no writes there after the switch but the reverse stream's, and a final\n"
		    "sync-check finds both sides equal. Without --yes only lists them.",
		.details = "SOURCE and TARGET default to --source-uri-file's and --target-uri-file's,\n"
		    "else $OPLOGKIT_SOURCE_URI and $OPLOGKIT_TARGET_URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	const struct option_def table[] = {
		OPT_CALL(0, "since", "TS", parse_since, config,
		    "the source's ts at the switch (entry-switch's drain line)"),
		OPT_BOOL(0, "yes", &config->yes, "drop them"),
		OPT_BOOL(0, "dry-run", &config->dry_run, "run every check, list what would go, drop nothing"),
		OPT_NS_SELECT(&config->select),
		OPT_STRING(0, "reverse-name", "NAME", &config->reverse_name,
		    "the reverse stream's checkpoint on SOURCE (default)"),
		OPT_DURATION(0, "fresh", "DUR", &config->fresh_ms,
		    "a checkpoint this recent means it runs (60s)"),
		OPT_NUMBER(0, "rechecks", "N", &config->rechecks, 0, LONG_MAX,
		    "rechecks of differences still in flight (5)"),
		OPT_STRING(0, "stop-cmd", "CMD", &config->stop_cmd,
		    "run before the first drop (sh -c), to stop the reverse stream"),
		OPT_CONNECTIONS(&config->conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	if (config->yes && config->dry_run)
		die(EXIT_USAGE, "--yes and --dry-run: choose one");
	/* Without the switch ts there is no telling who wrote to the source. */
	if (!config->has_since)
		die(EXIT_USAGE, "--since: the source's ts at the switch is required (entry-switch's "
		    "drain line)");
	options_uri_pair(&program, &config->conn, argc - first, argv + first, NULL, source_uri,
	    target_uri);
}

