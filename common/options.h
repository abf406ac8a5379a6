/*
 * options.h - a declared command line (after git's parse-options.h).
 *
 * A program lists its options once, in a table; from that one table come
 * the parsing, the --help text and the usage error, so they cannot drift.
 * Options several programs take are shared groups below (selection,
 * rename, connection, output, progress): the same spelling, argument and
 * help line everywhere. -h/--help and --version are every program's and
 * need no entry (and no program gives -h another meaning).
 *
 *	static const struct option_def table[] = {
 *		OPT_NS_SELECT(&selection),
 *		OPT_NUMBER('j', "jobs", "N", &jobs, 1, 64, "insert over N connections"),
 *		OPT_END(),
 *	};
 *	first = options_parse(&program, table, argc, argv);
 */
#ifndef OPLOGKIT_OPTIONS_H
#define OPLOGKIT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ns.h"

struct program;

enum option_type {
	OPTION_END,
	OPTION_BOOL,		/* value: bool *, set true */
	OPTION_STRING,		/* value: const char **, the argument */
	OPTION_NUMBER,		/* value: long *, an integer within [min, max] */
	OPTION_DURATION,	/* value: long *, milliseconds ("250ms", "2s", "1m") */
	OPTION_CALL,		/* call(name, argument, value); argument NULL for a flag */
};

struct option_def {
	enum option_type type;
	int short_name;		/* 0: none */
	const char *long_name;
	const char *argument;	/* its name in --help ("N", "FILE"); NULL: takes none */
	bool optional;		/* --name[=ARG]: the argument may be left out */
	const char *help;	/* what it does; "\n" starts another help line */
	void *value;
	long min, max;
	void (*call)(const char *name, const char *argument, void *value);
};

#define OPT_BOOL(s, l, v, h) \
	{ .type = OPTION_BOOL, .short_name = (s), .long_name = (l), .help = (h), .value = (v) }
#define OPT_STRING(s, l, a, v, h) \
	{ .type = OPTION_STRING, .short_name = (s), .long_name = (l), .argument = (a), \
	  .help = (h), .value = (v) }
#define OPT_NUMBER(s, l, a, v, lo, hi, h) \
	{ .type = OPTION_NUMBER, .short_name = (s), .long_name = (l), .argument = (a), \
	  .help = (h), .value = (v), .min = (lo), .max = (hi) }
#define OPT_DURATION(s, l, a, v, h) \
	{ .type = OPTION_DURATION, .short_name = (s), .long_name = (l), .argument = (a), \
	  .help = (h), .value = (v) }
#define OPT_CALL(s, l, a, f, v, h) \
	{ .type = OPTION_CALL, .short_name = (s), .long_name = (l), .argument = (a), \
	  .help = (h), .value = (v), .call = (f) }
#define OPT_CALL_OPTIONAL(s, l, a, f, v, h) \
	{ .type = OPTION_CALL, .short_name = (s), .long_name = (l), .argument = (a), \
	  .optional = true, .help = (h), .value = (v), .call = (f) }
#define OPT_END() { .type = OPTION_END }

/* ---- shared groups ---- */

/*
 * Namespace selection: -n/--ns GLOB, -x/--exclude GLOB, --ns-regex RE (and
 * --rename FROM=TO) into select->filter, which the caller creates. The
 * MongoDB Database Tools spellings are aliases, so their users' habits
 * work: --nsInclude is --ns, --nsExclude is --exclude, and --nsFrom FROM
 * followed by --nsTo TO is --rename FROM=TO. Each option is also kept in
 * args under its own name (--ns, --exclude, --ns-regex, --rename), for a
 * program that passes the selection on; the caller frees args with
 * options_ns_select_free.
 */
struct ns_select {
	ns_filter *filter;
	const char **args;	/* "--ns", "a.*", ... */
	size_t count;
	const char *from;	/* an --nsFrom waiting for its --nsTo */
	char **renames;		/* the FROM=TO texts --nsTo built, owned */
	size_t rename_count;
};
void options_ns_select(const char *name, const char *argument, void *select);
#define OPT_NS_SELECT(select) \
	OPT_CALL('n', "ns", "GLOB", options_ns_select, (select), \
	    "select namespaces matching GLOB (repeatable)"), \
	OPT_CALL('x', "exclude", "GLOB", options_ns_select, (select), \
	    "skip namespaces matching GLOB (repeatable)"), \
	OPT_CALL(0, "ns-regex", "RE", options_ns_select, (select), \
	    "select namespaces matching the POSIX ERE RE (repeatable)"), \
	OPT_CALL(0, "nsInclude", "GLOB", options_ns_select, (select), "the same as --ns"), \
	OPT_CALL(0, "nsExclude", "GLOB", options_ns_select, (select), "the same as --exclude")
#define OPT_NS_RENAME(select) \
	OPT_CALL(0, "rename", "FROM=TO", options_ns_select, (select), \
	    "write namespace FROM as TO ('*' carries over; repeatable)"), \
	OPT_CALL(0, "nsFrom", "FROM", options_ns_select, (select), \
	    "with the --nsTo that follows: --rename FROM=TO"), \
	OPT_CALL(0, "nsTo", "TO", options_ns_select, (select), "see --nsFrom")
/*
 * After options_parse: a usage error if an --nsFrom has no --nsTo. Then
 * free what select holds (not the filter).
 */
void options_ns_select_check(const struct program *program, const struct ns_select *select);
void options_ns_select_free(struct ns_select *select);

/* Connection: where the URI comes from when not an operand, TLS, retries. */
struct conn_options {
	const char *uri;		/* --uri (one server): the URI operand's spelling */
	const char *uri_file;		/* --uri-file (one server) */
	const char *source_file;	/* --source-uri-file (two) */
	const char *target_file;	/* --target-uri-file (two) */
	const char *tls_ca_file;
};
void options_retry_for(const char *name, const char *argument, void *unused);
#define OPT_URI_FILE(c) \
	OPT_STRING(0, "uri", "URI", &(c)->uri, "connect to URI (the same as the URI operand)"), \
	OPT_STRING(0, "uri-file", "FILE", &(c)->uri_file, "read the URI from FILE's first line")
#define OPT_URI_FILES(c) \
	OPT_STRING(0, "source-uri-file", "FILE", &(c)->source_file, \
	    "read the source's URI from FILE's first line"), \
	OPT_STRING(0, "target-uri-file", "FILE", &(c)->target_file, \
	    "read the target's URI from FILE's first line")
#define OPT_TLS_RETRY(c) \
	OPT_STRING(0, "tls-ca-file", "FILE", &(c)->tls_ca_file, "connect with TLS, trusting FILE"), \
	OPT_CALL(0, "retry-for", "DUR", options_retry_for, NULL, \
	    "retry a lost connection for DUR (default 60s)")

/*
 * The URI a one-server program was given: the operand or --uri (a usage
 * error if both), NULL if neither (conn_uri_resolve then reads --uri-file
 * or the environment).
 */
const char *options_uri(const struct program *program, const struct conn_options *conn,
    const char *operand);

/*
 * The two URIs of a two-server program, each malloc'd: SOURCE and TARGET
 * given as the count operands (both or neither: one is a usage error),
 * else as named (the program's --source and --target, { source, target };
 * NULL for a program without them: operands and those options do not
 * mix), else each from --source-uri-file/--target-uri-file, else
 * $OPLOGKIT_SOURCE_URI/$OPLOGKIT_TARGET_URI (conn_uri_resolve).
 */
void options_uri_pair(const struct program *program, const struct conn_options *conn,
    int count, char **operands, const char *const *named, char **source_uri, char **target_uri);

/* The whole connection group, for a program of one server or of two. */
#define OPT_CONNECTION(c) OPT_URI_FILE(c), OPT_TLS_RETRY(c)
#define OPT_CONNECTIONS(c) OPT_URI_FILES(c), OPT_TLS_RETRY(c)

/* Output: -o FILE, -z/--zstd[=LEVEL] (zstd 0: uncompressed). */
void options_zstd(const char *name, const char *argument, void *level);
#define OPT_OUTPUT(path, help) OPT_STRING('o', "output", "FILE", (path), (help))
#define OPT_ZSTD(level) \
	OPT_CALL_OPTIONAL('z', "zstd", "LEVEL", options_zstd, (level), \
	    "compress with zstd (level 1..22, default 3)")
/* -p is --progress in every program (oplog-show's --pretty has no short form). */
#define OPT_PROGRESS(flag) \
	OPT_BOOL('p', "progress", (flag), "a progress line per second on stderr")

/* --metrics FILE and --metrics-log FILE: common/metrics.h's two outputs. */
#define OPT_METRICS(file, log) \
	OPT_STRING(0, "metrics", "FILE", (file), \
	    "Prometheus text metrics in FILE, rewritten each second"), \
	OPT_STRING(0, "metrics-log", "FILE", (log), \
	    "append them to FILE each second, a JSON line each")

/* ---- the parser ---- */

struct program {
	const char *name;	/* "snap-export" */
	const char *synopsis;	/* after "usage: NAME ": "[options] [URI]" */
	const char *summary;	/* one line: what the program does */
	const char *details;	/* NULL, or text printed after the option list */
	int min_operands, max_operands;
};

/*
 * Parse argv by table (getopt_long order: options and operands may mix,
 * "--" ends the options). -h/--help prints the help and exits 0,
 * --version the version; an unknown option, a bad value or an operand
 * count outside [min_operands, max_operands] is a usage error (exit 2).
 * Returns the index of the first operand.
 */
int options_parse(const struct program *program, const struct option_def *table,
    int argc, char **argv);

/* "usage: NAME SYNOPSIS" on stderr and exit 2, after the caller's message. */
void options_usage_error(const struct program *program) __attribute__((noreturn));

/* The --help text on out. */
void options_help(const struct program *program, const struct option_def *table, FILE *out);

#endif
