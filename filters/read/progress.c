/*
 * progress.c - what oplog-read says about itself: the --progress line on
 * stderr and the --metrics sample.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "die.h"
#include "entry.h"
#include "metrics.h"
#include "read.h"

/* --metrics: the reader's lag is the age of the entry after the last one
 * written when the last batch was full, 0 when it was not (caught up). */
static void
metrics_note(const struct session *s)
{
	struct metrics_sample sample;

	memset(&sample, 0, sizeof(sample));
	sample.entries_read = s->written;
	sample.bytes_read = s->bytes;
	sample.batches = s->batches;
	sample.errors = s->lost_cursors;
	sample.caught_up = !s->behind;
	sample.oldest_pending = s->last;
	sample.checkpoint = s->last;
	sample.phase = "reading";
	metrics_update(&sample);
}

void
progress_report(struct session *s, bool force)
{
	double elapsed = clock_seconds_since(&s->reported);
	char last[32];
	long lag;

	metrics_note(s);
	if (!s->config->progress || (!force && elapsed < 1.0))
		return;
	lag = s->last.t == 0 ? 0 : (long)time(NULL) - (long)s->last.t;
	fprintf(stderr, "%s: %" PRIu64 " entries, %.1f MB, %.0f entries/s, lag %lds, last %s\n",
	    die_progname(), s->written, (double)s->bytes / 1e6,
	    elapsed > 0 ? (double)(s->written - s->reported_written) / elapsed : 0.0,
	    lag < 0 ? 0 : lag, ts_format(s->last, last, sizeof(last)));
	clock_gettime(CLOCK_MONOTONIC, &s->reported);
	s->reported_written = s->written;
}
