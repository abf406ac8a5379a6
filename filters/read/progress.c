/*
 * progress.c - what oplog-read says about itself: the --progress line on
 * stderr and the --metrics sample.
 *
 * Lag has one meaning in oplogkit (metrics.h): the age of the oldest
 * source change not yet passed on, 0 when caught up, also when the source
 * is idle. The reader has passed on what it has written, so its lag is 0
 * when its last batch held all the source had (it has read up to the
 * newest entry), else the age of the oldest entry after the last one
 * written. Which entry that is, only the source knows: it is asked (one
 * entry, its ts only) while behind, at most once a second, and only when
 * --progress or --metrics shows the answer.
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

#define LAG_ASK_S 1.0		/* ask the source for the oldest unread entry this often */

/* The ts of the oplog's first entry after ts in *next (zero: none); false when the server failed. */
static bool
oplog_next(mongoc_client_t *client, timestamp_t ts, timestamp_t *next)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t *filter = BCON_NEW("ts", "{", "$gt", BCON_TIMESTAMP(ts.t, ts.i), "}");
	/* No sort: natural order is oplog order, and a find stops after one entry. */
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, filter, opts, NULL);
	const bson_t *doc;
	bool ok = true;

	*next = (timestamp_t){ 0, 0 };
	if (mongoc_cursor_next(cursor, &doc))
		*next = entry_ts(doc);
	else
		ok = !mongoc_cursor_error(cursor, NULL);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(oplog);
	return ok;
}

/*
 * The oldest entry not yet read, zero when caught up. Between questions
 * the last answer stands (at most a second old). A failed question
 * leaves the last answer, or, when that said caught up, the last entry
 * written: a lag too large rather than a caught-up that is not true. The
 * tail itself deals with a failing server.
 */
static timestamp_t
lag_oldest_unread(struct session *s)
{
	const struct read_config *config = s->config;
	timestamp_t next;

	if (!s->behind)
		return (timestamp_t){ 0, 0 };
	if (config->metrics == NULL && config->metrics_log == NULL && !config->progress)
		return s->last;	/* shown to no one */
	if (s->lag_measured.tv_sec != 0 && clock_seconds_since(&s->lag_measured) < LAG_ASK_S)
		return s->lag_oldest;
	if (oplog_next(s->client, s->last, &next))
		s->lag_oldest = next;
	else if (s->lag_oldest.t == 0 && s->lag_oldest.i == 0)
		s->lag_oldest = s->last;
	clock_gettime(CLOCK_MONOTONIC, &s->lag_measured);
	return s->lag_oldest;
}

static void
metrics_note(const struct session *s, timestamp_t oldest_unread)
{
	struct metrics_sample sample;

	memset(&sample, 0, sizeof(sample));
	sample.entries_read = s->written;
	sample.bytes_read = s->bytes;
	sample.batches = s->batches;
	sample.errors = s->lost_cursors;
	sample.caught_up = oldest_unread.t == 0 && oldest_unread.i == 0;
	sample.oldest_pending = oldest_unread;
	sample.checkpoint = s->last;
	sample.phase = "reading";
	metrics_update(&sample);
}

void
progress_report(struct session *s, bool force)
{
	double elapsed = clock_seconds_since(&s->reported);
	bool due = s->config->progress && (force || elapsed >= 1.0);
	timestamp_t oldest_unread;
	struct metrics_sample lag;
	char last[32];

	if (!due && s->config->metrics == NULL && s->config->metrics_log == NULL)
		return;
	oldest_unread = lag_oldest_unread(s);
	metrics_note(s, oldest_unread);
	if (!due)
		return;
	memset(&lag, 0, sizeof(lag));
	lag.caught_up = oldest_unread.t == 0 && oldest_unread.i == 0;
	lag.oldest_pending = oldest_unread;
	fprintf(stderr, "%s: %" PRIu64 " entries, %.1f MB, %.0f entries/s, lag %.0fs, last %s\n",
	    die_progname(), s->written, (double)s->bytes / 1e6,
	    elapsed > 0 ? (double)(s->written - s->reported_written) / elapsed : 0.0,
	    metrics_lag_seconds(&lag, (double)time(NULL)), ts_format(s->last, last, sizeof(last)));
	clock_gettime(CLOCK_MONOTONIC, &s->reported);
	s->reported_written = s->written;
}
