/*
 * read.h - oplog-read's engine: the start point and the source's oplog
 * (source.c), resuming a spool (resume.c), the late window of a polling
 * reader (recent.c), the transactions open at the start (txn.c), tailing
 * and writing (tail.c), --progress and --metrics (progress.c), and the run
 * that puts them in order (run.c). filters/oplog-read.c is the command line.
 *
 * The engine's state is one struct session, passed to every function: the
 * configuration the command line filled (read only) and where the reading
 * stands. One thread; no file-scope state.
 */
#ifndef OPLOGKIT_READ_H
#define OPLOGKIT_READ_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "conn.h"
#include "entry.h"
#include "options.h"
#include "stream.h"

#define DEFAULT_POLL_MS 1000
#define DEFAULT_RETRY_FOR_MS (5 * 60 * 1000)
#define NOW_RETRY_FOR_MS 10000	/* --now answers a script at once or fails */

/* What the command line asks for. */
struct read_config {
	const char *output;	/* NULL: stdout */
	const char *resume;	/* --resume FILE, or NULL */
	struct conn_options conn;	/* --uri, --uri-file, --tls-ca-file */
	const char *metrics, *metrics_log;
	timestamp_t since, until;
	bool has_since, has_until, has_count, now, progress, has_retry_for;
	uint64_t count;
	int zstd_level;		/* -1: not given */
	long retry_for_ms, poll_ms;
};

/* What the spool given to --resume holds, once repaired. */
struct spool {
	timestamp_t last;	/* newest ts of its entries (header: t0) */
	timestamp_t t0;		/* its header's ts: where the stream starts */
	uint64_t entries;	/* data entries, markers not counted */
	bool compressed;
	char source[1024];	/* the header's source, "" without one */
};

/*
 * The timestamps written in the last OPLOG_LATE_WINDOW_S seconds, sorted.
 * FerretDB takes an entry's ts before it inserts the entry, so with
 * concurrent writers an entry can show up after one with a later ts.
 * There every poll reads again from that window before the newest ts
 * and skips what this set says was written: late entries get through,
 * nothing is written twice. Its size is the entries of that window.
 */
struct recent {
	uint64_t *keys;		/* ts as t << 32 | i, ascending from head */
	size_t head, count, capacity;
};

/* The reading session: where we are and what we have written. */
struct session {
	const struct read_config *config;
	mongoc_client_t *client;
	stream_writer *out;
	const char *out_name;
	const char *start_name;	/* "--since" or the spool, for messages */
	timestamp_t last;	/* newest entry written, or the start */
	timestamp_t start;	/* --since, or the spool's t0: nothing at or before it */
	struct recent recent;	/* polling: what the late window holds */
	uint64_t total;		/* data entries in the stream, resumed ones too */
	uint64_t written, bytes;	/* this run */
	uint64_t batches, lost_cursors;	/* for --metrics */
	bool behind;		/* the last batch was full, or we stopped: more may wait */
	bool done;		/* --until or --count reached */
	bool await;		/* the server waits for data (not FerretDB): see source_awaits */
	bool warned_order;	/* said once that the server logged writes out of order */
	long idle_ms;		/* polling: the next pause when idle */
	struct timespec started, reported;
	uint64_t reported_written;
	struct timespec lag_measured;	/* progress.c: when lag_oldest was last asked */
	timestamp_t lag_oldest;	/* the oldest entry not read then, zero: none */
	char **open_txns;	/* transactions open at the start, emitted whole (see txn.c) */
	size_t open_txn_count;
	bool check_txns;	/* a fresh stream: a later link of one not found above is fatal */
};

/* Run the reader for config against uri; the exit status (die.h) when it returns. */
int read_run(const struct read_config *config, const char *uri);

/* source.c: exit 4 unless the source has a local.oplog.rs to tail. */
void source_require_oplog(mongoc_client_t *client, long retry_for_ms);

/* source.c: whether the server waits for new entries itself (awaitData). */
bool source_awaits(mongoc_client_t *client);

/* source.c: the newest ts in the oplog, 0,0 when it is empty; exit 4 past the budget. */
timestamp_t source_newest(mongoc_client_t *client, long retry_for_ms);

/*
 * source.c: whether the oplog still reaches back to s->last (exit 5 when
 * it does not); false with error set when the server could not say.
 */
bool source_history_check(struct session *s, bson_error_t *error);

/* resume.c: read the spool at path, repair its end, fill spool and recent. */
void spool_resume(const struct read_config *config, const char *path, struct spool *spool,
    struct recent *recent);

/* recent.c: add ts; false when it was there already. Drops what left the window. */
bool recent_add(struct recent *recent, timestamp_t ts);

/* txn.c: write the earlier links of the transactions open at s->start. */
void txn_prelude_write(struct session *s);

/* txn.c: exit 5 when entry is a later link of a transaction the prelude missed. */
void txn_link_check(struct session *s, const bson_t *entry);

/* tail.c: read the oplog after s->last until done, stopped, or failed for good. */
void tail(struct session *s);

/* progress.c: --progress (at most once a second unless force) and --metrics. */
void progress_report(struct session *s, bool force);

#endif
