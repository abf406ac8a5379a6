/*
 * oplog-read - tail a server's local.oplog.rs into a stream.
 *
 * Entries after --since (exclusive), or after the last entry of the spool
 * given to --resume, are written as they come, flushed after each batch
 * so a follower (oplog-apply --follow) sees them at once. A fresh stream
 * starts with the earlier links of the transactions open at its start. A
 * cursor the server closes is reopened after the newest entry written;
 * if the oplog no longer reaches back to it, the history is lost: exit 5.
 *
 * This file is the command line; filters/read/ is the engine.
 */
#include <stdlib.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "options.h"
#include "stream.h"
#include "read/read.h"

static const char *read_command_line(struct read_config *config, int argc, char **argv);

int
main(int argc, char **argv)
{
	struct read_config config = { .zstd_level = -1, .retry_for_ms = DEFAULT_RETRY_FOR_MS,
	    .poll_ms = DEFAULT_POLL_MS };
	const char *uri_arg;
	char *uri;
	int status;

	die_init(argv[0]);
	uri_arg = read_command_line(&config, argc, argv);
	if (!config.now)
		stream_refuse_tty(config.resume != NULL ? config.resume : config.output);
	uri = conn_uri_resolve(uri_arg, config.conn.uri_file, "OPLOGKIT_SOURCE_URI");
	status = read_run(&config, uri);
	free(uri);
	return status;
}

static void
parse_ts(const char *option, const char *text, void *value, bool *given)
{
	if (!ts_parse(text, value))
		die(EXIT_USAGE, "%s: not a timestamp: '%s' (try T,I or {\"$timestamp\":{\"t\":T,\"i\":I}})",
		    option, text);
	*given = true;
}

static void
parse_since(const char *option, const char *text, void *value)
{
	struct read_config *config = value;

	parse_ts(option, text, &config->since, &config->has_since);
}

static void
parse_until(const char *option, const char *text, void *value)
{
	struct read_config *config = value;

	parse_ts(option, text, &config->until, &config->has_until);
}

static void
parse_count(const char *option, const char *text, void *value)
{
	struct read_config *config = value;

	config->count = (uint64_t)cli_number(option, text);
	config->has_count = true;
}

/* Not the shared --retry-for: oplog-read keeps its own budget (5m, --now 10s). */
static void
parse_retry_for(const char *option, const char *text, void *value)
{
	struct read_config *config = value;

	config->retry_for_ms = cli_duration_ms(option, text);
	config->has_retry_for = true;
}

/* The command line into config; returns the URI operand or --uri, or NULL. */
static const char *
read_command_line(struct read_config *config, int argc, char **argv)
{
	static const struct program program = {
		.name = "oplog-read",
		.synopsis = "[options] [URI]",
		.summary = "Tail a server's oplog (local.oplog.rs) into a stream of entries.",
		.details =
		    "TS is \"T,I\", \"T\" or {\"$timestamp\":...}. URI (or --uri's) defaults to\n"
		    "--uri-file's, else $OPLOGKIT_SOURCE_URI.\n",
		.min_operands = 0, .max_operands = 1,
	};
	const struct option_def table[] = {
		OPT_CALL(0, "since", "TS", parse_since, config,
		    "start after TS; 0 reads the whole oplog;\ndefault: its newest entry"),
		OPT_STRING(0, "resume", "FILE", &config->resume, "append to the spool FILE after its last entry"),
		OPT_CALL(0, "until", "TS", parse_until, config,
		    "stop after the entries up to TS, inclusive"),
		OPT_CALL(0, "count", "N", parse_count, config, "stop after N entries"),
		OPT_BOOL(0, "now", &config->now, "print the newest ts of the oplog and exit"),
		OPT_OUTPUT(&config->output, "write to FILE (mode 0600) instead of stdout"),
		OPT_ZSTD(&config->zstd_level),
		OPT_CALL(0, "retry-for", "DUR", parse_retry_for, config,
		    "reconnect for this long before giving up (5m; --now: 10s)"),
		OPT_DURATION(0, "poll", "DUR", &config->poll_ms,
		    "longest pause between polls of an idle oplog (1s)"),
		OPT_PROGRESS(&config->progress),
		OPT_METRICS(&config->metrics, &config->metrics_log),
		OPT_URI_FILE(&config->conn),
		OPT_STRING(0, "tls-ca-file", "FILE", &config->conn.tls_ca_file,
		    "connect with TLS, trusting FILE"),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	if (config->now && !config->has_retry_for)
		config->retry_for_ms = NOW_RETRY_FOR_MS;
	if (config->has_since && config->resume != NULL)
		die(EXIT_USAGE, "--since and --resume: give one (--resume starts after the spool's last entry)");
	if (config->output != NULL && config->resume != NULL)
		die(EXIT_USAGE, "--output and --resume: --resume FILE appends to FILE itself");
	return options_uri(&program, &config->conn, first < argc ? argv[first] : NULL);
}
