/*
 * oplog-read - tail a server's local.oplog.rs into a stream.
 *
 * Entries after --since (exclusive), or after the last entry of the spool
 * given to --resume, are written as they come, flushed after each batch
 * so a follower (oplog-apply --follow) sees them at once. Cursors are
 * driven with explicit find/getMore commands so that batch boundaries
 * (where we flush) and batch sizes are ours. On a server that waits for
 * data (mongod) the cursor is a tailable awaitData one whose find asks
 * for one entry only. On FerretDB we poll with fresh finds instead, each
 * reading again from a short window before the newest entry, because
 * there an entry can become visible after one with a later ts (see
 * struct recent). A cursor the server closes (restart, capped deletion)
 * is reopened after the newest entry written, so nothing is read twice
 * and nothing is skipped; each reopening checks that the oplog still
 * reaches back to that entry (else exit 5).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "metrics.h"
#include "options.h"
#include "reach.h"
#include "stream.h"

#define FIRST_BATCH 1		/* see the top: FerretDB needs a full first batch */
#define NEXT_BATCH 1000
#define AWAIT_MS 1000		/* a getMore waits this long: also our stop latency */
#define IDLE_FIRST_MS 50	/* polling: first pause when idle, doubling to --poll */
#define DEFAULT_POLL_MS 1000
#define DEFAULT_RETRY_FOR_MS (5 * 60 * 1000)
#define NOW_RETRY_FOR_MS 10000	/* --now answers a script at once or fails */

static struct {
	const char *output;
	const char *resume;
	struct conn_options conn;	/* --uri, --uri-file, --tls-ca-file */
	const char *metrics, *metrics_log;
	timestamp_t since, until;
	bool has_since, has_until, has_count, now, progress, has_retry_for;
	uint64_t count;
	int zstd_level;		/* -1: not given */
	long retry_for_ms, poll_ms;
} opt = { .zstd_level = -1, .retry_for_ms = DEFAULT_RETRY_FOR_MS, .poll_ms = DEFAULT_POLL_MS };

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
	bool behind;		/* the last batch was full: more is waiting */
	bool done;		/* --until or --count reached */
	bool await;		/* the server waits for data (not FerretDB): see server_awaits */
	long idle_ms;		/* polling: the next pause when idle */
	struct timespec started, reported;
	uint64_t reported_written;
	char **open_txns;	/* transactions open at the start, emitted whole (see prelude_write) */
	size_t open_txn_count;
	bool check_txns;	/* a fresh stream: a later link of one not found above is fatal */
};

static const char *read_command_line(int argc, char **argv);
static void print_newest(mongoc_client_t *client);
static void oplog_require(mongoc_client_t *client);
static bool server_awaits(mongoc_client_t *client);
static timestamp_t oplog_newest(mongoc_client_t *client);
static void spool_resume(const char *path, struct spool *spool, struct recent *recent);
static bool recent_add(struct recent *recent, timestamp_t ts);
static void prelude_write(struct session *session);
static void tail(struct session *session);
static void progress_report(struct session *session, bool force);

int
main(int argc, char **argv)
{
	struct session session;
	struct spool spool;
	const char *uri_arg;
	char *uri;
	bson_t marker;
	int level;

	die_init(argv[0]);
	uri_arg = read_command_line(argc, argv);
	if (!opt.now) {
		stream_refuse_tty(opt.resume != NULL ? opt.resume : opt.output);
		metrics_start(opt.metrics, opt.metrics_log, NULL);
	}
	uri = conn_uri_resolve(uri_arg, opt.conn.uri_file, "OPLOGKIT_SOURCE_URI");
	memset(&session, 0, sizeof(session));
	cli_catch_signals();	/* a stop while still retrying the first connection is clean too */
	conn_set_retry_for(opt.retry_for_ms);	/* first: conn_open fits its timeouts to it */
	session.client = conn_open(uri, opt.conn.tls_ca_file);
	oplog_require(session.client);
	if (opt.now)
		print_newest(session.client);

	level = opt.zstd_level < 0 ? 0 : opt.zstd_level;
	if (opt.resume != NULL) {
		spool_resume(opt.resume, &spool, &session.recent);
		if (spool.source[0] != '\0' && strcmp(spool.source, conn_masked(session.client)) != 0)
			warnmsg("%s: was read from %s, now resuming from %s", opt.resume,
			    spool.source, conn_masked(session.client));
		if (spool.compressed && level == 0)
			level = cli_zstd_level(NULL);
		session.last = spool.last;
		session.start = spool.t0;
		session.total = spool.entries;
		session.start_name = opt.resume;
		session.out_name = opt.resume;
	} else {
		session.last = opt.has_since ? opt.since : oplog_newest(session.client);
		session.start = session.last;
		session.start_name = "--since";
		session.out_name = opt.output != NULL ? opt.output : "stdout";
	}
	session.await = server_awaits(session.client);
	session.idle_ms = IDLE_FIRST_MS;
	session.out = stream_create(opt.resume != NULL ? opt.resume : opt.output, level,
	    opt.resume != NULL);
	if (session.out == NULL)
		exit(EXIT_DIFFERENT);
	if (opt.resume == NULL) {
		marker_header(&marker, "oplog", conn_masked(session.client), session.last);
		if (!stream_write(session.out, &marker) || !stream_flush(session.out))
			exit(EXIT_DIFFERENT);
		bson_destroy(&marker);
		prelude_write(&session);
	}

	tail(&session);

	marker_trailer(&marker, session.total, session.last);
	if (!stream_write(session.out, &marker) || !stream_finish(session.out))
		exit(EXIT_DIFFERENT);
	bson_destroy(&marker);
	progress_report(&session, true);
	metrics_stop(cli_stop ? "stopped" : "done");
	conn_close(session.client);
	free(session.recent.keys);
	while (session.open_txn_count > 0)
		free(session.open_txns[--session.open_txn_count]);
	free(session.open_txns);
	free(uri);
	return EXIT_DONE;
}

static void
parse_ts(const char *option, const char *text, void *value)
{
	bool *given = value == &opt.since ? &opt.has_since : &opt.has_until;

	if (!ts_parse(text, value))
		die(EXIT_USAGE, "%s: not a timestamp: '%s' (try T,I or {\"$timestamp\":{\"t\":T,\"i\":I}})",
		    option, text);
	*given = true;
}

static void
parse_count(const char *option, const char *text, void *unused)
{
	opt.count = (uint64_t)cli_number(option, text);
	opt.has_count = true;
}

/* Not the shared --retry-for: oplog-read keeps its own budget (5m, --now 10s). */
static void
parse_retry_for(const char *option, const char *text, void *unused)
{
	opt.retry_for_ms = cli_duration_ms(option, text);
	opt.has_retry_for = true;
}

/* The command line into opt; returns the URI operand or --uri, or NULL. */
static const char *
read_command_line(int argc, char **argv)
{
	static const struct program program = {
		.name = "oplog-read",
		.synopsis = "[options] [URI]",
		.summary = "Tail a server's oplog (local.oplog.rs) into a stream of entries.",
		.details =
		    "TS is \"T,I\", \"T\" or {\"$timestamp\":...}. URI (or --uri's) defaults to\n"
		    "--uri-file's, else $OPLOGKIT_SOURCE_URI.\n",
		.min_operands = 0, .max_operands = 1,
	};
	const struct option_def table[] = {
		OPT_CALL(0, "since", "TS", parse_ts, &opt.since,
		    "start after TS; 0 reads the whole oplog;\ndefault: its newest entry"),
		OPT_STRING(0, "resume", "FILE", &opt.resume, "append to the spool FILE after its last entry"),
		OPT_CALL(0, "until", "TS", parse_ts, &opt.until,
		    "stop after the entries up to TS, inclusive"),
		OPT_CALL(0, "count", "N", parse_count, NULL, "stop after N entries"),
		OPT_BOOL(0, "now", &opt.now, "print the newest ts of the oplog and exit"),
		OPT_OUTPUT(&opt.output, "write to FILE (mode 0600) instead of stdout"),
		OPT_ZSTD(&opt.zstd_level),
		OPT_CALL(0, "retry-for", "DUR", parse_retry_for, NULL,
		    "reconnect for this long before giving up (5m; --now: 10s)"),
		OPT_DURATION(0, "poll", "DUR", &opt.poll_ms,
		    "longest pause between polls of an idle oplog (1s)"),
		OPT_PROGRESS(&opt.progress),
		OPT_METRICS(&opt.metrics, &opt.metrics_log),
		OPT_URI_FILE(&opt.conn),
		OPT_STRING(0, "tls-ca-file", "FILE", &opt.conn.tls_ca_file,
		    "connect with TLS, trusting FILE"),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	if (opt.now && !opt.has_retry_for)
		opt.retry_for_ms = NOW_RETRY_FOR_MS;
	if (opt.has_since && opt.resume != NULL)
		die(EXIT_USAGE, "--since and --resume: give one (--resume starts after the spool's last entry)");
	if (opt.output != NULL && opt.resume != NULL)
		die(EXIT_USAGE, "--output and --resume: --resume FILE appends to FILE itself");
	return options_uri(&program, &opt.conn, first < argc ? argv[first] : NULL);
}

/* Exit 4 naming what failed, unless the error is transient and the budget lasts. */
static void
retry_or_die(retry_policy *policy, const bson_error_t *error, mongoc_client_t *client, const char *what)
{
	char failure[512], waited[32];

	if (retry_again(policy, error))
		return;
	if (cli_stop)
		exit(EXIT_DONE);	/* nothing written yet: a stop needs no trailer */
	conn_describe(error, client, failure, sizeof(failure));
	reach_duration(policy->waited_ms, waited, sizeof(waited));
	die(EXIT_SERVER, "%s; gave up after %s (%s)", failure, waited, what);
}

/* Exit 4 unless the source has a local.oplog.rs to tail. */
static void
oplog_require(mongoc_client_t *client)
{
	mongoc_database_t *local = mongoc_client_get_database(client, "local");
	bson_t *opts = BCON_NEW("filter", "{", "name", BCON_UTF8("oplog.rs"), "}");
	retry_policy policy;
	bson_error_t error;
	char **names;

	retry_init(&policy, opt.retry_for_ms);
	while ((names = mongoc_database_get_collection_names_with_opts(local, opts, &error)) == NULL)
		retry_or_die(&policy, &error, client, "listing the collections of local");
	if (names[0] == NULL)
		die(EXIT_SERVER, "%s: has no local.oplog.rs to read (not a replica set member?)",
		    conn_masked(client));
	bson_strfreev(names);
	bson_destroy(opts);
	mongoc_database_destroy(local);
}

/*
 * Whether to let the server wait for new entries (awaitData). FerretDB
 * implements that wait by re-running the whole query every 10 ms, and as
 * its oplog has no index each run reads the whole oplog: a reader waiting
 * there keeps a core busy. With FerretDB we poll instead, backing off
 * from 50 ms to --poll while the oplog is idle, and after a busy poll
 * waiting as long as it took, so reading takes at most half the server.
 */
static bool
server_awaits(mongoc_client_t *client)
{
	bson_t *command = BCON_NEW("buildInfo", BCON_INT32(1));
	bson_error_t error;
	bson_iter_t iter;
	bson_t reply;
	bool ferretdb;

	if (!conn_command(client, "admin", command, &reply, &error))
		die(EXIT_SERVER, "%s: buildInfo: %s", conn_masked(client), error.message);
	ferretdb = bson_iter_init_find(&iter, &reply, "ferretdbVersion");
	bson_destroy(&reply);
	bson_destroy(command);
	return !ferretdb;
}

/* The newest ts in the oplog, 0,0 when it is empty. */
static timestamp_t
oplog_newest(mongoc_client_t *client)
{
	timestamp_t newest = { 0, 0 };
	retry_policy policy;
	bson_error_t error;

	retry_init(&policy, opt.retry_for_ms);
	while (!conn_newest_ts(client, &newest.t, &newest.i, &error)) {
		if (error.domain == MONGOC_ERROR_QUERY && error.code == 26)
			return (timestamp_t){ 0, 0 };	/* empty: everything is after 0,0 */
		retry_or_die(&policy, &error, client, "reading the newest oplog entry");
	}
	return newest;
}

static void
print_newest(mongoc_client_t *client)
{
	char text[32];

	printf("%s\n", ts_format(oplog_newest(client), text, sizeof(text)));
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_DIFFERENT, "stdout: write failed");
	conn_close(client);
	exit(EXIT_DONE);
}

/* --- resuming a spool --- */

/* One pass of the stream reader over a spool. */
struct scan {
	uint64_t count;		/* whole entries */
	uint64_t end;		/* plain offset after the last whole entry */
	uint64_t keep_count;	/* whole entries but a final trailer */
	uint64_t keep_end;
	bool trailer;		/* the last whole entry is a trailer */
	bool failed;		/* the reader stopped on a bad frame */
	char error[512];
};

/* What follows the last whole entry, in plain (decompressed) bytes. */
struct tail_bytes {
	uint64_t total;		/* plain length of the spool */
	uint8_t head[4];	/* the first bytes after scan.end */
	size_t head_length;
	bool zstd_open;		/* a zstd frame was not closed */
};

static void
scan_spool(const char *path, struct scan *scan, struct spool *spool, struct recent *recent)
{
	stream_reader *reader = stream_open(path);
	const bson_t *entry;
	int status;

	if (reader == NULL)
		exit(EXIT_USAGE);
	memset(scan, 0, sizeof(*scan));
	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		uint32_t length;

		stream_frame(reader, &length);
		scan->count++;
		scan->end = stream_offset(reader) + length;
		scan->trailer = entry_is_trailer(entry);
		if (scan->trailer)
			continue;
		scan->keep_count = scan->count;
		scan->keep_end = scan->end;
		if (ts_compare(entry_ts(entry), spool->last) > 0)
			spool->last = entry_ts(entry);
		if (!entry_is_header(entry))
			recent_add(recent, entry_ts(entry));
		if (entry_is_header(entry)) {
			bson_t o;

			spool->t0 = entry_ts(entry);
			bson_iter_t iter;

			if (entry_object(entry, "o", &o) && bson_iter_init_find(&iter, &o, "source") &&
			    BSON_ITER_HOLDS_UTF8(&iter))
				snprintf(spool->source, sizeof(spool->source), "%s", bson_iter_utf8(&iter, NULL));
		} else {
			spool->entries++;
		}
	}
	if (status == STREAM_ERROR) {
		scan->failed = true;
		snprintf(scan->error, sizeof(scan->error), "%s", stream_error(reader));
	}
	spool->compressed = stream_is_compressed(reader);
	stream_close(reader);
}

/* Decompress the whole spool once to learn its plain length and the bytes at at. */
static void
zstd_tail_bytes(const char *path, int fd, uint64_t at, struct tail_bytes *tail)
{
	ZSTD_DStream *zstd = ZSTD_createDStream();
	size_t in_size = ZSTD_DStreamInSize(), out_size = ZSTD_DStreamOutSize();
	uint8_t *in = xmalloc(in_size), *out = xmalloc(out_size);
	size_t hint = 0;
	ssize_t n;

	if (zstd == NULL)
		die(EXIT_DIFFERENT, "%s: cannot create a zstd decompressor", path);
	while ((n = read(fd, in, in_size)) > 0) {
		ZSTD_inBuffer zin = { in, (size_t)n, 0 };

		while (zin.pos < zin.size) {
			ZSTD_outBuffer zout = { out, out_size, 0 };
			size_t k;

			hint = ZSTD_decompressStream(zstd, &zout, &zin);
			if (ZSTD_isError(hint))
				die(EXIT_BAD_STREAM, "%s: refusing to resume: corrupt zstd data: %s", path,
				    ZSTD_getErrorName(hint));
			for (k = 0; k < zout.pos; k++, tail->total++)
				if (tail->total >= at && tail->head_length < sizeof(tail->head))
					tail->head[tail->head_length++] = out[k];
		}
	}
	if (n < 0)
		die(EXIT_DIFFERENT, "%s: read failed: %s", path, strerror(errno));
	tail->zstd_open = hint != 0;
	ZSTD_freeDStream(zstd);
	free(in);
	free(out);
}

static void
read_tail_bytes(const char *path, bool compressed, uint64_t at, struct tail_bytes *tail)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	memset(tail, 0, sizeof(*tail));
	if (fd < 0 || fstat(fd, &st) != 0)
		die(EXIT_DIFFERENT, "%s: %s", path, strerror(errno));
	if (compressed) {
		zstd_tail_bytes(path, fd, at, tail);
	} else {
		tail->total = (uint64_t)st.st_size;
		n = pread(fd, tail->head, sizeof(tail->head), (off_t)at);
		if (n < 0)
			die(EXIT_DIFFERENT, "%s: read failed: %s", path, strerror(errno));
		tail->head_length = (size_t)n;
	}
	close(fd);
}

/*
 * Whether the bytes after the last whole entry are the start of an entry
 * that a crash cut short (its length says it runs past the end), as
 * opposed to damage, which we refuse: nothing after a bad frame is guessed.
 */
static bool
cut_short(const struct scan *scan, const struct tail_bytes *tail)
{
	uint64_t remaining = tail->total - scan->end;
	uint32_t length;

	if (remaining < 4)
		return true;
	length = (uint32_t)tail->head[0] | (uint32_t)tail->head[1] << 8 |
	    (uint32_t)tail->head[2] << 16 | (uint32_t)tail->head[3] << 24;
	return length >= 5 && length <= STREAM_MAX_FRAME_DEFAULT && length > remaining;
}

/* Copy the first keep entries of a zstd spool into a new one in its place. */
static void
rewrite_zstd(const char *path, uint64_t keep, int level)
{
	char tmp[4096];
	stream_reader *reader = stream_open(path);
	stream_writer *writer;
	const bson_t *entry;
	uint64_t copied = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.resume-tmp", path) >= sizeof(tmp))
		die(EXIT_USAGE, "%s: path too long", path);
	if (reader == NULL || (writer = stream_create(tmp, level, false)) == NULL)
		exit(EXIT_DIFFERENT);
	while (copied < keep && stream_next(reader, &entry) == STREAM_ENTRY) {
		uint32_t length;
		const uint8_t *frame = stream_frame(reader, &length);

		if (!stream_write_raw(writer, frame, length))
			exit(EXIT_DIFFERENT);
		copied++;
	}
	stream_close(reader);
	if (copied != keep)
		die(EXIT_DIFFERENT, "%s: changed while being rewritten", path);
	if (!stream_finish(writer))
		exit(EXIT_DIFFERENT);
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
		die(EXIT_DIFFERENT, "%s: cannot replace it with %s: %s", path, tmp, strerror(errno));
}

/*
 * Read the spool to its end, learn where it stopped, and make it ready to
 * append to: a final trailer goes (the stream must stay one stream), an
 * entry cut short by a crash goes too. A plain spool is truncated; a zstd
 * one cannot be cut inside its compressed bytes, so it is rewritten.
 */
static void
spool_resume(const char *path, struct spool *spool, struct recent *recent)
{
	struct tail_bytes tail;
	struct scan scan;
	bool cut = false;

	memset(spool, 0, sizeof(*spool));
	scan_spool(path, &scan, spool, recent);
	read_tail_bytes(path, spool->compressed, scan.end, &tail);
	if (scan.failed) {
		if (!cut_short(&scan, &tail))
			die(EXIT_BAD_STREAM, "refusing to resume: %s", scan.error);
		cut = true;
	}
	if (scan.keep_count == 0)
		die(EXIT_USAGE, "%s: no entry to resume after (start a new spool with --since)", path);
	if (cut && tail.total > scan.end)
		warnmsg("%s: entry %" PRIu64 " was cut short (%" PRIu64 " bytes of it present): "
		    "dropping it and resuming after entry %" PRIu64, path, scan.count + 1,
		    tail.total - scan.end, scan.keep_count);
	else if (cut || tail.zstd_open)
		warnmsg("%s: its zstd frame was not closed (a crash?): resuming after entry %" PRIu64,
		    path, scan.keep_count);
	if (spool->compressed) {
		if (cut || scan.trailer || tail.zstd_open)
			rewrite_zstd(path, scan.keep_count,
			    opt.zstd_level > 0 ? opt.zstd_level : cli_zstd_level(NULL));
		return;
	}
	if (opt.zstd_level > 0)
		die(EXIT_USAGE, "--zstd: %s is plain BSON; a resumed spool keeps its format", path);
	if (scan.keep_end < tail.total && truncate(path, (off_t)scan.keep_end) != 0)
		die(EXIT_DIFFERENT, "%s: cannot truncate to %" PRIu64 " bytes: %s", path,
		    scan.keep_end, strerror(errno));
}

/* --- tailing --- */

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

static void
progress_report(struct session *s, bool force)
{
	double elapsed = clock_seconds_since(&s->reported);
	char last[32];
	long lag;

	metrics_note(s);
	if (!opt.progress || (!force && elapsed < 1.0))
		return;
	lag = s->last.t == 0 ? 0 : (long)time(NULL) - (long)s->last.t;
	fprintf(stderr, "%s: %" PRIu64 " entries, %.1f MB, %.0f entries/s, lag %lds, last %s\n",
	    die_progname(), s->written, (double)s->bytes / 1e6,
	    elapsed > 0 ? (double)(s->written - s->reported_written) / elapsed : 0.0,
	    lag < 0 ? 0 : lag, ts_format(s->last, last, sizeof(last)));
	clock_gettime(CLOCK_MONOTONIC, &s->reported);
	s->reported_written = s->written;
}

static uint64_t
ts_key(timestamp_t ts)
{
	return (uint64_t)ts.t << 32 | ts.i;
}

/* Index of the first key >= key. */
static size_t
recent_search(const struct recent *recent, uint64_t key)
{
	size_t low = recent->head, high = recent->head + recent->count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (recent->keys[middle] < key)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

/* Add ts; false when it was there already. Drops what left the window. */
static bool
recent_add(struct recent *recent, timestamp_t ts)
{
	uint64_t key = ts_key(ts);
	size_t at = recent_search(recent, key), end = recent->head + recent->count;
	uint64_t newest, floor;

	if (at < end && recent->keys[at] == key)
		return false;
	if (end == recent->capacity) {
		/* keys is NULL before the first entry: memmove's pointers must not be */
		if (recent->count > 0)
			memmove(recent->keys, recent->keys + recent->head,
			    recent->count * sizeof(uint64_t));
		at -= recent->head;
		recent->head = 0;
		end = recent->count;
		if (end == recent->capacity) {
			recent->capacity = recent->capacity ? recent->capacity * 2 : 1024;
			recent->keys = xrealloc(recent->keys, recent->capacity * sizeof(uint64_t));
		}
	}
	memmove(recent->keys + at + 1, recent->keys + at, (end - at) * sizeof(uint64_t));
	recent->keys[at] = key;
	recent->count++;
	newest = recent->keys[recent->head + recent->count - 1] >> 32;
	floor = newest > OPLOG_LATE_WINDOW_S ? newest - OPLOG_LATE_WINDOW_S : 0;
	while (recent->count > 0 && recent->keys[recent->head] >> 32 < floor) {
		recent->head++;
		recent->count--;
	}
	return true;
}

/*
 * Transactions open at the start. A transaction's links name the one
 * before in prevOpTime (the first names ts 0); a commit after --since
 * whose chain starts at or before it would reach the applier without its
 * first links, and be refused. So before tailing, the stream gets the
 * links at or before the start of every transaction open there, found as
 * the links after the start whose prevOpTime is at or before it (a scan
 * of the oplog that works on every server) and, on mongod, the prepared
 * transactions config.transactions lists (their commit may come later),
 * each followed back along prevOpTime. Only those earlier links are
 * emitted: nothing else before the start.
 */

/* The ts of entry's prevOpTime when entry is a transaction link; zero otherwise. */
static timestamp_t
txn_previous(const bson_t *entry)
{
	const char *command = entry_command(entry);
	timestamp_t none = { 0, 0 };
	bson_t previous;

	/* Retryable writes chain prevOpTime too (CRUD ops, multiOpType applyOps). */
	if (strcmp(entry_op(entry), "c") != 0 || bson_has_field(entry, "multiOpType") ||
	    (strcmp(command, "applyOps") != 0 && strcmp(command, "commitTransaction") != 0 &&
	    strcmp(command, "abortTransaction") != 0) ||
	    !entry_object(entry, "prevOpTime", &previous))
		return none;
	return entry_ts(&previous);
}

static bool
ts_is_zero(timestamp_t ts)
{
	return ts.t == 0 && ts.i == 0;
}

/* A link after the start of a transaction that began at or before it and was not emitted. */
static void
txn_link_check(struct session *s, const bson_t *entry)
{
	timestamp_t previous = txn_previous(entry);
	char key[512], at[32];
	size_t k;

	if (ts_is_zero(previous) || ts_compare(previous, s->start) > 0)
		return;
	entry_txn_name(entry, key, sizeof(key));
	for (k = 0; k < s->open_txn_count; k++)
		if (strcmp(s->open_txns[k], key) == 0)
			return;
	stream_finish(s->out);
	die(EXIT_HISTORY_LOST, "transaction lsid %s began at or before %s %s (link at %s) and "
	    "was not found open when the capture started: its first entries are not in %s; "
	    "start the capture earlier", key, s->start_name, ts_format(s->start, at, sizeof(at)),
	    ts_format(previous, at, sizeof(at)), s->out_name);
}

/* The copies of the links found, to sort and write. */
struct links {
	bson_t **entries;
	size_t count;
};

/* Run a find on local.oplog.rs; calls found(s, doc, data) for each document. */
static void
oplog_find(struct session *s, const char *ns_coll, const char *db, const bson_t *filter,
    void (*found)(struct session *, const bson_t *, void *), void *data)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(s->client, db, ns_coll);
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	bson_error_t error;

	while (mongoc_cursor_next(cursor, &doc))
		found(s, doc, data);
	if (mongoc_cursor_error(cursor, &error) && strcmp(ns_coll, "oplog.rs") == 0)
		die(EXIT_SERVER, "%s: looking for transactions open at %s: %s",
		    conn_masked(s->client), s->start_name, error.message);
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
}

static void
tip_found(struct session *s, const bson_t *doc, void *data)
{
	struct links *tips = data;
	timestamp_t previous = txn_previous(doc);
	char key[512];

	if (ts_is_zero(previous) || ts_compare(previous, s->start) > 0)
		return;
	entry_txn_name(doc, key, sizeof(key));
	s->open_txns = xrealloc(s->open_txns, (s->open_txn_count + 1) * sizeof(char *));
	s->open_txns[s->open_txn_count++] = xstrdup(key);
	tips->entries = xrealloc(tips->entries, (tips->count + 1) * sizeof(bson_t *));
	tips->entries[tips->count++] = BCON_NEW("ts", BCON_TIMESTAMP(previous.t, previous.i));
}

/* config.transactions (mongod): a prepared transaction's lastWriteOpTime is its prepare. */
static void
prepared_found(struct session *s, const bson_t *doc, void *data)
{
	struct links *tips = data;
	bson_iter_t iter, ts;
	timestamp_t at;

	if (!bson_iter_init(&iter, doc) || !bson_iter_find_descendant(&iter, "lastWriteOpTime.ts", &ts) ||
	    !BSON_ITER_HOLDS_TIMESTAMP(&ts))
		return;
	bson_iter_timestamp(&ts, &at.t, &at.i);
	if (ts_is_zero(at) || ts_compare(at, s->start) > 0)
		return;
	tips->entries = xrealloc(tips->entries, (tips->count + 1) * sizeof(bson_t *));
	tips->entries[tips->count++] = BCON_NEW("ts", BCON_TIMESTAMP(at.t, at.i));
}

static void
link_found(struct session *s, const bson_t *doc, void *data)
{
	bson_t **found = data;

	(void)s;
	if (*found == NULL)
		*found = bson_copy(doc);
}

static int
link_order(const void *a, const void *b)
{
	return ts_compare(entry_ts(*(bson_t *const *)a), entry_ts(*(bson_t *const *)b));
}

/* Follow the chain back from the link at ts, adding every link to chain. */
static void
chain_follow(struct session *s, timestamp_t ts, struct links *chain)
{
	char at[32];
	size_t k;

	while (!ts_is_zero(ts)) {
		bson_t *filter = BCON_NEW("ts", BCON_TIMESTAMP(ts.t, ts.i));
		bson_t *link = NULL;
		char key[512];

		for (k = 0; k < chain->count; k++)
			if (ts_compare(entry_ts(chain->entries[k]), ts) == 0)
				break;
		if (k < chain->count) {
			bson_destroy(filter);
			return;	/* the rest of this chain is in already */
		}
		oplog_find(s, "oplog.rs", "local", filter, link_found, &link);
		bson_destroy(filter);
		if (link == NULL) {
			stream_finish(s->out);
			die(EXIT_HISTORY_LOST, "history lost: a transaction open at %s %s has a link at "
			    "%s no longer in the oplog", s->start_name, ts_format(s->start, key,
			    sizeof(key)), ts_format(ts, at, sizeof(at)));
		}
		chain->entries = xrealloc(chain->entries, (chain->count + 1) * sizeof(bson_t *));
		chain->entries[chain->count++] = link;
		ts = txn_previous(link);
	}
}

static void
links_free(struct links *links)
{
	while (links->count > 0)
		bson_destroy(links->entries[--links->count]);
	free(links->entries);
}

static void
prelude_write(struct session *s)
{
	struct links tips = { NULL, 0 }, chain = { NULL, 0 };
	bson_t *after, *prepared;
	size_t k;

	s->check_txns = true;
	if (ts_is_zero(s->start))
		return;	/* the whole oplog: every first link is in it */
	after = BCON_NEW("ts", "{", "$gt", BCON_TIMESTAMP(s->start.t, s->start.i), "}",
	    "op", BCON_UTF8("c"),
	    "prevOpTime.ts", "{", "$lte", BCON_TIMESTAMP(s->start.t, s->start.i),
	    "$gt", BCON_TIMESTAMP(0, 0), "}");
	oplog_find(s, "oplog.rs", "local", after, tip_found, &tips);
	bson_destroy(after);
	prepared = BCON_NEW("state", BCON_UTF8("prepared"));
	oplog_find(s, "transactions", "config", prepared, prepared_found, &tips);
	bson_destroy(prepared);
	for (k = 0; k < tips.count; k++)
		chain_follow(s, entry_ts(tips.entries[k]), &chain);
	if (chain.count > 0) {
		qsort(chain.entries, chain.count, sizeof(bson_t *), link_order);
		for (k = 0; k < chain.count; k++) {
			char key[512];

			entry_txn_name(chain.entries[k], key, sizeof(key));
			if (!stream_write(s->out, chain.entries[k]))
				exit(EXIT_DIFFERENT);
			s->total++;
			s->written++;
			s->bytes += chain.entries[k]->len;
			/* A prepared one found in config.transactions is open too. */
			s->open_txns = xrealloc(s->open_txns, (s->open_txn_count + 1) * sizeof(char *));
			s->open_txns[s->open_txn_count++] = xstrdup(key);
		}
		if (!stream_flush(s->out))
			exit(EXIT_DIFFERENT);
		warnmsg("%s falls inside open transactions: the stream starts with the %zu "
		    "link(s) they wrote at or before it", s->start_name, chain.count);
	}
	links_free(&chain);
	links_free(&tips);
}

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
	static bool warned;
	char a[32], b[32];
	bson_t entry;
	timestamp_t ts;

	if (!bson_init_static(&entry, data, length))
		die(EXIT_SERVER, "%s: sent an oplog entry that is not BSON", conn_masked(s->client));
	ts = entry_ts(&entry);
	if (opt.has_until && ts_compare(ts, opt.until) > 0)
		return false;
	/* The late window reaches before the start; and what it read again is written already. */
	if (!s->await && (ts_compare(ts, s->start) <= 0 || !recent_add(&s->recent, ts)))
		return true;
	if (s->check_txns)
		txn_link_check(s, &entry);
	if (!stream_write_raw(s->out, data, length))
		exit(EXIT_DIFFERENT);
	s->total++;
	s->written++;
	s->bytes += length;
	if (ts_compare(ts, s->last) > 0) {
		s->last = ts;
	} else if (!warned) {
		/* Caught by the late window; said once, as it is the server's doing. */
		warnmsg("entry %s arrived after %s: the server logged writes out of order; "
		    "it is in the stream, after the later one", ts_format(ts, a, sizeof(a)),
		    ts_format(s->last, b, sizeof(b)));
		warned = true;
	}
	if ((opt.has_until && ts_compare(ts, opt.until) == 0) ||
	    (opt.has_count && s->written >= opt.count))
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
	cursor->entries += s->written - before;
	s->batches++;
	if (s->written > before && !stream_flush(s->out))
		exit(EXIT_DIFFERENT);
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

/*
 * The oldest entry's ts; false with error set, code 26 when the oplog is
 * empty. Not conn_oldest_ts: its sort makes FerretDB read the whole
 * oplog, while a plain find of a capped collection is in natural order
 * already on every server and stops after one entry.
 */
static bool
oplog_oldest(mongoc_client_t *client, timestamp_t *oldest, bson_error_t *error)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, &filter, opts, NULL);
	const bson_t *doc;
	bool found = false;

	if (mongoc_cursor_next(cursor, &doc)) {
		*oldest = entry_ts(doc);
		found = true;
	} else if (!mongoc_cursor_error(cursor, error)) {
		bson_set_error(error, MONGOC_ERROR_QUERY, 26, "local.oplog.rs is empty");
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	mongoc_collection_destroy(oplog);
	return found;
}

/*
 * Whether the oplog still reaches back to s->last. Asked after the find
 * answered: if the oldest entry is not after s->last then, the entries
 * the find saw followed s->last directly, with no gap.
 */
static bool
history_check(struct session *s, bson_error_t *error)
{
	timestamp_t oldest;
	char a[32], b[32];

	if (s->last.t == 0 && s->last.i == 0)
		return true;	/* from the beginning: nothing to lose */
	if (!oplog_oldest(s->client, &oldest, error))
		return error->domain == MONGOC_ERROR_QUERY && error->code == 26;	/* empty */
	if (ts_compare(oldest, s->last) <= 0)
		return true;
	stream_finish(s->out);
	if (s->written == 0 && strcmp(s->start_name, "--since") == 0)
		die(EXIT_HISTORY_LOST, "history lost: oldest entry %s is after --since %s",
		    ts_format(oldest, a, sizeof(a)), ts_format(s->last, b, sizeof(b)));
	die(EXIT_HISTORY_LOST, "history lost: oldest entry %s is after the last entry %s of %s",
	    ts_format(oldest, a, sizeof(a)), ts_format(s->last, b, sizeof(b)),
	    s->written == 0 ? s->start_name : s->out_name);
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
	if (ok && (ok = history_check(s, error))) {
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
	s->idle_ms = s->idle_ms * 2 > opt.poll_ms ? opt.poll_ms : s->idle_ms * 2;
	progress_report(s, false);
}

/* Whether --until lies in the past of an idle oplog (see the man page). */
static bool
until_passed(const struct session *s)
{
	return opt.has_until && (ts_compare(s->last, opt.until) >= 0 ||
	    (long)time(NULL) > (long)opt.until.t + 2);
}

/* Open a cursor after s->last and read it until it closes, fails or we are done. */
static enum cursor_end
cursor_run(struct session *s, struct cursor *cursor, retry_policy *policy, bson_error_t *error)
{
	memset(cursor, 0, sizeof(*cursor));
	if (!cursor_find(s, cursor, error))
		return CURSOR_FIND_FAILED;
	retry_init(policy, opt.retry_for_ms);
	progress_report(s, false);
	while (cursor->id != 0 && !s->done && !cli_stop) {
		uint64_t before = s->written;

		if (!cursor_more(s, cursor, error))
			return CURSOR_MORE_FAILED;
		retry_init(policy, opt.retry_for_ms);
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

static void
tail(struct session *s)
{
	retry_policy policy;
	struct cursor cursor = { 0, 0, 0 };
	bson_error_t error;
	int lost_cursors = 0;

	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->reported = s->started;
	retry_init(&policy, opt.retry_for_ms);
	/* Not until_passed: its clock test is for an idle oplog, and the
	 * entries up to a --until in the past are still to be read. */
	s->done = (opt.has_count && opt.count == 0) ||
	    (opt.has_until && ts_compare(s->last, opt.until) >= 0);
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
				clock_sleep_ms(took < opt.poll_ms ? took : opt.poll_ms);
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
