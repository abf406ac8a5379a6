/*
 * sync-check - prove that two servers hold the same data, and say how far
 * the target's applier is behind the source.
 *
 * Every selected namespace of either side is compared: existence, the
 * collection's options, its index specs, and every document. Documents are
 * read from both sides sorted by _id and merged, so memory stays flat
 * whatever the size. The merge orders _ids as the server does
 * (common/order.c); should it ever disagree with the server, no harm is
 * done: a document the merge finds on one side only is looked up by _id
 * on the other before it is reported (in batches, with $in), so a
 * misordered stretch costs lookups, never a false report.
 *
 * Differences go to stdout as BSON {ns, _id, kind} (or one relaxed
 * Extended JSON line each), the summary to stderr.
 *
 * This file is the command line; filters/check/ is the engine.
 */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "metrics.h"
#include "ns.h"
#include "options.h"
#include "check/check.h"

static void read_command_line(struct check_config *config, int argc, char **argv,
    char **source_uri, char **target_uri);

int
main(int argc, char **argv)
{
	struct check_config config = { .name = "default", .jobs = 1 };
	struct check check;
	char *source_uri, *target_uri;
	int status;

	die_init(argv[0]);
	config.filter = ns_filter_new();
	ns_filter_use_defaults(config.filter);
	read_command_line(&config, argc, argv, &source_uri, &target_uri);
	check_open(&check, &config, source_uri, target_uri);
	metrics_start(config.metrics, config.metrics_log, config.name);
	check_metrics(&check, "starting");
	if (config.lag_only || config.watch)
		status = run_lag(&check);
	else if (config.recheck != NULL)
		status = run_recheck(&check);
	else
		status = run_compare(&check);
	check_metrics(&check, cli_stop ? "stopped" : "done");
	metrics_stop(cli_stop ? "stopped" : "done");
	check_close(&check);
	ns_filter_free(config.filter);
	free(source_uri);
	free(target_uri);
	return status;
}

static void
parse_max_lag(const char *name, const char *text, void *value)
{
	struct check_config *config = value;

	config->max_lag_ms = cli_duration_ms(name, text);
	config->has_max_lag = true;
}

static void
read_command_line(struct check_config *config, int argc, char **argv, char **source_uri,
    char **target_uri)
{
	static const struct program program = {
		.name = "sync-check",
		.synopsis = "[options] [SOURCE TARGET]",
		.summary = "Compare two servers: namespaces, collection options, indexes, every document;\n"
		    "write the differences as BSON {ns, _id, kind} and report the applier's lag.",
		.details = "SOURCE and TARGET default to --source-uri-file's and --target-uri-file's,\n"
		    "else $OPLOGKIT_SOURCE_URI and $OPLOGKIT_TARGET_URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	struct ns_select select = { .filter = config->filter };
	const struct option_def table[] = {
		OPT_NS_SELECT(&select),
		OPT_NUMBER('j', "jobs", "N", &config->jobs, 1, MAX_JOBS, "compare N collections at once (1)"),
		OPT_BOOL(0, "json", &config->json, "one relaxed Extended JSON line per difference"),
		OPT_OUTPUT(&config->output, "write the differences to FILE instead of stdout"),
		OPT_STRING(0, "recheck", "FILE", &config->recheck,
		    "re-read only what FILE (an earlier output) lists"),
		OPT_BOOL(0, "in-flight-ok", &config->in_flight_ok,
		    "--recheck: exit 0 when what differs is only still in flight"),
		OPT_STRING(0, "name", "NAME", &config->name,
		    "the applier's checkpoint on the target (default)"),
		OPT_BOOL(0, "lag-only", &config->lag_only, "only print the lag: seconds and entries behind"),
		OPT_CALL(0, "max-lag", "DUR", parse_max_lag, config,
		    "exit 1 when the lag is over DUR (or unknown)"),
		OPT_BOOL(0, "watch", &config->watch, "print the lag every second until interrupted"),
		OPT_METRICS(&config->metrics, &config->metrics_log),
		OPT_CONNECTIONS(&config->conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	options_ns_select_free(&select);
	if (config->in_flight_ok && config->recheck == NULL)
		die(EXIT_USAGE, "--in-flight-ok is for --recheck: only a recheck tells what is in flight");
	if ((config->lag_only || config->watch) && config->recheck != NULL)
		die(EXIT_USAGE, "--recheck compares documents: not with --lag-only or --watch");
	/* BSON is for pipes and files: a person at a terminal reads JSON lines. */
	if (config->output == NULL && !config->json && isatty(STDOUT_FILENO))
		config->json = true;
	options_uri_pair(&program, &config->conn, argc - first, argv + first, NULL, source_uri,
	    target_uri);
}

