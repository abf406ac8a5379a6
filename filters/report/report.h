/*
 * report.h - migrate-report's parts: the --metrics-log files and
 * entry-switch's report read into series (read.c), the SVG charts
 * (charts.c), the page around them and the engine (page.c).
 * filters/migrate-report.c is the command line.
 *
 * The engine's state is one struct report, passed to every function: the
 * configuration (read only), the series read and the cutover.
 */
#ifndef OPLOGKIT_REPORT_H
#define OPLOGKIT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_SERIES 32

/* What the command line asks for. */
struct report_config {
	const char *output;	/* NULL: stdout */
	const char *switch_report;	/* entry-switch's report, or NULL */
	const char *title;
};

/* One line of a --metrics-log. */
struct sample {
	double time, lag;
	uint64_t entries_read, bytes_read, entries_applied, bytes_applied;
	uint64_t batches, errors, retries;
	uint32_t checkpoint_t, checkpoint_i;
	char phase[32];
};

/* The samples of one program (and --name), sorted by time. */
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

/* The engine's state. */
struct report {
	const struct report_config *config;
	struct series series[MAX_SERIES];
	size_t series_count;
	struct cutover cutover;
};

/*
 * page.c: the whole program past its command line: the logs (stdin when
 * count is 0) and --switch-report read, the page written to
 * config->output. Returns die.h's exit status; bad input exits on the spot.
 */
int report_run(const struct report_config *config, char *const logs[], int count);

/* read.c */

/* One --metrics-log (NULL: stdin) into x's series; exits 3 on a line that is not a sample. */
void read_log(struct report *x, const char *path);

/* entry-switch's report at path into cutover; exits 2 when it is not one. */
void read_cutover(const char *path, struct cutover *cutover);

/* charts.c */

/* text with &, <, >, " and ' escaped, for HTML text and attributes alike. */
void html(FILE *out, const char *text);

/* seconds as "2026-12-01 22:30:14 UTC". */
void utc_text(double seconds, char *out, size_t size);

/* The time range of every series together (one instant: a second wide). */
void time_range(const struct report *x, double *first, double *last);

/* Each program's phases over time as bars, with their legend. */
void phase_chart(FILE *out, const struct report *x, double first, double last);

/* The lag of each program over time. */
void lag_chart(FILE *out, const struct report *x, double first, double last);

/* The entries per second of each program over time. */
void throughput_chart(FILE *out, const struct report *x, double first, double last);

/* A series' program and name, escaped. */
void series_label(FILE *out, const struct series *s);

#endif
