/*
 * metrics.h - --metrics FILE: what a long-running program is doing, in
 * Prometheus text format, for node_exporter's textfile collector (or
 * anything that reads a file).
 *
 * The file is rewritten whole once a second by a thread of its own (so a
 * program blocked on a server still updates it), as a temp file in the
 * same directory renamed over FILE: a reader sees the old file or the new
 * one, never half of one. The temp name does not end in .prom, so the
 * collector never reads it.
 *
 * One meaning of lag everywhere: the age of the oldest source change this
 * program has not yet passed on (oplog-read: read; oplog-apply: applied;
 * sync-check --watch and entry-switch: applied by the applier whose
 * checkpoint they read), in seconds of the source's clock against ours,
 * and how many entries that is; 0 when caught up, also when the source is
 * idle.
 */
#ifndef OPLOGKIT_METRICS_H
#define OPLOGKIT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "entry.h"

/*
 * One number of a program's own beyond the common ones: sync-check's
 * rechecks, entry-proxy's connections, entry-switch's window. metric is
 * the full name (oplogkit_..., a literal); the log line's key is the name
 * without "oplogkit_".
 */
struct metrics_extra {
	const char *metric, *type, *help;	/* type: "counter" or "gauge" */
	double value;
};

#define METRICS_EXTRA_MAX 10

/* What the program says about itself; metrics_update copies it. */
struct metrics_sample {
	uint64_t entries_read, bytes_read;
	uint64_t entries_applied, bytes_applied;
	uint64_t batches;
	uint64_t errors;	/* failures the program counted (not retries) */
	bool caught_up;		/* nothing read or pending that is not passed on */
	timestamp_t oldest_pending;	/* when not caught up: the oldest change not passed on */
	uint64_t pending_entries;	/* when not caught up: how many */
	bool pending_known;	/* false: pending_entries unknown, its line left out */
	timestamp_t checkpoint;	/* the last ts passed on (read, or applied and checkpointed) */
	const char *phase;	/* a short word: "connecting", "reading", "applying", ... */
	/*
	 * snap-export, snap-import: documents copied and their bytes, against
	 * the source's estimate when one is known (else no total is shown, not
	 * a made-up one). Left zero (snapshot false) by the oplog programs,
	 * whose file and log lines stay as they were.
	 */
	bool snapshot;
	uint64_t documents_done, document_bytes_done;
	bool documents_total_known, document_bytes_total_known;
	uint64_t documents_total, document_bytes_total;
	/*
	 * A program that moves no oplog entries (sync-check, entry-proxy,
	 * entry-switch) leaves out the entry, byte and batch counters
	 * (no_stream), and one that measures no lag its lag and checkpoint
	 * (no_lag), rather than show zeros that mean nothing. Then its own.
	 */
	bool no_stream, no_lag;
	size_t extra_count;
	struct metrics_extra extra[METRICS_EXTRA_MAX];
};

/* Add one of the program's own numbers to sample (at most METRICS_EXTRA_MAX). */
void metrics_extra_add(struct metrics_sample *sample, const char *metric, const char *type,
    const char *help, double value);

/*
 * Start writing path (--metrics) and appending to log_path
 * (--metrics-log); either may be NULL, and with both NULL metrics stay
 * off and every call below does nothing. Labelled with the program's
 * name and name (the checkpoint or stream name; NULL for none). Writes
 * each once before it returns: exits EXIT_USAGE if it cannot.
 *
 * The log gets one JSON line per second (and one at the end), the
 * timeline migrate-report draws: {"time": UNIX_SECONDS, "program",
 * "name", "phase", "entries_read", "bytes_read", "entries_applied",
 * "bytes_applied", "batches", "errors", "retries", "lag_seconds",
 * "lag_entries" (null: unknown), "checkpoint": {"t", "i"}}. Each line is
 * one write to a file opened O_APPEND, so several programs may share one.
 */
void metrics_start(const char *path, const char *log_path, const char *name);

/* The program's numbers now; the next write (within a second) shows them. */
void metrics_update(const struct metrics_sample *sample);

/* One more retry of a failed server call (conn.c counts them). */
void metrics_count_retry(void);

/*
 * Write the file a last time with phase, and stop the thread. At exit
 * without it (die, a signal's exit) the file says phase "exited".
 */
void metrics_stop(const char *phase);

/* The lag in seconds of sample at now (Unix seconds); see the top. */
double metrics_lag_seconds(const struct metrics_sample *sample, double now);

/*
 * Format sample as the file's text into out (size bytes), for now (Unix
 * seconds) and retries; the number of bytes it needs, as snprintf.
 * Exposed for the unit test.
 */
int metrics_format(char *out, size_t size, const char *program, const char *name,
    const struct metrics_sample *sample, uint64_t retries, double now);

/* The same sample as one line of the log (newline included); as snprintf. */
int metrics_format_line(char *out, size_t size, const char *program, const char *name,
    const struct metrics_sample *sample, uint64_t retries, double now);

#endif
