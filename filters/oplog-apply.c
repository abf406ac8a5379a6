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
#include <getopt.h>
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

#define MAX_BATCH_BYTES (48 * 1024 * 1024)
#define TXN_MEMORY_MAX (64 * 1024 * 1024)
#define MAX_JOBS 64
#define LEASE_MS_DEFAULT 30000

struct options {
	const char *input, *uri_file, *tls_ca_file, *name, *metrics, *metrics_log;
	long batch, flush_ms, txn_memory, jobs, lease_ms;
	bool follow, resume, progress, quiet;
};

static void usage(void) __attribute__((noreturn));
static void parse_options(int, char **, struct options *, ns_filter *);
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
	char *uri;

	die_init(argv[0]);
	memset(&app, 0, sizeof(app));
	uri = NULL;
	ns_filter_use_defaults(filter);
	parse_options(argc, argv, &opt, filter);
	metrics_start(opt.metrics, opt.metrics_log, opt.name);
	if (optind + 2 == argc) {
		opt.input = argv[optind];
		uri = argv[optind + 1];
	} else if (optind + 1 == argc && strstr(argv[optind], "://") != NULL) {
		uri = argv[optind];
	} else if (optind + 1 == argc) {
		opt.input = argv[optind];
	} else if (optind != argc) {
		usage();
	}
	uri = conn_uri_resolve(uri, opt.uri_file, "OPLOGKIT_TARGET_URI");
	app.client = conn_open(uri, opt.tls_ca_file);
	app.filter = filter;
	app.name = opt.name;
	app.reader = stream_open(opt.input);
	if (app.reader == NULL)
		exit(EXIT_USAGE);
	stream_set_wait(app.reader, (int)opt.flush_ms, opt.follow);
	app.jobs = (int)opt.jobs;
	app.workers = workers_new(app.client, uri, opt.tls_ca_file, (int)opt.jobs, app.reader,
	    (size_t)opt.batch, MAX_BATCH_BYTES);
	app.txns = txn_table_new((size_t)opt.txn_memory);
	cli_catch_signals();
	clock_gettime(CLOCK_MONOTONIC, &started);
	app.saved_at = started;
	lease_take(uri, opt.tls_ca_file, opt.name, opt.lease_ms);
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
usage(void)
{
	printf("usage: oplog-apply [options] [FILE] URI\n"
	    "Apply an oplog stream (FILE or stdin) to the server at URI, idempotently.\n"
	    "  -f, --follow           wait at the end of a growing FILE until its trailer\n"
	    "  -r, --resume           skip entries up to the checkpoint of --name\n"
	    "  -N, --name NAME        the checkpoint's name in oplogkit.checkpoints (default)\n"
	    "      --lease TIME       hold NAME for this long between renewals (30s)\n"
	    "  -b, --batch N          at most N entries per batch (1000)\n"
	    "  -1, --one-at-a-time    apply entry by entry (--batch 1)\n"
	    "  -j, --jobs N           write over N connections, by hash of (ns, _id) (2)\n"
	    "      --flush-ms MS      flush a batch once input is idle this long (50)\n"
	    "  -n, --ns GLOB          apply only matching namespaces (repeatable)\n"
	    "  -x, --exclude GLOB     skip matching namespaces (repeatable)\n"
	    "      --ns-regex RE      apply only namespaces matching RE\n"
	    "      --retry-for TIME   retry server errors this long (60s), then exit 4\n"
	    "      --txn-memory BYTES hold open transactions in memory up to BYTES (64 MiB),\n"
	    "                         then in temporary files\n"
	    "  -p, --progress         one line of progress a second on stderr\n"
	    "      --metrics FILE     Prometheus text metrics in FILE, rewritten each second\n"
	    "      --metrics-log FILE append them to FILE each second, a JSON line each\n"
	    "  -q, --quiet            no report at the end\n"
	    "      --uri-file FILE    read URI from FILE ($OPLOGKIT_TARGET_URI otherwise)\n"
	    "      --tls-ca-file FILE verify the server with this CA\n"
	    "Without --ns: admin.*, config.*, local.*, oplogkit.*, *.system.profile are skipped.\n");
	exit(EXIT_DONE);
}

static void
parse_options(int argc, char **argv, struct options *opt, ns_filter *filter)
{
	enum { FLUSH_MS = 256, NS_REGEX, RETRY_FOR, TXN_MEMORY, URI_FILE, TLS_CA, METRICS, METRICS_LOG,
		LEASE };
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "resume", no_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'N' },
		{ "lease", required_argument, NULL, LEASE },
		{ "batch", required_argument, NULL, 'b' },
		{ "one-at-a-time", no_argument, NULL, '1' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "flush-ms", required_argument, NULL, FLUSH_MS },
		{ "ns", required_argument, NULL, 'n' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "ns-regex", required_argument, NULL, NS_REGEX },
		{ "retry-for", required_argument, NULL, RETRY_FOR },
		{ "txn-memory", required_argument, NULL, TXN_MEMORY },
		{ "progress", no_argument, NULL, 'p' },
		{ "metrics", required_argument, NULL, METRICS },
		{ "metrics-log", required_argument, NULL, METRICS_LOG },
		{ "quiet", no_argument, NULL, 'q' },
		{ "uri-file", required_argument, NULL, URI_FILE },
		{ "tls-ca-file", required_argument, NULL, TLS_CA },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool ok = true;
	int ch;

	memset(opt, 0, sizeof(*opt));
	opt->name = "default";
	opt->batch = 1000;
	opt->jobs = 2;
	opt->flush_ms = 50;
	opt->txn_memory = TXN_MEMORY_MAX;
	opt->lease_ms = LEASE_MS_DEFAULT;
	while ((ch = getopt_long(argc, argv, "frN:b:1j:n:x:pqhV", options, NULL)) != -1) {
		switch (ch) {
		case 'f': opt->follow = true; break;
		case 'r': opt->resume = true; break;
		case 'N': opt->name = optarg; break;
		case LEASE: opt->lease_ms = cli_duration_ms("--lease", optarg); break;
		case 'b': opt->batch = cli_number("--batch", optarg); break;
		case '1': opt->batch = 1; break;
		case 'j': opt->jobs = cli_number("--jobs", optarg); break;
		case FLUSH_MS: opt->flush_ms = cli_number("--flush-ms", optarg); break;
		case 'n': ok = ns_filter_include(filter, optarg); break;
		case 'x': ok = ns_filter_exclude(filter, optarg); break;
		case NS_REGEX: ok = ns_filter_include_regex(filter, optarg); break;
		case TXN_MEMORY: opt->txn_memory = cli_number("--txn-memory", optarg); break;
		case RETRY_FOR: conn_set_retry_for(cli_duration_ms("--retry-for", optarg)); break;
		case 'p': opt->progress = true; break;
		case METRICS: opt->metrics = optarg; break;
		case METRICS_LOG: opt->metrics_log = optarg; break;
		case 'q': opt->quiet = true; break;
		case URI_FILE: opt->uri_file = optarg; break;
		case TLS_CA: opt->tls_ca_file = optarg; break;
		case 'h': usage();
		case 'V': cli_version();
		default: ok = false;
		}
		if (!ok)
			break;
	}
	if (!ok || opt->batch < 1 || opt->name[0] == '\0' || opt->flush_ms > 60000 ||
	    opt->jobs < 1 || opt->jobs > MAX_JOBS || opt->lease_ms < 1000) {
		if (ok)
			warnmsg("--batch must be at least 1, --jobs 1 to %d, --name not empty, "
			    "--flush-ms at most 60000, --lease at least 1s", MAX_JOBS);
		fprintf(stderr, "usage: oplog-apply [options] [FILE] URI (--help for the options)\n");
		exit(EXIT_USAGE);
	}
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

static void
progress(struct applier *app, struct timespec *last)
{
	static uint64_t last_entries;	/* the reading thread's */
	double elapsed = clock_seconds_since(last);
	time_t now = time(NULL);
	char ts[32];

	if (elapsed < 1.0)
		return;
	workers_collect(app->workers, &app->count);
	fprintf(stderr, "oplog-apply: %" PRIu64 " entries, %.0f/s, %" PRIu64 " applied, "
	    "%" PRIu64 " batches, at %s, lag %lds\n", app->count.entries,
	    (double)(app->count.entries - last_entries) / elapsed, counters_applied(&app->count),
	    app->count.batches, ts_format(app->saved_ts, ts, sizeof(ts)),
	    app->saved_ts.t > 0 ? (long)now - (long)app->saved_ts.t : 0L);
	last_entries = app->count.entries;
	clock_gettime(CLOCK_MONOTONIC, last);
}

/* What --metrics needs beyond the counters: what is read and not yet applied. */
struct watch {
	uint64_t bytes_read;
	uint64_t entries_done, bytes_done;	/* read when the checkpoint last covered all */
	timestamp_t pending_first;	/* the oldest entry read since then */
};

static void
watch_note(const struct applier *app, struct watch *watch, const char *phase)
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
	metrics_update(&sample);
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
			progress(app, &last_progress);
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
