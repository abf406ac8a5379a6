/*
 * snap-export.c - copy a server's collections as a snapshot stream.
 *
 * T0 is fixed before the first document is read, so the copy holds every
 * change up to T0 and maybe some after (fuzzy); replaying the oplog from
 * T0 repairs the rest. Each collection becomes a create entry, its
 * documents as inserts and its indexes as createIndexes entries, all
 * stamped T0. All reads go to one member (chosen by --read-preference) so
 * that T0, the lock and the documents describe the same copy of the data.
 *
 * The work is a plan of parts: a collection, or one _id range of a large
 * one. Workers export parts in parallel; either one writer thread merges
 * their output into one stream, or each part becomes its own file in a
 * directory, which a rerun resumes by skipping the parts already whole.
 *
 * This file is the command line; filters/export/ is the engine.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn.h"
#include "die.h"
#include "entry.h"
#include "ns.h"
#include "options.h"
#include "stream.h"
#include "export/export.h"

static const char *read_command_line(struct export_config *config, ns_filter *selection,
    int argc, char **argv);

int
main(int argc, char **argv)
{
	struct export_config config = { .jobs = 1, .chunk_docs = 100000,
	    .read_preference = "primary" };
	ns_filter *selection;
	const char *uri_arg;
	char *uri;
	int status;

	die_init(argv[0]);
	selection = ns_filter_new();
	ns_filter_use_defaults(selection);
	uri_arg = read_command_line(&config, selection, argc, argv);	/* before config is read */
	if (!config.directory)
		stream_refuse_tty(config.output);
	uri = conn_uri_resolve(uri_arg, config.conn.uri_file, "OPLOGKIT_SOURCE_URI");
	status = export_run(&config, selection, uri);
	free(uri);
	ns_filter_free(selection);
	return status;
}

static bool
is_directory(const char *path)
{
	struct stat info;
	size_t length = strlen(path);

	if (length > 0 && path[length - 1] == '/')
		return true;
	return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static void
parse_t0(const char *name, const char *text, void *value)
{
	struct export_config *config = value;

	if (!ts_parse(text, &config->t0))
		die(EXIT_USAGE, "%s: not a timestamp: '%s' (use T,I)", name, text);
	config->have_t0 = true;
}

static void
parse_consistency(const char *name, const char *text, void *value)
{
	struct export_config *config = value;

	if (strcmp(text, "lock") == 0)
		config->lock = true;
	else if (strcmp(text, "fuzzy") != 0)
		die(EXIT_USAGE, "%s: fuzzy or lock, not '%s'", name, text);
}

/* The URI operand, if any. */
static const char *
read_command_line(struct export_config *config, ns_filter *selection, int argc, char **argv)
{
	static const struct program program = {
		.name = "snap-export",
		.synopsis = "[options] [URI]",
		.summary = "Copy a server's collections, as of about T0, as a snapshot stream.",
		.details = "URI (or --uri's) defaults to --uri-file's, else $OPLOGKIT_SOURCE_URI.\n",
		.min_operands = 0, .max_operands = 1,
	};
	struct ns_select select = { .filter = selection };
	const struct option_def table[] = {
		OPT_STRING('o', "output", "FILE|DIR/", &config->output,
		    "write FILE (default stdout); a directory (existing, or given\n"
		    "with a trailing /) gets one file per part and a rerun resumes it"),
		OPT_ZSTD(&config->zstd_level),
		OPT_CALL(0, "t0", "TS", parse_t0, config, "use this T0 instead of the newest oplog ts"),
		OPT_NS_SELECT(&select),
		OPT_NUMBER('j', "jobs", "N", &config->jobs, 1, 64,
		    "export with N connections at once (default 1)"),
		OPT_NUMBER(0, "chunk-docs", "N", &config->chunk_docs, 1, LONG_MAX,
		    "split collections into _id ranges of about N documents\n"
		    "when parallel or -o DIR (default 100000)"),
		OPT_STRING(0, "read-preference", "MODE", &config->read_preference,
		    "primary (default), primaryPreferred, secondary,\n"
		    "secondaryPreferred or nearest"),
		OPT_CALL(0, "consistency", "C", parse_consistency, config,
		    "fuzzy (default) or lock (fsyncLock the member read)"),
		OPT_PROGRESS(&config->progress),
		OPT_METRICS(&config->metrics, &config->metrics_log),
		OPT_CONNECTION(&config->conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	options_ns_select_free(&select);
	if (config->output != NULL)
		config->directory = is_directory(config->output);
	return options_uri(&program, &config->conn, first < argc ? argv[first] : NULL);
}
