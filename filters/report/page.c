/*
 * page.c - migrate-report's engine and its page: the logs read, then one
 * self-contained HTML file (inline SVG and CSS, no script, nothing
 * fetched, so it can be attached to a change ticket and opened
 * anywhere): the summary with the cutover, the charts, the counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "report.h"

/* Each program's last counts, its peak lag and its checkpoint. */
static void
counts_table(FILE *out, const struct report *x)
{
	size_t k, i;

	fputs("<table id=\"counts\">\n<tr><th>program</th><th>phase at the end</th><th>seconds</th>"
	    "<th>entries read</th><th>bytes read</th><th>entries applied</th><th>bytes applied</th>"
	    "<th>batches</th><th>errors</th><th>retries</th><th>peak lag (s)</th>"
	    "<th>checkpoint</th></tr>\n", out);
	for (k = 0; k < x->series_count; k++) {
		const struct series *s = &x->series[k];
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
write_report(FILE *out, const struct report *x)
{
	const struct cutover *cutover = &x->cutover;
	double first, last;
	char a[64], b[64];

	time_range(x, &first, &last);
	utc_text(first, a, sizeof(a));
	utc_text(last, b, sizeof(b));
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", out);
	html(out, x->config->title);
	fputs("</title>\n<style>\n"
	    "body { font: 14px sans-serif; margin: 2em; color: #222; }\n"
	    "h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 1.5em; }\n"
	    "svg text { font: 11px sans-serif; fill: #444; }\n"
	    "polyline { fill: none; stroke-width: 1.5; }\n"
	    ".axis { stroke: #888; } .window { fill: #e15759; opacity: 0.25; }\n"
	    "table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }\n"
	    "td:first-child, th:first-child { text-align: left; }\n"
	    "</style>\n</head>\n<body>\n<h1>", out);
	html(out, x->config->title);
	fprintf(out, "</h1>\n<p id=\"summary\">From %s to %s (%.0f s), %zu program%s.", a, b,
	    last - first, x->series_count, x->series_count == 1 ? "" : "s");
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
	phase_chart(out, x, first, last);
	fputs("<h2>Lag: the age of the oldest change not yet passed on</h2>\n", out);
	lag_chart(out, x, first, last);
	fputs("<h2>Throughput: entries per second (oplog-apply: applied; others: read)</h2>\n", out);
	throughput_chart(out, x, first, last);
	fputs("<h2>Counts</h2>\n", out);
	counts_table(out, x);
	fputs("</body>\n</html>\n", out);
}

int
report_run(const struct report_config *config, char *const logs[], int count)
{
	struct report x = { .config = config, .cutover = { .window_ms = -1 } };
	const char *output = config->output;
	FILE *out = stdout;
	size_t k;
	int index;

	if (count == 0)
		read_log(&x, NULL);
	for (index = 0; index < count; index++)
		read_log(&x, logs[index]);
	if (x.series_count == 0)
		die(EXIT_BAD_STREAM, "no samples: give the files that --metrics-log wrote");
	if (config->switch_report != NULL)
		read_cutover(config->switch_report, &x.cutover);
	if (output != NULL && (out = fopen(output, "w")) == NULL)
		die(EXIT_USAGE, "%s: %s", output, strerror(errno));
	write_report(out, &x);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		die(EXIT_DIFFERENT, "%s: write failed", output != NULL ? output : "stdout");
	for (k = 0; k < x.series_count; k++)
		free(x.series[k].samples);
	return EXIT_DONE;
}
