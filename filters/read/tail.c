/*
 * tail.c - tailing the source's oplog into the stream.
 *
 * Cursors are driven with explicit find/getMore commands so that batch
 * boundaries (where we flush) and batch sizes are ours. On a server that
 * waits for data (mongod) the cursor is a tailable awaitData one whose
 * find asks for one entry only. On FerretDB we poll with fresh finds
 * instead, each reading again from a short window before the newest
 * entry, because there an entry can become visible after one with a
 * later ts (see struct recent). A cursor the server closes (restart,
 * capped deletion) is reopened after the newest entry written, so nothing
 * is read twice and nothing is skipped; each reopening checks that the
 * oplog still reaches back to that entry (else exit 5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "reach.h"
#include "read.h"
#include "stream.h"

#define FIRST_BATCH 1		/* see the top: FerretDB needs a full first batch */
#define NEXT_BATCH 1000
#define AWAIT_MS 1000		/* a getMore waits this long: also our stop latency */
#define IDLE_FIRST_MS 50	/* polling: first pause when idle, doubling to --poll */

enum cursor_end {
	CURSOR_CLOSED,		/* the server closed it, or we are done */
	CURSOR_FIND_FAILED,	/* the find failed: error set */
	CURSOR_MORE_FAILED,	/* a getMore failed: error set */
};

/* A cursor of ours: its id and the server it lives on. */
struct cursor {
	int64_t id;
	uint32_t server_id;
	uint64_t entries;	/* entries it delivered */
};

/* Where a poll starts reading: the late window before the newest entry. */
static timestamp_t
poll_from(const struct session *s)
{
	timestamp_t from = { 0, 0 };

	if (s->await || (s->last.t == 0 && s->last.i == 0))
		return s->last;
	from.t = s->last.t > OPLOG_LATE_WINDOW_S ? s->last.t - OPLOG_LATE_WINDOW_S : 0;
	return from;
}

/* Write one entry; false when --until says it is past the end. */
static bool
entry_write(struct session *s, const uint8_t *data, uint32_t length)
{
	char a[32], b[32];
	bson_t entry;
	timestamp_t ts;

	if (!bson_init_static(&entry, data, length))
		die(EXIT_SERVER, "%s: sent an oplog entry that is not BSON", conn_masked(s->client));
	ts = entry_ts(&entry);
	if (s->config->has_until && ts_compare(ts, s->config->until) > 0)
		return false;
	/* The late window reaches before the start; and what it read again is written already. */
	if (!s->await && (ts_compare(ts, s->start) <= 0 || !recent_add(&s->recent, ts)))
		return true;
	if (s->check_txns)
		txn_link_check(s, &entry);
	if (!stream_write_raw(s->out, data, length))
		exit(EXIT_LOCAL);
	s->total++;
	s->written++;
	s->bytes += length;
	if (ts_compare(ts, s->last) > 0) {
		s->last = ts;
	} else if (!s->warned_order) {
		/* Caught by the late window; said once, as it is the server's doing. */
		warnmsg("entry %s arrived after %s: the server logged writes out of order; "
		    "it is in the stream, after the later one", ts_format(ts, a, sizeof(a)),
		    ts_format(s->last, b, sizeof(b)));
		s->warned_order = true;
	}
	if ((s->config->has_until && ts_compare(ts, s->config->until) == 0) ||
	    (s->config->has_count && s->written >= s->config->count))
		s->done = true;
	return true;
}

/* Write a batch (an array of entries) and flush it. */
static void
batch_write(struct session *s, struct cursor *cursor, const bson_t *reply, const char *field)
{
	bson_iter_t iter, batch;
	uint64_t before = s->written;
	uint32_t in_batch = 0;
	char path[64];

	snprintf(path, sizeof(path), "cursor.%s", field);
	if (!bson_iter_init(&iter, reply) || !bson_iter_find_descendant(&iter, path, &batch) ||
	    !BSON_ITER_HOLDS_ARRAY(&batch) || !bson_iter_recurse(&batch, &iter))
		die(EXIT_SERVER, "%s: a cursor reply without %s", conn_masked(s->client), path);
	s->behind = false;
	while (!s->done && bson_iter_next(&iter)) {
		const uint8_t *data;
		uint32_t length;

		if (++in_batch >= NEXT_BATCH)
			s->behind = true;	/* a full batch: more is waiting */
		if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
			die(EXIT_SERVER, "%s: a cursor batch holds a non-document", conn_masked(s->client));
		bson_iter_document(&iter, &length, &data);
		if (!entry_write(s, data, length))
			s->done = true;
	}
	if (s->done)
		s->behind = true;	/* stopped by --count or --until: whether more waits, the source says */
	cursor->entries += s->written - before;
	s->batches++;
	if (s->written > before && !stream_flush(s->out))
		exit(EXIT_LOCAL);
}

static int64_t
reply_cursor_id(const bson_t *reply)
{
	bson_iter_t iter, id;

	if (bson_iter_init(&iter, reply) && bson_iter_find_descendant(&iter, "cursor.id", &id) &&
	    BSON_ITER_HOLDS_INT(&id))
		return bson_iter_as_int64(&id);
	return 0;
}

static bool
cursor_find(struct session *s, struct cursor *cursor, bson_error_t *error)
{
	mongoc_server_description_t *server;
	timestamp_t from;
	bson_t *command;
	bson_t reply;
	bool ok;

	server = mongoc_client_select_server(s->client, false, mongoc_client_get_read_prefs(s->client), error);
	if (server == NULL)
		return false;
	cursor->server_id = mongoc_server_description_id(server);
	mongoc_server_description_destroy(server);
	from = poll_from(s);
	command = BCON_NEW("find", BCON_UTF8("oplog.rs"),
	    "filter", "{", "ts", "{", "$gt", BCON_TIMESTAMP(from.t, from.i), "}", "}");
	/*
	 * Polling reads each time anew: a tailable cursor on FerretDB resumes
	 * after the last record it returned and so would never see a late one.
	 */
	if (s->await) {
		BSON_APPEND_BOOL(command, "tailable", true);
		BSON_APPEND_BOOL(command, "awaitData", true);
	}
	BSON_APPEND_INT32(command, "batchSize", s->await ? FIRST_BATCH : NEXT_BATCH);
	ok = mongoc_client_command_simple_with_server_id(s->client, "local", command, NULL,
	    cursor->server_id, &reply, error);
	bson_destroy(command);
	if (ok && (ok = source_history_check(s, error))) {
		cursor->id = reply_cursor_id(&reply);
		batch_write(s, cursor, &reply, "firstBatch");
	}
	bson_destroy(&reply);
	return ok;
}

static bool
cursor_more(struct session *s, struct cursor *cursor, bson_error_t *error)
{
	bson_t *command;
	bson_t reply;
	bool ok;

	command = BCON_NEW("getMore", BCON_INT64(cursor->id), "collection", BCON_UTF8("oplog.rs"),
	    "batchSize", BCON_INT32(NEXT_BATCH));
	if (s->await)
		BSON_APPEND_INT32(command, "maxTimeMS", AWAIT_MS);
	ok = mongoc_client_command_simple_with_server_id(s->client, "local", command, NULL,
	    cursor->server_id, &reply, error);
	bson_destroy(command);
	if (ok) {
		cursor->id = reply_cursor_id(&reply);
		batch_write(s, cursor, &reply, "nextBatch");
	}
	bson_destroy(&reply);
	return ok;
}

/* Best effort: a cursor we leave open would live on in the server. */
static void
cursor_kill(struct session *s, struct cursor *cursor)
{
	bson_t *command;
	bson_error_t error;

	if (cursor->id == 0)
		return;
	command = BCON_NEW("killCursors", BCON_UTF8("oplog.rs"), "cursors", "[", BCON_INT64(cursor->id), "]");
	(void)mongoc_client_command_simple_with_server_id(s->client, "local", command, NULL,
	    cursor->server_id, NULL, &error);
	bson_destroy(command);
	cursor->id = 0;
}

/* Nothing new: pause before asking again, longer the longer it stays idle. */
static void
idle_pause(struct session *s)
{
	clock_sleep_ms(s->idle_ms);
	s->idle_ms = s->idle_ms * 2 > s->config->poll_ms ? s->config->poll_ms : s->idle_ms * 2;
	progress_report(s, false);
}

/* Whether --until lies in the past of an idle oplog (see the man page). */
static bool
until_passed(const struct session *s)
{
	return s->config->has_until && (ts_compare(s->last, s->config->until) >= 0 ||
	    (long)time(NULL) > (long)s->config->until.t + 2);
}

/* Open a cursor after s->last and read it until it closes, fails or we are done. */
static enum cursor_end
cursor_run(struct session *s, struct cursor *cursor, retry_policy *policy, bson_error_t *error)
{
	memset(cursor, 0, sizeof(*cursor));
	if (!cursor_find(s, cursor, error))
		return CURSOR_FIND_FAILED;
	retry_init(policy, s->config->retry_for_ms);
	progress_report(s, false);
	while (cursor->id != 0 && !s->done && !cli_stop) {
		uint64_t before = s->written;

		if (!cursor_more(s, cursor, error))
			return CURSOR_MORE_FAILED;
		retry_init(policy, s->config->retry_for_ms);
		if (s->written > before) {
			s->idle_ms = IDLE_FIRST_MS;
		} else if (until_passed(s)) {
			s->done = true;
		} else if (!s->await && cursor->id != 0) {
			idle_pause(s);
		}
		progress_report(s, false);
	}
	return CURSOR_CLOSED;
}

/* Exit 4: the spool is left whole (zstd frame closed, no trailer) for --resume. */
static void
give_up(struct session *s, const bson_error_t *error, long waited_ms)
{
	char last[32], failure[512], waited[32];

	stream_finish(s->out);
	conn_describe(error, s->client, failure, sizeof(failure));
	reach_duration(waited_ms, waited, sizeof(waited));
	die(EXIT_SERVER, "%s; gave up after %s; %s ends at entry %s, resume after it",
	    failure, waited, s->out_name, ts_format(s->last, last, sizeof(last)));
}

void
tail(struct session *s)
{
	retry_policy policy;
	struct cursor cursor = { 0, 0, 0 };
	bson_error_t error;
	int lost_cursors = 0;

	s->idle_ms = IDLE_FIRST_MS;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->reported = s->started;
	retry_init(&policy, s->config->retry_for_ms);
	/* Not until_passed: its clock test is for an idle oplog, and the
	 * entries up to a --until in the past are still to be read. */
	s->done = (s->config->has_count && s->config->count == 0) ||
	    (s->config->has_until && ts_compare(s->last, s->config->until) >= 0);
	while (!s->done && !cli_stop) {
		struct timespec polled;
		enum cursor_end end;

		clock_gettime(CLOCK_MONOTONIC, &polled);
		end = cursor_run(s, &cursor, &policy, &error);

		if (end == CURSOR_CLOSED) {
			lost_cursors = 0;
			if (cursor.entries > 0 && !s->await) {
				long took = (long)(clock_seconds_since(&polled) * 1000);

				s->idle_ms = IDLE_FIRST_MS;
				clock_sleep_ms(took < s->config->poll_ms ? took : s->config->poll_ms);
			} else if (cursor.entries > 0)
				s->idle_ms = IDLE_FIRST_MS;
			else if (!s->done && !cli_stop) {
				if (until_passed(s))
					break;
				idle_pause(s);
			}
			continue;
		}
		if (cli_stop)
			break;	/* the signal interrupted the call */
		if (conn_error_transient(&error)) {
			if (!retry_again(&policy, &error))
				give_up(s, &error, policy.waited_ms);
			continue;
		}
		/* The server dropped a cursor that was open (killed, capped deletion):
		 * reopen after the last entry; history_check says if a gap opened. */
		if (end == CURSOR_MORE_FAILED && ++lost_cursors <= 3) {
			s->lost_cursors++;
			warnmsg("%s: cursor lost (%s): reopening it after the last entry",
			    conn_masked(s->client), error.message);
			continue;
		}
		give_up(s, &error, 0);
	}
	cursor_kill(s, &cursor);
}
