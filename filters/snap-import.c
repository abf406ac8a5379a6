/*
 * snap-import.c - load a snapshot into a server: collections with their
 * options, documents in large unordered batches over several
 * connections, indexes after the data.
 *
 * Inputs: a snapshot stream (stdin or a file), a directory that
 * snap-export -o wrote (its manifest lists the part files), a mongodump
 * directory (db/coll.bson + coll.metadata.json), or with --into a plain
 * BSON file of documents. One reader (this thread) fills batches; worker
 * threads insert them. A rerun converges: an insert that finds its _id
 * already there becomes a replace of that document.
 *
 * A snapshot stream is done only at its trailer; without one the
 * documents already inserted stay, and the import says it is incomplete.
 *
 * This file is the command line; filters/import/ is the engine.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "die.h"
#include "ns.h"
#include "options.h"
#include "import/import.h"

static void read_command_line(struct import_config *config, ns_filter *selection, int argc,
    char **argv, const char **input, const char **uri);

int
main(int argc, char **argv)
{
	struct import_config config = { .jobs = 2, .batch = 10000 };
	const char *input = NULL, *uri_arg = NULL;
	ns_filter *selection;
	char *uri;
	int status;

	die_init(argv[0]);
	selection = ns_filter_new();
	ns_filter_use_defaults(selection);
	read_command_line(&config, selection, argc, argv, &input, &uri_arg);
	uri = conn_uri_resolve(uri_arg, config.conn.uri_file, "OPLOGKIT_TARGET_URI");
	status = import_run(&config, selection, input, uri);
	free(uri);
	ns_filter_free(selection);
	return status;
}

static bool
looks_like_uri(const char *text)
{
	return strncmp(text, "mongodb://", 10) == 0 || strncmp(text, "mongodb+srv://", 14) == 0;
}

static void
parse_into(const char *name, const char *text, void *value)
{
	struct import_config *config = value;
	const char *collection;
	char db[NS_SIZE];

	if (!ns_split(text, db, sizeof(db), &collection))
		die(EXIT_USAGE, "%s: not a namespace DB.COLLECTION: '%s'", name, text);
	config->into = text;
}

static void
read_command_line(struct import_config *config, ns_filter *selection, int argc, char **argv,
    const char **input, const char **uri)
{
	static const struct program program = {
		.name = "snap-import",
		.synopsis = "[options] [INPUT] [URI]",
		.summary = "Load a snapshot stream, snap-export or mongodump directory into a server.",
		.details =
		    "INPUT is a stream file (default stdin, zstd or not), a directory written by\n"
		    "snap-export -o, or a mongodump directory. URI is the destination\n"
		    "(--uri-file's or $OPLOGKIT_TARGET_URI otherwise); a lone operand that\n"
		    "starts with mongodb:// is the URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	struct ns_select select = { .filter = selection };
	const struct option_def table[] = {
		OPT_BOOL(0, "drop", &config->drop, "drop each collection before importing it"),
		OPT_NS_SELECT(&select),
		OPT_NS_RENAME(&select),
		OPT_NUMBER('j', "jobs", "N", &config->jobs, 1, 64, "insert over N connections (default 2)"),
		OPT_NUMBER(0, "batch", "N", &config->batch, 1, LONG_MAX,
		    "documents per insert batch (default 10000)"),
		OPT_CALL(0, "into", "NS", parse_into, config,
		    "INPUT is a plain BSON file of documents for NS"),
		OPT_PROGRESS(&config->progress),
		OPT_METRICS(&config->metrics, &config->metrics_log),
		OPT_CONNECTION(&config->conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);
	const char *operand = NULL;

	options_ns_select_check(&program, &select);
	options_ns_select_free(&select);
	if (argc - first == 2) {
		*input = argv[first];
		operand = argv[first + 1];
	} else if (argc - first == 1) {
		if (looks_like_uri(argv[first]))
			operand = argv[first];
		else
			*input = argv[first];
	}
	*uri = options_uri(&program, &config->conn, operand);
}
