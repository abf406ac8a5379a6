/*
 * charts.c - migrate-report's drawings: inline SVG, one chart of each
 * program's phases over time and line charts of its lag and throughput,
 * the write-unavailable window shaded across each. Every drawn series
 * also carries its numbers (data-times, data-values), so a test can
 * check the drawing against the log without a browser.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"

#define CHART_WIDTH 900
#define CHART_HEIGHT 180
#define ROW_HEIGHT 22
#define LEFT 170		/* room for the series' names */
#define RIGHT 20
#define TOP 10
#define BOTTOM 30

void
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

void
utc_text(double seconds, char *out, size_t size)
{
	time_t whole = (time_t)seconds;
	struct tm tm;

	gmtime_r(&whole, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void
time_range(const struct report *x, double *first, double *last)
{
	const struct series *series = x->series;
	size_t k;

	*first = INFINITY;
	*last = -INFINITY;
	for (k = 0; k < x->series_count; k++) {
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

void
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
phase_legend(FILE *out, const struct report *x)
{
	const struct series *series = x->series;
	const char *seen[64];
	size_t count = 0, k, i, j;

	fputs("<p class=\"legend\">", out);
	for (k = 0; k < x->series_count; k++)
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
	if (x->config->switch_report != NULL)
		fputs("<span style=\"color:#e15759;opacity:0.4\">&#9632;</span> writes unavailable", out);
	fputs("</p>\n", out);
}

void
phase_chart(FILE *out, const struct report *x, double first, double last)
{
	int height = (int)x->series_count * ROW_HEIGHT;
	size_t k, i, start;

	fprintf(out, "<svg class=\"chart\" id=\"phases\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"phases over time\">\n", CHART_WIDTH, height + TOP + BOTTOM,
	    CHART_WIDTH, height + TOP + BOTTOM);
	window_band(out, &x->cutover, first, last, height);
	for (k = 0; k < x->series_count; k++) {
		const struct series *s = &x->series[k];
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
	phase_legend(out, x);
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
line_chart(FILE *out, const struct report *x, const char *id, const char *metric,
    const char *unit, value_of *value, double first, double last)
{
	const struct series *series = x->series;
	int plot = CHART_HEIGHT - TOP - BOTTOM;
	double top = 0;
	size_t k, i;

	for (k = 0; k < x->series_count; k++)
		for (i = 0; i < series[k].count; i++)
			top = fmax(top, value(&series[k], i));
	if (top <= 0)
		top = 1;	/* all zero: a flat line at the bottom */
	fprintf(out, "<svg class=\"chart\" id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"%s over time\" data-max=\"%.3f\">\n", id, CHART_WIDTH,
	    CHART_HEIGHT, CHART_WIDTH, CHART_HEIGHT, metric, top);
	window_band(out, &x->cutover, first, last, plot);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f %s</text>\n", LEFT - 6, TOP + 10,
	    top, unit);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", LEFT - 6, TOP + plot);
	for (k = 0; k < x->series_count; k++) {
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
	for (k = 0; k < x->series_count; k++) {
		fprintf(out, "<span style=\"color:%s\">&#9632;</span> ",
		    line_colours[k % (sizeof(line_colours) / sizeof(line_colours[0]))]);
		series_label(out, &series[k]);
		fputs(" &nbsp; ", out);
	}
	fputs("</p>\n", out);
}

void
lag_chart(FILE *out, const struct report *x, double first, double last)
{
	line_chart(out, x, "lag", "lag_seconds", "s", lag_of, first, last);
}

void
throughput_chart(FILE *out, const struct report *x, double first, double last)
{
	line_chart(out, x, "throughput", "entries_per_second", "/s", rate_of, first, last);
}
