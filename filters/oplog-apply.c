/*
 * oplog-apply - apply an oplog stream to a server, idempotently, in
 * batches, recording how far it got in the server itself.
 *
 * Replaying any suffix of the stream again leaves the same state: inserts
 * replace by _id, updates set whole values, deletes tolerate a missing
 * document, commands tolerate "already done". Data writes go to --jobs
 * partitions that write while this thread reads on. The checkpoint
 * {_id: NAME, ts, count, wall} in oplogkit.checkpoints says a ts only once
 * every partition has written everything up to it, at most once a second
 * (or CHECKPOINT_ROUNDS batches a job), at every barrier and at the end, so a
 * crash costs a re-apply, never data. This file reads the stream; the
 * parts live in filters/apply/: dispatch.c (where an entry goes), batch.c
 * (data writes), workers.c (partitions), command.c, txn.c, checkpoint.c
 * and lease.c (one applier per checkpoint name).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply/apply.h"
#include "apply/checkpoint.h"
#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "die.h"
#include "lag.h"
#include "metrics.h"
#include "options.h"

#define MAX_BATCH_BYTES (48 * 1024 * 1024)
#define TXN_MEMORY_MAX (64 * 1024 * 1024)
#define MAX_JOBS 64
#define LEASE_MS_DEFAULT 30000

struct options {
	const char *input, *name, *metrics, *metrics_log;
	struct conn_options conn;	/* --uri, --uri-file, --tls-ca-file */
	long batch, flush_ms, txn_memory, jobs, lease_ms;
	bool follow, resume, progress, quiet;
};

static const char *read_command_line(int, char **, struct options *, ns_filter *);
static void apply_stream(struct applier *, const struct options *, timestamp_t);
static void report(const struct applier *);
static void client_close(mongoc_client_t *);

static struct timespec started;

int
main(int argc, char *argv[])
{
	struct options opt;
	struct applier app;
	ns_filter *filter = ns_filter_new();
	timestamp_t resume_from = { 0, 0 }, stored = { 0, 0 };
	const char *operand;
	char *uri;

	die_init(argv[0]);
	memset(&app, 0, sizeof(app));
	ns_filter_use_defaults(filter);
	/* First the command line, then its fields: argument order is unspecified in C. */
	operand = read_command_line(argc, argv, &opt, filter);
	uri = conn_uri_resolve(operand, opt.conn.uri_file, "OPLOGKIT_TARGET_URI");
	metrics_start(opt.metrics, opt.metrics_log, opt.name);
	app.client = conn_open(uri, opt.conn.tls_ca_file);
	app.filter = filter;
	app.name = opt.name;
	app.reader = stream_open(opt.input);
	if (app.reader == NULL)
		exit(EXIT_USAGE);
	stream_set_wait(app.reader, (int)opt.flush_ms, opt.follow);
	app.jobs = (int)opt.jobs;
	app.workers = workers_new(app.client, uri, opt.conn.tls_ca_file, (int)opt.jobs, app.reader,
	    (size_t)opt.batch, MAX_BATCH_BYTES);
	app.txns = txn_table_new((size_t)opt.txn_memory);
	cli_catch_signals();
	clock_gettime(CLOCK_MONOTONIC, &started);
	app.saved_at = started;
	lease_take(uri, opt.conn.tls_ca_file, opt.name, opt.lease_ms);
	checkpoint_read(&app, &stored);
	app.saved_ts = stored;	/* a run from further back leaves it there */
	if (opt.resume)
		app.done_ts = app.resumed_ts = resume_from = stored;
	else
		app.applied_total = 0;
	apply_stream(&app, &opt, resume_from);
	if (txn_open_count(app.txns) > 0)
		warnmsg("%zu transaction(s) never committed in this stream: not applied",
		    txn_open_count(app.txns));
	if (!opt.quiet)
		report(&app);
	metrics_stop(cli_stop ? "stopped" : "done");
	txn_table_free(app.txns);
	workers_free(app.workers);
	stream_close(app.reader);
	lease_release();
	client_close(app.client);
	ns_filter_free(filter);
	free(uri);
	return EXIT_DONE;
}

static void
one_at_a_time(const char *name, const char *argument, void *batch)
{
	*(long *)batch = 1;
}

/* The command line into opt and filter; returns the URI operand or --uri, or NULL. */
static const char *
read_command_line(int argc, char **argv, struct options *opt, ns_filter *filter)
{
	static const struct program program = {
		.name = "oplog-apply",
		.synopsis = "[options] [FILE] [URI]",
		.summary = "Apply an oplog stream (FILE or stdin) to the server at URI, idempotently.",
		.details =
		    "A lone operand with :// in it is the URI. URI (or --uri's) defaults to\n"
		    "--uri-file's, else $OPLOGKIT_TARGET_URI. Without --ns: admin.*, config.*,\n"
		    "local.*, oplogkit.*, *.system.profile are skipped.\n",
		.min_operands = 0, .max_operands = 2,
	};
	struct ns_select select = { .filter = filter };
	const struct option_def table[] = {
		OPT_BOOL('f', "follow", &opt->follow,
		    "wait at the end of a growing FILE until its trailer"),
		OPT_BOOL('r', "resume", &opt->resume, "skip entries up to the checkpoint of --name"),
		OPT_STRING('N', "name", "NAME", &opt->name,
		    "the checkpoint's name in oplogkit.checkpoints (default)"),
		OPT_DURATION(0, "lease", "TIME", &opt->lease_ms,
		    "hold NAME for this long between renewals (30s)"),
		OPT_NUMBER('b', "batch", "N", &opt->batch, 1, LONG_MAX,
		    "at most N entries per batch (1000)"),
		OPT_CALL('1', "one-at-a-time", NULL, one_at_a_time, &opt->batch,
		    "apply entry by entry (--batch 1)"),
		OPT_NUMBER('j', "jobs", "N", &opt->jobs, 1, MAX_JOBS,
		    "write over N connections, by hash of (ns, _id) (2)"),
		OPT_NUMBER(0, "flush-ms", "MS", &opt->flush_ms, 0, 60000,
		    "flush a batch once input is idle this long (50)"),
		OPT_NS_SELECT(&select),
		OPT_NUMBER(0, "txn-memory", "BYTES", &opt->txn_memory, 0, LONG_MAX,
		    "hold open transactions in memory up to BYTES (64 MiB),\n"
		    "then in temporary files"),
		OPT_PROGRESS(&opt->progress),
		OPT_METRICS(&opt->metrics, &opt->metrics_log),
		OPT_BOOL('q', "quiet", &opt->quiet, "no report at the end"),
		OPT_CONNECTION(&opt->conn),
		OPT_END(),
	};
	const char *uri = NULL;
	int first;

	memset(opt, 0, sizeof(*opt));
	opt->name = "default";
	opt->batch = 1000;
	opt->jobs = 2;
	opt->flush_ms = 50;
	opt->txn_memory = TXN_MEMORY_MAX;
	opt->lease_ms = LEASE_MS_DEFAULT;
	first = options_parse(&program, table, argc, argv);
	options_ns_select_free(&select);
	if (opt->name[0] == '\0' || opt->lease_ms < 1000) {
		warnmsg("--name must not be empty, --lease at least 1s");
		options_usage_error(&program);
	}
	if (argc - first == 2) {
		opt->input = argv[first];
		uri = argv[first + 1];
	} else if (argc - first == 1 && strstr(argv[first], "://") != NULL) {
		uri = argv[first];
	} else if (argc - first == 1) {
		opt->input = argv[first];
	}
	return options_uri(&program, &opt->conn, uri);
}

static void
quiet_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)level, (void)domain, (void)message, (void)data;
}

/*
 * The driver ends its implicit sessions on the way out and warns when
 * the server lacks endSessions (FerretDB does): all is applied by then.
 */
static void
client_close(mongoc_client_t *client)
{
	mongoc_log_set_handler(quiet_log, NULL);
	mongoc_client_destroy(client);
}

/* What --metrics needs beyond the counters: what is read and not yet applied. */
struct watch {
	uint64_t bytes_read;
	uint64_t entries_done, bytes_done;	/* read when the checkpoint last covered all */
	timestamp_t pending_first;	/* the oldest entry read since then */
};

/* What is applied and what is not, for --metrics and --progress alike. */
static void
watch_sample(const struct applier *app, struct watch *watch, const char *phase,
    struct metrics_sample *out)
{
	struct metrics_sample sample;

	memset(&sample, 0, sizeof(sample));
	sample.caught_up = ts_compare(app->saved_ts, app->done_ts) >= 0;
	if (sample.caught_up) {
		watch->entries_done = app->count.entries;
		watch->bytes_done = watch->bytes_read;
	}
	sample.entries_read = app->count.entries;
	sample.bytes_read = watch->bytes_read;
	sample.entries_applied = counters_applied(&app->count);
	sample.bytes_applied = watch->bytes_done;
	sample.batches = app->count.batches;
	sample.errors = app->count.refused;	/* a unique-key conflict exits */
	sample.oldest_pending = watch->pending_first;
	sample.pending_entries = app->count.entries - watch->entries_done;
	sample.pending_known = true;
	sample.checkpoint = app->saved_ts;
	sample.phase = phase;
	*out = sample;
}

static void
watch_note(const struct applier *app, struct watch *watch, const char *phase)
{
	struct metrics_sample sample;

	watch_sample(app, watch, phase, &sample);
	metrics_update(&sample);
}

/* The --progress line; its lag is the metrics' (common/metrics.h). */
static void
progress(struct applier *app, struct watch *watch, struct timespec *last)
{
	static uint64_t last_entries;	/* the reading thread's */
	double elapsed = clock_seconds_since(last);
	struct metrics_sample sample;
	char ts[32];

	if (elapsed < 1.0)
		return;
	workers_collect(app->workers, &app->count);
	watch_sample(app, watch, "applying", &sample);
	fprintf(stderr, "oplog-apply: %" PRIu64 " entries, %.0f/s, %" PRIu64 " applied, "
	    "%" PRIu64 " batches, at %s, lag %.0fs\n", app->count.entries,
	    (double)(app->count.entries - last_entries) / elapsed, counters_applied(&app->count),
	    app->count.batches, ts_format(app->saved_ts, ts, sizeof(ts)),
	    metrics_lag_seconds(&sample, (double)time(NULL)));
	last_entries = app->count.entries;
	clock_gettime(CLOCK_MONOTONIC, last);
}

static void
apply_stream(struct applier *app, const struct options *opt, timestamp_t resume_from)
{
	struct timespec last_progress = started;
	struct watch watch = { 0, 0, 0, { 0, 0 } };
	const bson_t *entry;
	int status;

	/*
	 * Replay from OPLOG_LATE_WINDOW_S before the checkpoint, not after it:
	 * a source whose entries can become visible late (FerretDB) puts a
	 * late entry after the checkpoint's in the stream with a smaller ts.
	 * Entries are idempotent, so applying that window again is harmless.
	 */
	timestamp_t replay_from = { resume_from.t > OPLOG_LATE_WINDOW_S ?
	    resume_from.t - OPLOG_LATE_WINDOW_S : 0, 0 };

	for (;;) {
		timestamp_t ts;

		status = stream_next(app->reader, &entry);
		if (status == STREAM_END || cli_stop)
			break;
		if (status == STREAM_ERROR) {
			applier_flush(app);
			stream_die(app->reader);
		}
		if (opt->progress)
			progress(app, &watch, &last_progress);
		if (status == STREAM_AGAIN) {
			applier_flush(app);	/* input idle: do not sit on work */
			watch_note(app, &watch, "following");
			continue;
		}
		if (ts_compare(app->saved_ts, app->done_ts) >= 0)
			watch.pending_first = entry_ts(entry);
		watch.bytes_read += entry->len;
		app->count.entries++;
		lease_check();	/* nothing more goes to the partitions once the name is lost */
		if (strcmp(entry_stream_kind(entry), "snapshot") == 0)
			entry_fail(app, "a snapshot stream, not an oplog: load it with snap-import");
		if (opt->follow && entry_is_trailer(entry))
			break;
		ts = entry_ts(entry);
		if (opt->resume && ts_compare(ts, replay_from) < 0)
			app->count.skipped++;
		else
			apply_entry(app, entry);
		if (ts_compare(ts, app->done_ts) > 0)
			app->done_ts = ts;
		/* A batch's age counts from its first entry, whatever sent the last one. */
		if (opt->flush_ms > 0 && workers_pending_age_ms(app->workers) >= opt->flush_ms)
			workers_cut(app->workers, applier_claim(app));
		checkpoint_due(app);
		watch_note(app, &watch, "applying");
	}
	applier_flush(app);
	watch_note(app, &watch, "applying");
}

static void
report(const struct applier *app)
{
	const struct counters *c = &app->count;
	double elapsed = clock_seconds_since(&started);
	char ts[32];

	fprintf(stderr, "oplog-apply: %" PRIu64 " entries read, %" PRIu64 " applied (i %" PRIu64
	    ", u %" PRIu64 ", d %" PRIu64 ", c %" PRIu64 ") in %" PRIu64 " batches; skipped %"
	    PRIu64 ", missing %" PRIu64 ", already done %" PRIu64 ", refused %" PRIu64
	    ", reordered %" PRIu64 ", diffs read back %" PRIu64 "; %.1fs, %.0f entries/s; "
	    "checkpoint %s at %s\n", c->entries, counters_applied(c), c->inserts, c->updates, c->deletes,
	    c->commands, c->batches, c->skipped, c->missing, c->tolerated, c->refused, c->reordered,
	    c->fallbacks, elapsed, elapsed > 0 ? (double)c->entries / elapsed : 0.0, app->name,
	    ts_format(app->saved_ts, ts, sizeof(ts)));
	command_report();
}
