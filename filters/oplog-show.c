/*
 * oplog-show - print a stream as Extended JSON, one entry per line, or
 * count it (--stats), so grep, jq and diff work on oplog streams.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "die.h"
#include "entry.h"
#include "extjson.h"
#include "options.h"
#include "stream.h"

/* libbson's canonical, libbson's relaxed with exact int64, bsondump's exact text. */
enum format { CANONICAL, RELAXED, BSONDUMP };

/* Per-namespace counts; an open-addressing table that doubles when half full. */
struct ns_count {
	char *ns;
	uint64_t by_op[6];	/* i u d c n other */
	uint64_t bytes;
};

struct stats {
	struct ns_count *slots;
	size_t size, used;
	uint64_t entries, bytes, by_op[6];
	timestamp_t first, last;
};

static const char op_names[] = "iudcn?";

static void show_stream(stream_reader *, enum format, bool, struct stats *);
static void print_stats(const struct stats *);
static void parse_format(const char *, const char *, void *);
static void set_relaxed(const char *, const char *, void *);

int
main(int argc, char *argv[])
{
	static const struct program program = {
		.name = "oplog-show",
		.synopsis = "[options] [FILE ...]",
		.summary = "Print an oplog stream as Extended JSON, one entry per line.",
		.details = "Reads stdin without FILE; zstd streams are detected.\n",
		.min_operands = 0, .max_operands = -1,
	};
	enum format format = CANONICAL;
	bool pretty = false, want_stats = false;
	const struct option_def table[] = {
		OPT_CALL(0, "format", "F", parse_format, &format,
		    "canonical (default); relaxed: plain numbers, an int64\n"
		    "past 2^53 as {\"$numberLong\": ...}; bsondump: the very\n"
		    "text of MongoDB's bsondump (with --pretty, of --pretty)"),
		OPT_CALL(0, "relaxed", NULL, set_relaxed, &format, "the same as --format=relaxed"),
		OPT_BOOL(0, "pretty", &pretty, "indent each entry over several lines"),
		OPT_BOOL('s', "stats", &want_stats, "count entries by op and namespace instead"),
		OPT_END(),
	};
	struct stats stats;
	int first, k;

	die_init(argv[0]);
	first = options_parse(&program, table, argc, argv);
	memset(&stats, 0, sizeof(stats));
	signal(SIGPIPE, SIG_DFL);	/* `oplog-show | head` ends quietly */
	for (k = first; k < argc || k == first; k++) {
		stream_reader *reader = stream_open(k < argc ? argv[k] : NULL);

		if (reader == NULL)
			exit(EXIT_USAGE);
		show_stream(reader, format, pretty, want_stats ? &stats : NULL);
		stream_close(reader);
	}
	if (want_stats)
		print_stats(&stats);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_DIFFERENT, "stdout: write failed");
	return EXIT_DONE;
}

static void
parse_format(const char *name, const char *argument, void *value)
{
	enum format *format = value;

	if (strcmp(argument, "canonical") == 0)
		*format = CANONICAL;
	else if (strcmp(argument, "relaxed") == 0)
		*format = RELAXED;
	else if (strcmp(argument, "bsondump") == 0)
		*format = BSONDUMP;
	else
		die(EXIT_USAGE, "%s: \"%s\" is not canonical, relaxed or bsondump", name, argument);
}

static void
set_relaxed(const char *name, const char *argument, void *format)
{
	*(enum format *)format = RELAXED;
}

/* One entry's JSON over several lines, two spaces a level. */
static void
print_pretty(const char *json, size_t length)
{
	char *indented = extjson_indent_by(json, length, &length, "  ");

	fwrite(indented, 1, length, stdout);
	putchar('\n');
	bson_free(indented);
}

/*
 * The stream reader passes strings as bytes (an applier copies them as
 * they are); libbson's JSON writer refuses a key or string that is not
 * UTF-8, the only thing it refuses in a checked frame.
 */
static void __attribute__((noreturn))
die_unprintable(const stream_reader *reader)
{
	fflush(stdout);
	die(EXIT_BAD_STREAM, "%s: entry %" PRIu64 " at byte %" PRIu64 ": cannot be shown as "
	    "Extended JSON: a key or string is not valid UTF-8", stream_name(reader),
	    stream_count(reader), stream_offset(reader));
}

static void
print_entry(const stream_reader *reader, const bson_t *entry, enum format format, bool pretty)
{
	size_t length;
	char *json, *indented;
	bool left_out;

	switch (format) {
	case BSONDUMP:
		/* As bsondump, invalid UTF-8 shows as \ufffd: nothing is refused. */
		json = extjson_bsondump(entry, &length, &left_out);
		if (json == NULL)
			die(EXIT_BAD_STREAM, "%s: entry %" PRIu64 " at byte %" PRIu64 ": corrupt",
			    stream_name(reader), stream_count(reader), stream_offset(reader));
		if (left_out) {
			fflush(stdout);
			warnmsg("%s: entry %" PRIu64 " at byte %" PRIu64 ": nests more than %d objects or "
			    "holds a DBPointer namespace bsondump cannot read back: left out, as bsondump "
			    "leaves it out", stream_name(reader), stream_count(reader),
			    stream_offset(reader), EXTJSON_BSONDUMP_DEPTH);
			bson_free(json);
			return;
		}
		if (pretty) {
			indented = extjson_indent(json, length, &length);
			bson_free(json);
			json = indented;
		}
		/* By length: a DBPointer namespace may hold NUL, and bsondump writes it. */
		fwrite(json, 1, length, stdout);
		putchar('\n');
		bson_free(json);
		return;
	case RELAXED:
		json = extjson_relaxed(entry, &length);
		break;
	default:
		json = bson_as_canonical_extended_json(entry, &length);
	}
	if (json == NULL)
		die_unprintable(reader);
	if (pretty)
		print_pretty(json, length);
	else
		puts(json);
	bson_free(json);
}

static int
op_index(const char *op)
{
	const char *at = op[0] != '\0' && op[1] == '\0' ? strchr(op_names, op[0]) : NULL;

	return at != NULL ? (int)(at - op_names) : 5;
}

static uint64_t
hash_string(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static struct ns_count *
stats_slot(struct stats *stats, const char *ns)
{
	size_t k;

	if (stats->used * 2 >= stats->size) {
		struct ns_count *old = stats->slots;
		size_t old_size = stats->size;

		stats->size = old_size ? old_size * 2 : 64;
		stats->slots = xcalloc(stats->size, sizeof(*stats->slots));
		stats->used = 0;
		for (k = 0; k < old_size; k++) {
			if (old[k].ns == NULL)
				continue;
			*stats_slot(stats, old[k].ns) = old[k];
		}
		free(old);
	}
	for (k = hash_string(ns) & (stats->size - 1); stats->slots[k].ns != NULL;
	    k = (k + 1) & (stats->size - 1))
		if (strcmp(stats->slots[k].ns, ns) == 0)
			return &stats->slots[k];
	stats->slots[k].ns = (char *)ns;
	stats->used++;
	return &stats->slots[k];
}

static void
count_entry(struct stats *stats, const bson_t *entry)
{
	const char *ns = entry_ns(entry);
	timestamp_t ts = entry_ts(entry);
	int op = op_index(entry_op(entry));
	struct ns_count *slot = stats_slot(stats, ns);

	if (slot->ns == ns)
		slot->ns = xstrdup(ns);
	slot->by_op[op]++;
	slot->bytes += entry->len;
	stats->by_op[op]++;
	stats->entries++;
	stats->bytes += entry->len;
	if (stats->entries == 1)
		stats->first = ts;
	stats->last = ts;
}

static void
show_stream(stream_reader *reader, enum format format, bool pretty, struct stats *stats)
{
	const bson_t *entry;
	int status;

	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		if (stats != NULL)
			count_entry(stats, entry);
		else
			print_entry(reader, entry, format, pretty);
	}
	if (status == STREAM_ERROR) {
		fflush(stdout);
		stream_die(reader);
	}
}

static int
compare_ns(const void *a, const void *b)
{
	return strcmp(((const struct ns_count *)a)->ns, ((const struct ns_count *)b)->ns);
}

static void
print_stats(const struct stats *stats)
{
	struct ns_count *rows = xcalloc(stats->used + 1, sizeof(*rows));
	size_t k, n = 0;
	char first[32], last[32];
	int op;

	for (k = 0; k < stats->size; k++)
		if (stats->slots[k].ns != NULL)
			rows[n++] = stats->slots[k];
	qsort(rows, n, sizeof(*rows), compare_ns);
	printf("entries %" PRIu64 "  bytes %" PRIu64 "  first %s  last %s\n", stats->entries,
	    stats->bytes, ts_format(stats->first, first, sizeof(first)),
	    ts_format(stats->last, last, sizeof(last)));
	printf("%-40s %10s %10s %10s %10s %10s %10s %12s\n", "namespace", "i", "u", "d", "c", "n",
	    "other", "bytes");
	for (k = 0; k < n; k++) {
		printf("%-40s", rows[k].ns[0] != '\0' ? rows[k].ns : "(none)");
		for (op = 0; op < 6; op++)
			printf(" %10" PRIu64, rows[k].by_op[op]);
		printf(" %12" PRIu64 "\n", rows[k].bytes);
	}
	printf("%-40s", "total");
	for (op = 0; op < 6; op++)
		printf(" %10" PRIu64, stats->by_op[op]);
	printf(" %12" PRIu64 "\n", stats->bytes);
	for (k = 0; k < stats->size; k++)
		free(stats->slots[k].ns);
	free(stats->slots);
	free(rows);
}
