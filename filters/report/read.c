/*
 * read.c - migrate-report's input: each --metrics-log line (one JSON
 * sample) into the series of its program, sorted by time, and
 * entry-switch's report into the cutover. A line that is not a sample
 * is an error naming the file and line, not a gap in the drawing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>

#include "die.h"
#include "report.h"

static struct series *
series_for(struct report *x, const char *program, const char *name)
{
	struct series *series = x->series;
	size_t k;

	for (k = 0; k < x->series_count; k++)
		if (strcmp(series[k].program, program) == 0 && strcmp(series[k].name, name) == 0)
			return &series[k];
	if (x->series_count == MAX_SERIES)
		die(EXIT_BAD_STREAM, "more than %d programs in the logs", MAX_SERIES);
	snprintf(series[x->series_count].program, sizeof(series[0].program), "%s", program);
	snprintf(series[x->series_count].name, sizeof(series[0].name), "%s", name);
	return &series[x->series_count++];
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
add_sample(struct report *x, const bson_t *doc)
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
	s = series_for(x, field_text(doc, "program"), field_text(doc, "name"));
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

void
read_log(struct report *x, const char *path)
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
		if (!add_sample(x, doc))
			die(EXIT_BAD_STREAM, "%s: line %" PRIu64 ": not a --metrics-log sample "
			    "(no time or program)", name, number);
		bson_destroy(doc);
	}
	if (ferror(file))
		die(EXIT_USAGE, "%s: %s", name, strerror(errno));
	free(line);
	if (file != stdin)
		fclose(file);
	for (k = 0; k < x->series_count; k++)
		qsort(x->series[k].samples, x->series[k].count, sizeof(struct sample), by_time);
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

void
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
