/*
 * options.c - parse a declared option table with getopt_long, and write
 * the --help text and the usage error from the same table.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "options.h"

#define HELP_COLUMN 27		/* where the help text of an option starts */
#define OPTION_HELP 'h'
#define OPTION_VERSION 1	/* getopt's value for --version: not a character */
#define OPTION_INDEX_BASE 256	/* getopt's value for table[k]: base + k */

static const struct option_def builtin[] = {
	OPT_BOOL('h', "help", NULL, "this text"),
	OPT_BOOL(0, "version", NULL, "the version"),
	OPT_END(),
};

static size_t
table_length(const struct option_def *table)
{
	size_t n = 0;

	while (table[n].type != OPTION_END)
		n++;
	return n;
}

static int
has_argument(const struct option_def *option)
{
	if (option->argument == NULL)
		return no_argument;
	return option->optional ? optional_argument : required_argument;
}

/* The short options string for getopt_long: "o:z::j:h". */
static char *
short_options(const struct option_def *table, size_t count)
{
	char *text = xmalloc(count * 3 + 3);
	size_t k, n = 0;

	text[n++] = 'h';	/* -h is every program's */
	for (k = 0; k < count; k++) {
		if (table[k].short_name == 0)
			continue;
		text[n++] = (char)table[k].short_name;
		if (table[k].argument != NULL) {
			text[n++] = ':';
			if (table[k].optional)
				text[n++] = ':';
		}
	}
	text[n] = '\0';
	return text;
}

static struct option *
long_options(const struct option_def *table, size_t count)
{
	struct option *options = xcalloc(count + 3, sizeof(*options));
	size_t k;

	for (k = 0; k < count; k++)
		options[k] = (struct option){ table[k].long_name, has_argument(&table[k]), NULL,
		    (int)(OPTION_INDEX_BASE + k) };
	options[count] = (struct option){ "help", no_argument, NULL, OPTION_HELP };
	options[count + 1] = (struct option){ "version", no_argument, NULL, OPTION_VERSION };
	return options;
}

/* "--jobs" or "-j", as the user wrote it, for messages. */
static const char *
option_name(const struct option_def *option, bool long_form, char *buf, size_t size)
{
	if (long_form || option->short_name == 0)
		snprintf(buf, size, "--%s", option->long_name);
	else
		snprintf(buf, size, "-%c", option->short_name);
	return buf;
}

static void
apply(const struct option_def *option, const char *name, const char *argument)
{
	switch (option->type) {
	case OPTION_BOOL:
		*(bool *)option->value = true;
		break;
	case OPTION_STRING:
		*(const char **)option->value = argument;
		break;
	case OPTION_NUMBER:
		*(long *)option->value = cli_range(name, argument, option->min, option->max);
		break;
	case OPTION_DURATION:
		*(long *)option->value = cli_duration_ms(name, argument);
		break;
	case OPTION_CALL:
		option->call(name, argument, option->value);
		break;
	case OPTION_END:
		break;
	}
}

/* The table entry a short option letter stands for. */
static const struct option_def *
find_short(const struct option_def *table, size_t count, int letter)
{
	size_t k;

	for (k = 0; k < count; k++)
		if (table[k].short_name == letter)
			return &table[k];
	return NULL;
}

/*
 * getopt's tables, file-scope while parsing: --help, --version, a usage
 * error or a bad value exits from inside the loop, and what a global
 * points at is not a leak.
 */
static char *shorts;
static struct option *longs;

int
options_parse(const struct program *program, const struct option_def *table,
    int argc, char **argv)
{
	size_t count = table_length(table);
	const struct option_def *option;
	char name[64];
	int ch, operands;

	shorts = short_options(table, count);
	longs = long_options(table, count);
	opterr = 1;
	while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (ch == OPTION_HELP) {
			options_help(program, table, stdout);
			exit(fflush(stdout) == 0 ? EXIT_DONE : EXIT_LOCAL);
		}
		if (ch == OPTION_VERSION)
			cli_version();
		if (ch >= OPTION_INDEX_BASE && ch < OPTION_INDEX_BASE + (int)count)
			option = &table[ch - OPTION_INDEX_BASE];
		else if (ch != '?' && ch != ':' && (option = find_short(table, count, ch)) != NULL)
			;
		else
			options_usage_error(program);
		apply(option, option_name(option, ch >= OPTION_INDEX_BASE, name, sizeof(name)), optarg);
	}
	free(shorts);
	free(longs);
	shorts = NULL;
	longs = NULL;
	operands = argc - optind;
	if (operands < program->min_operands) {
		warnmsg("%s", program->min_operands == 1 ? "an operand is missing" :
		    "operands are missing");
		options_usage_error(program);
	}
	if (program->max_operands >= 0 && operands > program->max_operands) {
		warnmsg("unexpected argument '%s'", argv[optind + program->max_operands]);
		options_usage_error(program);
	}
	return optind;
}

void
options_usage_error(const struct program *program)
{
	fprintf(stderr, "usage: %s %s\n", program->name, program->synopsis);
	exit(EXIT_USAGE);
}

/* "  -o, --output FILE" / "      --zstd[=LEVEL]" */
static void
option_label(const struct option_def *option, char *buf, size_t size)
{
	int n;

	if (option->short_name != 0)
		n = snprintf(buf, size, "  -%c, --%s", option->short_name, option->long_name);
	else
		n = snprintf(buf, size, "      --%s", option->long_name);
	if (n < 0 || (size_t)n >= size || option->argument == NULL)
		return;
	snprintf(buf + n, size - (size_t)n, option->optional ? "[=%s]" : " %s", option->argument);
}

static void
option_help(const struct option_def *option, FILE *out)
{
	const char *help = option->help, *end;
	char label[128];
	int width;

	option_label(option, label, sizeof(label));
	width = (int)strlen(label);
	fputs(label, out);
	if (width >= HELP_COLUMN - 1) {
		fputc('\n', out);
		width = 0;
	}
	do {
		end = strchr(help, '\n');
		fprintf(out, "%*s%.*s\n", HELP_COLUMN - width, "",
		    (int)(end != NULL ? end - help : (long)strlen(help)), help);
		width = 0;
		help = end != NULL ? end + 1 : NULL;
	} while (help != NULL);
}

void
options_help(const struct program *program, const struct option_def *table, FILE *out)
{
	size_t k;

	fprintf(out, "usage: %s %s\n%s\n\n", program->name, program->synopsis, program->summary);
	for (k = 0; table[k].type != OPTION_END; k++)
		option_help(&table[k], out);
	for (k = 0; builtin[k].type != OPTION_END; k++)
		option_help(&builtin[k], out);
	if (program->details != NULL)
		fprintf(out, "\n%s", program->details);
}

/* ---- shared groups ---- */

void
options_ns_select(const char *name, const char *argument, void *value)
{
	struct ns_select *select = value;
	const char *option;	/* name is the parser's buffer: keep a literal */
	bool ok;

	if (strcmp(name, "--nsFrom") == 0) {
		if (select->from != NULL)
			die(EXIT_USAGE, "--nsFrom '%s' has no --nsTo", select->from);
		select->from = argument;
		return;
	}
	if (strcmp(name, "--nsTo") == 0) {
		char *rename;
		size_t size;

		if (select->from == NULL)
			die(EXIT_USAGE, "--nsTo '%s' has no --nsFrom before it", argument);
		size = strlen(select->from) + strlen(argument) + 2;
		rename = xmalloc(size);
		snprintf(rename, size, "%s=%s", select->from, argument);
		select->from = NULL;
		select->renames = xrealloc(select->renames,
		    (select->rename_count + 1) * sizeof(*select->renames));
		select->renames[select->rename_count++] = rename;
		name = "--rename";
		argument = rename;
	}
	if (strcmp(name, "--ns") == 0 || strcmp(name, "--nsInclude") == 0) {
		option = "--ns";
		ok = ns_filter_include(select->filter, argument);
	} else if (strcmp(name, "--exclude") == 0 || strcmp(name, "--nsExclude") == 0) {
		option = "--exclude";
		ok = ns_filter_exclude(select->filter, argument);
	} else if (strcmp(name, "--ns-regex") == 0) {
		option = "--ns-regex";
		ok = ns_filter_include_regex(select->filter, argument);
	} else {
		option = "--rename";
		ok = ns_filter_rename(select->filter, argument);
	}
	cli_require(ok);
	select->args = xrealloc(select->args, (select->count + 2) * sizeof(*select->args));
	select->args[select->count++] = option;
	select->args[select->count++] = argument;
}

void
options_ns_select_check(const struct program *program, const struct ns_select *select)
{
	if (select->from == NULL)
		return;
	warnmsg("--nsFrom '%s' has no --nsTo", select->from);
	options_usage_error(program);
}

void
options_ns_select_free(struct ns_select *select)
{
	size_t k;

	for (k = 0; k < select->rename_count; k++)
		free(select->renames[k]);
	free(select->renames);
	free(select->args);
	select->renames = NULL;
	select->args = NULL;
	select->rename_count = select->count = 0;
}

const char *
options_uri(const struct program *program, const struct conn_options *conn, const char *operand)
{
	if (operand != NULL && conn->uri != NULL) {
		warnmsg("a URI operand and --uri: give one");
		options_usage_error(program);
	}
	return operand != NULL ? operand : conn->uri;
}

void
options_uri_pair(const struct program *program, const struct conn_options *conn,
    int count, char **operands, const char *const *named, char **source_uri, char **target_uri)
{
	const char *source = named != NULL ? named[0] : NULL;
	const char *target = named != NULL ? named[1] : NULL;

	if (count == 1 || (count == 2 && (source != NULL || target != NULL))) {
		warnmsg(named != NULL ? "give SOURCE and TARGET as two operands or as --source and --target"
		    : "give both SOURCE and TARGET, or neither (then the files or environment)");
		options_usage_error(program);
	}
	if (count == 2) {
		source = operands[0];
		target = operands[1];
	}
	*source_uri = conn_uri_resolve(source, conn->source_file, "OPLOGKIT_SOURCE_URI");
	*target_uri = conn_uri_resolve(target, conn->target_file, "OPLOGKIT_TARGET_URI");
}

void
options_retry_for(const char *name, const char *argument, void *unused)
{
	(void)unused;
	conn_set_retry_for(cli_duration_ms(name, argument));
}

void
options_zstd(const char *name, const char *argument, void *level)
{
	(void)name;
	*(int *)level = cli_zstd_level(argument);
}
