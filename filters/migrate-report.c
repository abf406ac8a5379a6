/*
 * migrate-report - a self-contained HTML report of a migration, drawn
 * from the --metrics-log timelines of its programs (oplog-read,
 * oplog-apply): the phases, lag and throughput over time, the
 * write-unavailable window (from entry-switch's report), and the counts.
 *
 * The page is one file: inline SVG and CSS, no script, nothing fetched,
 * so it can be attached to a change ticket and opened anywhere. Each
 * drawn series also carries its numbers (data-times, data-values), so a
 * test can check the drawing against the log without a browser.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>

#include "cli.h"
#include "die.h"
#include "options.h"

#define MAX_SERIES 32
#define CHART_WIDTH 900
#define CHART_HEIGHT 180
#define ROW_HEIGHT 22
#define LEFT 170		/* room for the series' names */
#define RIGHT 20
#define TOP 10
#define BOTTOM 30

struct sample {
	double time, lag;
	uint64_t entries_read, bytes_read, entries_applied, bytes_applied;
	uint64_t batches, errors, retries;
	uint32_t checkpoint_t, checkpoint_i;
	char phase[32];
};

struct series {
	char program[64], name[256];
	struct sample *samples;
	size_t count, capacity;
};

/* entry-switch's report: when writes were fenced, and for how long. */
struct cutover {
	bool found;
	double fence, unfence;	/* Unix seconds; 0: not in the report */
	long window_ms;		/* -1: not in the report */
	char result[64], switch_ts[64];
};

static struct {
	const char *output, *switch_report, *title;
} opt = { .title = "oplogkit migration report" };

static struct series series[MAX_SERIES];
static size_t series_count;

static int read_command_line(int argc, char **argv);
static void read_log(const char *path);
static void read_cutover(const char *path, struct cutover *cutover);
static void write_report(FILE *out, const struct cutover *cutover);

int
main(int argc, char **argv)
{
	struct cutover cutover = { .window_ms = -1 };
	FILE *out = stdout;
	size_t k;
	int first, index;

	die_init(argv[0]);
	first = read_command_line(argc, argv);
	if (first == argc)
		read_log(NULL);
	for (index = first; index < argc; index++)
		read_log(argv[index]);
	if (series_count == 0)
		die(EXIT_BAD_STREAM, "no samples: give the files that --metrics-log wrote");
	if (opt.switch_report != NULL)
		read_cutover(opt.switch_report, &cutover);
	if (opt.output != NULL && (out = fopen(opt.output, "w")) == NULL)
		die(EXIT_USAGE, "%s: %s", opt.output, strerror(errno));
	write_report(out, &cutover);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		die(EXIT_DIFFERENT, "%s: write failed", opt.output != NULL ? opt.output : "stdout");
	for (k = 0; k < series_count; k++)
		free(series[k].samples);
	return EXIT_DONE;
}

/* The command line into opt; returns the index of the first LOG. */
static int
read_command_line(int argc, char **argv)
{
	static const struct program program = {
		.name = "migrate-report",
		.synopsis = "[options] [LOG ...]",
		.summary =
		    "Write a self-contained HTML report (inline SVG, nothing fetched) of a migration\n"
		    "from the --metrics-log files of its programs (stdin without LOG).",
		.min_operands = 0, .max_operands = -1,
	};
	const struct option_def table[] = {
		OPT_OUTPUT(&opt.output, "write the report to FILE instead of stdout"),
		OPT_STRING(0, "switch-report", "FILE", &opt.switch_report,
		    "entry-switch's report: the write-unavailable window"),
		OPT_STRING(0, "title", "TEXT", &opt.title, "the report's title"),
		OPT_END(),
	};

	return options_parse(&program, table, argc, argv);
}

/* --- reading --- */

static struct series *
series_for(const char *program, const char *name)
{
	size_t k;

	for (k = 0; k < series_count; k++)
		if (strcmp(series[k].program, program) == 0 && strcmp(series[k].name, name) == 0)
			return &series[k];
	if (series_count == MAX_SERIES)
		die(EXIT_BAD_STREAM, "more than %d programs in the logs", MAX_SERIES);
	snprintf(series[series_count].program, sizeof(series[0].program), "%s", program);
	snprintf(series[series_count].name, sizeof(series[0].name), "%s", name);
	return &series[series_count++];
}

static uint64_t
field_count(const bson_t *doc, const char *key)
{
	bson_iter_t iter;

	if (!bson_iter_init_find(&iter, doc, key) || !BSON_ITER_HOLDS_NUMBER(&iter))
		return 0;
	return bson_iter_as_int64(&iter) < 0 ? 0 : (uint64_t)bson_iter_as_int64(&iter);
}

static const char *
field_text(const bson_t *doc, const char *key)
{
	bson_iter_t iter;

	if (!bson_iter_init_find(&iter, doc, key) || !BSON_ITER_HOLDS_UTF8(&iter))
		return "";
	return bson_iter_utf8(&iter, NULL);
}

/* One log line into its series; false when it is not a sample. */
static bool
add_sample(const bson_t *doc)
{
	struct series *s;
	struct sample sample;
	bson_iter_t iter, checkpoint;

	memset(&sample, 0, sizeof(sample));
	if (!bson_iter_init_find(&iter, doc, "time") || !BSON_ITER_HOLDS_NUMBER(&iter))
		return false;
	sample.time = bson_iter_as_double(&iter);
	if (field_text(doc, "program")[0] == '\0' || !isfinite(sample.time))
		return false;
	if (bson_iter_init_find(&iter, doc, "lag_seconds") && BSON_ITER_HOLDS_NUMBER(&iter))
		sample.lag = bson_iter_as_double(&iter);
	sample.entries_read = field_count(doc, "entries_read");
	sample.bytes_read = field_count(doc, "bytes_read");
	sample.entries_applied = field_count(doc, "entries_applied");
	sample.bytes_applied = field_count(doc, "bytes_applied");
	sample.batches = field_count(doc, "batches");
	sample.errors = field_count(doc, "errors");
	sample.retries = field_count(doc, "retries");
	snprintf(sample.phase, sizeof(sample.phase), "%s", field_text(doc, "phase"));
	if (bson_iter_init_find(&iter, doc, "checkpoint") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
	    bson_iter_recurse(&iter, &checkpoint)) {
		while (bson_iter_next(&checkpoint)) {
			if (strcmp(bson_iter_key(&checkpoint), "t") == 0)
				sample.checkpoint_t = (uint32_t)bson_iter_as_int64(&checkpoint);
			else if (strcmp(bson_iter_key(&checkpoint), "i") == 0)
				sample.checkpoint_i = (uint32_t)bson_iter_as_int64(&checkpoint);
		}
	}
	s = series_for(field_text(doc, "program"), field_text(doc, "name"));
	if (s->count == s->capacity) {
		s->capacity = s->capacity ? s->capacity * 2 : 256;
		s->samples = xrealloc(s->samples, s->capacity * sizeof(s->samples[0]));
	}
	s->samples[s->count++] = sample;
	return true;
}

static int
by_time(const void *a, const void *b)
{
	double x = ((const struct sample *)a)->time, y = ((const struct sample *)b)->time;

	return x < y ? -1 : x > y;
}

static void
read_log(const char *path)
{
	FILE *file = path == NULL ? stdin : fopen(path, "r");
	const char *name = path == NULL ? "stdin" : path;
	char *line = NULL;
	size_t capacity = 0, k;
	ssize_t length;
	uint64_t number = 0;

	if (file == NULL)
		die(EXIT_USAGE, "%s: %s", name, strerror(errno));
	while ((length = getline(&line, &capacity, file)) >= 0) {
		bson_error_t error;
		bson_t *doc;

		number++;
		while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
			line[--length] = '\0';
		if (length == 0)
			continue;
		doc = bson_new_from_json((const uint8_t *)line, length, &error);
		if (doc == NULL)
			die(EXIT_BAD_STREAM, "%s: line %" PRIu64 ": not JSON: %s", name, number, error.message);
		if (!add_sample(doc))
			die(EXIT_BAD_STREAM, "%s: line %" PRIu64 ": not a --metrics-log sample "
			    "(no time or program)", name, number);
		bson_destroy(doc);
	}
	if (ferror(file))
		die(EXIT_USAGE, "%s: %s", name, strerror(errno));
	free(line);
	if (file != stdin)
		fclose(file);
	for (k = 0; k < series_count; k++)
		qsort(series[k].samples, series[k].count, sizeof(struct sample), by_time);
}

/* "2026-12-01T22:30:14.141Z" in Unix seconds; 0 if it is not that. */
static double
parse_utc(const char *text)
{
	struct tm tm;
	const char *rest;
	double fraction = 0;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return 0;
	if (*rest == '.')
		fraction = strtod(rest, NULL);
	return (double)timegm(&tm) + fraction;
}

static void
read_cutover(const char *path, struct cutover *cutover)
{
	FILE *file = fopen(path, "r");
	char line[1024], word[64], value[512];

	if (file == NULL)
		die(EXIT_USAGE, "--switch-report %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), file) != NULL) {
		if (sscanf(line, "%63s %511[^\n]", word, value) != 2)
			continue;
		if (strcmp(word, "fence") == 0)
			cutover->fence = parse_utc(value);
		else if (strcmp(word, "unfence") == 0)
			cutover->unfence = parse_utc(value);
		else if (strcmp(word, "window") == 0)
			cutover->window_ms = strtol(value, NULL, 10);
		else if (strcmp(word, "result") == 0)
			snprintf(cutover->result, sizeof(cutover->result), "%.63s", value);
		else if (strcmp(word, "switch-ts") == 0)
			snprintf(cutover->switch_ts, sizeof(cutover->switch_ts), "%.63s", value);
		else
			continue;
		cutover->found = true;
	}
	fclose(file);
	if (!cutover->found)
		die(EXIT_USAGE, "--switch-report %s: not an entry-switch report", path);
}

/* --- writing --- */

/* text with &, <, >, " and ' escaped, for HTML text and attributes alike. */
static void
html(FILE *out, const char *text)
{
	for (; *text != '\0'; text++) {
		switch (*text) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*text, out);
		}
	}
}

static void
utc_text(double seconds, char *out, size_t size)
{
	time_t whole = (time_t)seconds;
	struct tm tm;

	gmtime_r(&whole, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* The time range of every series together. */
static void
time_range(double *first, double *last)
{
	size_t k;

	*first = INFINITY;
	*last = -INFINITY;
	for (k = 0; k < series_count; k++) {
		if (series[k].count == 0)
			continue;
		if (series[k].samples[0].time < *first)
			*first = series[k].samples[0].time;
		if (series[k].samples[series[k].count - 1].time > *last)
			*last = series[k].samples[series[k].count - 1].time;
	}
	if (*last <= *first)
		*last = *first + 1;	/* one instant: a second wide */
}

static double
x_of(double time, double first, double last)
{
	return LEFT + (time - first) / (last - first) * (CHART_WIDTH - LEFT - RIGHT);
}

/* Colours: the phases oplogkit programs use, then a fixed cycle. */
static const char *
phase_colour(const char *phase)
{
	static const struct {
		const char *phase, *colour;
	} known[] = {
		{ "starting", "#b0b0b0" }, { "reading", "#4e79a7" }, { "applying", "#4e79a7" },
		{ "following", "#59a14f" }, { "done", "#2f6b2a" }, { "stopped", "#f28e2b" },
		{ "exited", "#e15759" },
	};
	static const char *const others[] = { "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f" };
	unsigned hash = 0;
	size_t k;

	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcmp(known[k].phase, phase) == 0)
			return known[k].colour;
	for (; *phase != '\0'; phase++)
		hash = hash * 31 + (unsigned char)*phase;
	return others[hash % (sizeof(others) / sizeof(others[0]))];
}

static const char *const line_colours[] = { "#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2" };

static void
series_label(FILE *out, const struct series *s)
{
	html(out, s->program);
	if (s->name[0] != '\0') {
		fputs(" ", out);
		html(out, s->name);
	}
}

static void
window_band(FILE *out, const struct cutover *cutover, double first, double last, int height)
{
	double from, to;

	if (cutover->fence <= 0 || cutover->unfence <= 0)
		return;
	/* Clipped to the plot: a window outside the timeline is not drawn over the names. */
	from = fmin(fmax(x_of(cutover->fence, first, last), LEFT), CHART_WIDTH - RIGHT);
	to = fmin(fmax(x_of(cutover->unfence, first, last), LEFT), CHART_WIDTH - RIGHT);
	fprintf(out, "<rect class=\"window\" data-from=\"%.3f\" data-to=\"%.3f\" x=\"%.1f\" y=\"%d\" "
	    "width=\"%.1f\" height=\"%d\"><title>writes unavailable: %ld ms</title></rect>\n",
	    cutover->fence, cutover->unfence, from, TOP, to - from < 2 ? 2 : to - from, height,
	    cutover->window_ms);
}

static void
time_axis(FILE *out, double first, double last, int y)
{
	char a[64];

	fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", LEFT, y,
	    CHART_WIDTH - RIGHT, y);
	utc_text(first, a, sizeof(a));
	fprintf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", LEFT, y + 16, a);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">+%.0f s</text>\n",
	    CHART_WIDTH - RIGHT, y + 16, last - first);
}

/* Each phase seen, once, in its colour. */
static void
phase_legend(FILE *out)
{
	const char *seen[64];
	size_t count = 0, k, i, j;

	fputs("<p class=\"legend\">", out);
	for (k = 0; k < series_count; k++)
		for (i = 0; i < series[k].count && count < 64; i++) {
			for (j = 0; j < count && strcmp(seen[j], series[k].samples[i].phase) != 0; j++)
				;
			if (j < count)
				continue;
			seen[count++] = series[k].samples[i].phase;
			fprintf(out, "<span style=\"color:%s\">&#9632;</span> ",
			    phase_colour(series[k].samples[i].phase));
			html(out, series[k].samples[i].phase);
			fputs(" &nbsp; ", out);
		}
	if (opt.switch_report != NULL)
		fputs("<span style=\"color:#e15759;opacity:0.4\">&#9632;</span> writes unavailable", out);
	fputs("</p>\n", out);
}

static void
phase_chart(FILE *out, const struct cutover *cutover, double first, double last)
{
	int height = (int)series_count * ROW_HEIGHT;
	size_t k, i, start;

	fprintf(out, "<svg class=\"chart\" id=\"phases\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"phases over time\">\n", CHART_WIDTH, height + TOP + BOTTOM,
	    CHART_WIDTH, height + TOP + BOTTOM);
	window_band(out, cutover, first, last, height);
	for (k = 0; k < series_count; k++) {
		const struct series *s = &series[k];
		int y = TOP + (int)k * ROW_HEIGHT;

		fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LEFT - 6, y + 15);
		series_label(out, s);
		fputs("</text>\n", out);
		/* One bar per run of a phase, to the next sample's time (the last: a sliver). */
		for (start = 0; start < s->count; start = i) {
			double from = s->samples[start].time, to;

			for (i = start + 1; i < s->count && strcmp(s->samples[i].phase, s->samples[start].phase) == 0; i++)
				;
			to = i < s->count ? s->samples[i].time : s->samples[i - 1].time;
			fprintf(out, "<rect class=\"phase\" data-program=\"");
			html(out, s->program);
			fprintf(out, "\" data-phase=\"");
			html(out, s->samples[start].phase);
			fprintf(out, "\" data-from=\"%.3f\" data-to=\"%.3f\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
			    "height=\"%d\" fill=\"%s\"><title>", from, to, x_of(from, first, last), y + 2,
			    fmax(x_of(to, first, last) - x_of(from, first, last), 2.0), ROW_HEIGHT - 4,
			    phase_colour(s->samples[start].phase));
			html(out, s->samples[start].phase);
			fprintf(out, " %.1f s</title></rect>\n", to - from);
		}
	}
	time_axis(out, first, last, TOP + height + 4);
	fputs("</svg>\n", out);
	phase_legend(out);
}

/* The value a line chart draws for sample i of s. */
typedef double value_of(const struct series *s, size_t i);

static double
lag_of(const struct series *s, size_t i)
{
	return s->samples[i].lag;
}

/* Entries per second between the previous sample and this one: applied
 * for an applier, read for the others. */
static double
rate_of(const struct series *s, size_t i)
{
	bool applier = strcmp(s->program, "oplog-apply") == 0;
	const struct sample *a, *b;
	double seconds;
	uint64_t x, y;

	if (i == 0)
		return 0;
	a = &s->samples[i - 1];
	b = &s->samples[i];
	seconds = b->time - a->time;
	x = applier ? a->entries_applied : a->entries_read;
	y = applier ? b->entries_applied : b->entries_read;
	return seconds > 0 && y >= x ? (double)(y - x) / seconds : 0;
}

static void
line_chart(FILE *out, const char *id, const char *metric, const char *unit, value_of *value,
    const struct cutover *cutover, double first, double last)
{
	int plot = CHART_HEIGHT - TOP - BOTTOM;
	double top = 0;
	size_t k, i;

	for (k = 0; k < series_count; k++)
		for (i = 0; i < series[k].count; i++)
			top = fmax(top, value(&series[k], i));
	if (top <= 0)
		top = 1;	/* all zero: a flat line at the bottom */
	fprintf(out, "<svg class=\"chart\" id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"%s over time\" data-max=\"%.3f\">\n", id, CHART_WIDTH,
	    CHART_HEIGHT, CHART_WIDTH, CHART_HEIGHT, metric, top);
	window_band(out, cutover, first, last, plot);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f %s</text>\n", LEFT - 6, TOP + 10,
	    top, unit);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", LEFT - 6, TOP + plot);
	for (k = 0; k < series_count; k++) {
		const struct series *s = &series[k];
		const char *colour = line_colours[k % (sizeof(line_colours) / sizeof(line_colours[0]))];

		fprintf(out, "<polyline class=\"series\" data-program=\"");
		html(out, s->program);
		fprintf(out, "\" data-name=\"");
		html(out, s->name);
		fprintf(out, "\" data-metric=\"%s\" stroke=\"%s\" data-times=\"", metric, colour);
		for (i = 0; i < s->count; i++)
			fprintf(out, "%s%.3f", i ? " " : "", s->samples[i].time);
		fputs("\" data-values=\"", out);
		for (i = 0; i < s->count; i++)
			fprintf(out, "%s%.3f", i ? " " : "", value(s, i));
		fputs("\" points=\"", out);
		for (i = 0; i < s->count; i++)
			fprintf(out, "%s%.1f,%.1f", i ? " " : "", x_of(s->samples[i].time, first, last),
			    TOP + plot - value(s, i) / top * plot);
		fputs("\"><title>", out);
		series_label(out, s);
		fputs("</title></polyline>\n", out);
	}
	time_axis(out, first, last, TOP + plot);
	fputs("</svg>\n<p class=\"legend\">", out);
	for (k = 0; k < series_count; k++) {
		fprintf(out, "<span style=\"color:%s\">&#9632;</span> ",
		    line_colours[k % (sizeof(line_colours) / sizeof(line_colours[0]))]);
		series_label(out, &series[k]);
		fputs(" &nbsp; ", out);
	}
	fputs("</p>\n", out);
}

static void
counts_table(FILE *out)
{
	size_t k, i;

	fputs("<table id=\"counts\">\n<tr><th>program</th><th>phase at the end</th><th>seconds</th>"
	    "<th>entries read</th><th>bytes read</th><th>entries applied</th><th>bytes applied</th>"
	    "<th>batches</th><th>errors</th><th>retries</th><th>peak lag (s)</th>"
	    "<th>checkpoint</th></tr>\n", out);
	for (k = 0; k < series_count; k++) {
		const struct series *s = &series[k];
		const struct sample *end = &s->samples[s->count - 1];
		double peak = 0;

		for (i = 0; i < s->count; i++)
			peak = fmax(peak, s->samples[i].lag);
		fputs("<tr class=\"program\" data-program=\"", out);
		html(out, s->program);
		fputs("\"><td>", out);
		series_label(out, s);
		fputs("</td><td>", out);
		html(out, end->phase);
		fprintf(out, "</td><td>%.0f</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
		    "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
		    "</td><td>%.1f</td><td>%" PRIu32 ",%" PRIu32 "</td></tr>\n",
		    end->time - s->samples[0].time, end->entries_read, end->bytes_read,
		    end->entries_applied, end->bytes_applied, end->batches, end->errors, end->retries,
		    peak, end->checkpoint_t, end->checkpoint_i);
	}
	fputs("</table>\n", out);
}

static void
write_report(FILE *out, const struct cutover *cutover)
{
	double first, last;
	char a[64], b[64];

	time_range(&first, &last);
	utc_text(first, a, sizeof(a));
	utc_text(last, b, sizeof(b));
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", out);
	html(out, opt.title);
	fputs("</title>\n<style>\n"
	    "body { font: 14px sans-serif; margin: 2em; color: #222; }\n"
	    "h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 1.5em; }\n"
	    "svg text { font: 11px sans-serif; fill: #444; }\n"
	    "polyline { fill: none; stroke-width: 1.5; }\n"
	    ".axis { stroke: #888; } .window { fill: #e15759; opacity: 0.25; }\n"
	    "table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }\n"
	    "td:first-child, th:first-child { text-align: left; }\n"
	    "</style>\n</head>\n<body>\n<h1>", out);
	html(out, opt.title);
	fprintf(out, "</h1>\n<p id=\"summary\">From %s to %s (%.0f s), %zu program%s.", a, b,
	    last - first, series_count, series_count == 1 ? "" : "s");
	if (cutover->found) {
		fputs(" Cutover: ", out);
		html(out, cutover->result[0] != '\0' ? cutover->result : "reported");
		if (cutover->window_ms >= 0)
			fprintf(out, "; writes unavailable for <strong id=\"window\" data-ms=\"%ld\">%ld ms</strong>",
			    cutover->window_ms, cutover->window_ms);
		if (cutover->switch_ts[0] != '\0') {
			fputs("; switch ts ", out);
			html(out, cutover->switch_ts);
		}
		fputs(".", out);
	}
	fputs("</p>\n<h2>Phases</h2>\n", out);
	phase_chart(out, cutover, first, last);
	fputs("<h2>Lag: the age of the oldest change not yet passed on</h2>\n", out);
	line_chart(out, "lag", "lag_seconds", "s", lag_of, cutover, first, last);
	fputs("<h2>Throughput: entries per second (oplog-apply: applied; others: read)</h2>\n", out);
	line_chart(out, "throughput", "entries_per_second", "/s", rate_of, cutover, first, last);
	fputs("<h2>Counts</h2>\n", out);
	counts_table(out);
	fputs("</body>\n</html>\n", out);
}
