/*
 * metrics.c - the --metrics file (see metrics.h).
 *
 * One set of metrics per process, behind one lock: the program updates a
 * sample, the writer thread copies it once a second and rewrites the file
 * (mkstemp in the file's directory, write, rename). Write errors after
 * the first are warned once and the migration goes on: a metrics file is
 * for watching, never a reason to stop moving data.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "die.h"
#include "format.h"
#include "metrics.h"

#define WRITE_EVERY_MS 1000
#define TEXT_MAX 8192

static struct {
	bool on, stopping, stopped;
	char *path;		/* --metrics, or NULL */
	char *name;
	int log_fd;		/* --metrics-log, or -1 */
	char *log_path;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t writer;
	struct metrics_sample sample;
	char phase[32];
	bool warned, log_warned;
} metrics = { .log_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static atomic_uint_fast64_t retries;

static double
wall_seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

double
metrics_lag_seconds(const struct metrics_sample *sample, double now)
{
	double age;

	if (sample->caught_up || sample->oldest_pending.t == 0)
		return 0;
	age = now - (double)sample->oldest_pending.t;
	return age > 0 ? age : 0;	/* clocks apart: never a negative lag */
}

/* A label value with \, " and newline escaped, as the text format wants. */
static void
label_escape(const char *value, char *out, size_t size)
{
	size_t used = 0;

	for (; *value != '\0' && used + 3 < size; value++) {
		if (*value == '\\' || *value == '"') {
			out[used++] = '\\';
			out[used++] = *value;
		} else if (*value == '\n') {
			out[used++] = '\\';
			out[used++] = 'n';
		} else {
			out[used++] = *value;
		}
	}
	out[used] = '\0';
}

#define APPEND(...) format_append(out, size, &used, __VA_ARGS__)

int
metrics_format(char *out, size_t size, const char *program, const char *name,
    const struct metrics_sample *s, uint64_t retry_count, double now)
{
	static const struct {
		const char *metric, *type, *help;
	} defs[] = {
		{ "oplogkit_entries_read_total", "counter", "Oplog entries read (oplog-read: from the source; oplog-apply: from its stream)." },
		{ "oplogkit_bytes_read_total", "counter", "Bytes of those entries." },
		{ "oplogkit_entries_applied_total", "counter", "Writes and commands applied to the target (oplog-apply)." },
		{ "oplogkit_bytes_applied_total", "counter", "Bytes of the stream entries the checkpoint covers (oplog-apply)." },
		{ "oplogkit_batches_total", "counter", "Batches written (oplog-read: reads from the source; oplog-apply: bulk writes)." },
		{ "oplogkit_errors_total", "counter", "Failures counted and passed over (conflicts, refused commands, lost cursors)." },
		{ "oplogkit_retries_total", "counter", "Server calls retried after a network or availability error." },
		{ "oplogkit_lag_seconds", "gauge", "Age of the oldest source change not yet passed on; 0 when caught up." },
		{ "oplogkit_lag_entries", "gauge", "Entries not yet passed on; 0 when caught up." },
		{ "oplogkit_checkpoint_timestamp_seconds", "gauge", "The last oplog ts passed on: its seconds." },
		{ "oplogkit_checkpoint_increment", "gauge", "The last oplog ts passed on: its increment." },
		{ "oplogkit_phase", "gauge", "The program's phase: 1 on the current one." },
		{ "oplogkit_metrics_updated_timestamp_seconds", "gauge", "When this file was written (Unix seconds)." },
	};
	char labels[512], program_text[128], name_text[256], phase_text[64];
	double lag = metrics_lag_seconds(s, now);
	double values[12];
	size_t used = 0, k;

	label_escape(program, program_text, sizeof(program_text));
	label_escape(name != NULL ? name : "", name_text, sizeof(name_text));
	label_escape(s->phase != NULL ? s->phase : "", phase_text, sizeof(phase_text));
	snprintf(labels, sizeof(labels), "program=\"%s\",name=\"%s\"", program_text, name_text);
	values[0] = (double)s->entries_read;
	values[1] = (double)s->bytes_read;
	values[2] = (double)s->entries_applied;
	values[3] = (double)s->bytes_applied;
	values[4] = (double)s->batches;
	values[5] = (double)s->errors;
	values[6] = (double)retry_count;
	values[7] = lag;
	values[8] = s->caught_up ? 0.0 : (double)s->pending_entries;
	values[9] = (double)s->checkpoint.t;
	values[10] = (double)s->checkpoint.i;
	for (k = 0; k < sizeof(defs) / sizeof(defs[0]); k++) {
		if ((s->no_stream && k <= 4) || (s->no_lag && k >= 7 && k <= 10))
			continue;	/* not this program's: no line rather than a zero */
		APPEND("# HELP %s %s\n# TYPE %s %s\n", defs[k].metric, defs[k].help, defs[k].metric,
		    defs[k].type);
		if (k == 8 && !s->caught_up && !s->pending_known)
			continue;	/* unknown: no sample rather than a made-up one */
		if (k < 7 || k == 8 || k == 9 || k == 10)
			APPEND("%s{%s} %.0f\n", defs[k].metric, labels, values[k]);
		else if (k == 7)
			APPEND("%s{%s} %.3f\n", defs[k].metric, labels, values[k]);
		else if (k == 11)
			APPEND("%s{%s,phase=\"%s\"} 1\n", defs[k].metric, labels, phase_text);
		else
			APPEND("%s{%s} %.3f\n", defs[k].metric, labels, now);
	}
	if (s->snapshot) {
		APPEND("# HELP oplogkit_documents_done_total Snapshot documents copied.\n"
		    "# TYPE oplogkit_documents_done_total counter\n"
		    "oplogkit_documents_done_total{%s} %" PRIu64 "\n", labels, s->documents_done);
		APPEND("# HELP oplogkit_document_bytes_done_total Bytes of those documents.\n"
		    "# TYPE oplogkit_document_bytes_done_total counter\n"
		    "oplogkit_document_bytes_done_total{%s} %" PRIu64 "\n", labels,
		    s->document_bytes_done);
		/* Unknown totals: no sample rather than a made-up one. */
		APPEND("# HELP oplogkit_documents_estimated Snapshot documents in all, as the source's stats say.\n"
		    "# TYPE oplogkit_documents_estimated gauge\n");
		if (s->documents_total_known)
			APPEND("oplogkit_documents_estimated{%s} %" PRIu64 "\n", labels,
			    s->documents_total);
		APPEND("# HELP oplogkit_document_bytes_estimated Their bytes, as the source's stats say.\n"
		    "# TYPE oplogkit_document_bytes_estimated gauge\n");
		if (s->document_bytes_total_known)
			APPEND("oplogkit_document_bytes_estimated{%s} %" PRIu64 "\n", labels,
			    s->document_bytes_total);
	}
	for (k = 0; k < s->extra_count && k < METRICS_EXTRA_MAX; k++) {
		double value = s->extra[k].value;

		/* Counts as integers, as the common counters are; seconds to the millisecond. */
		APPEND("# HELP %s %s\n# TYPE %s %s\n%s{%s} ", s->extra[k].metric, s->extra[k].help,
		    s->extra[k].metric, s->extra[k].type, s->extra[k].metric, labels);
		APPEND(value == floor(value) ? "%.0f\n" : "%.3f\n", value);
	}
	return used > (size_t)INT32_MAX ? -1 : (int)used;
}

void
metrics_extra_add(struct metrics_sample *sample, const char *metric, const char *type,
    const char *help, double value)
{
	if (sample->extra_count >= METRICS_EXTRA_MAX)
		die(EXIT_LOCAL, "metrics: more than %d of %s's own", METRICS_EXTRA_MAX, die_progname());
	sample->extra[sample->extra_count++] = (struct metrics_extra){ metric, type, help, value };
}

/* A JSON string's content: ", \ and control characters escaped. */
static void
json_escape(const char *value, char *out, size_t size)
{
	size_t used = 0;

	for (; *value != '\0' && used + 7 < size; value++) {
		unsigned char c = (unsigned char)*value;

		if (c == '"' || c == '\\') {
			out[used++] = '\\';
			out[used++] = (char)c;
		} else if (c < 0x20) {
			used += (size_t)snprintf(out + used, size - used, "\\u%04x", c);
		} else {
			out[used++] = (char)c;
		}
	}
	out[used] = '\0';
}

int
metrics_format_line(char *out, size_t size, const char *program, const char *name,
    const struct metrics_sample *s, uint64_t retry_count, double now)
{
	char program_text[128], name_text[512], phase_text[128], lag_entries[32], snapshot[256];
	char extra[1024], stream[256], lag[160];
	size_t k, extra_used = 0;

	json_escape(program, program_text, sizeof(program_text));
	json_escape(name != NULL ? name : "", name_text, sizeof(name_text));
	json_escape(s->phase != NULL ? s->phase : "", phase_text, sizeof(phase_text));
	if (s->caught_up)
		snprintf(lag_entries, sizeof(lag_entries), "0");
	else if (s->pending_known)
		snprintf(lag_entries, sizeof(lag_entries), "%" PRIu64, s->pending_entries);
	else
		snprintf(lag_entries, sizeof(lag_entries), "null");
	snapshot[0] = '\0';
	if (s->snapshot) {
		char documents_total[32] = "null", bytes_total[32] = "null";

		if (s->documents_total_known)
			snprintf(documents_total, sizeof(documents_total), "%" PRIu64, s->documents_total);
		if (s->document_bytes_total_known)
			snprintf(bytes_total, sizeof(bytes_total), "%" PRIu64, s->document_bytes_total);
		snprintf(snapshot, sizeof(snapshot), ", \"documents\": %" PRIu64 ", \"document_bytes\": %"
		    PRIu64 ", \"documents_total\": %s, \"document_bytes_total\": %s",
		    s->documents_done, s->document_bytes_done, documents_total, bytes_total);
	}
	extra[0] = '\0';
	for (k = 0; k < s->extra_count && k < METRICS_EXTRA_MAX; k++) {
		const char *key = s->extra[k].metric;

		if (strncmp(key, "oplogkit_", 9) == 0)
			key += 9;
		format_append(extra, sizeof(extra), &extra_used, s->extra[k].value ==
		    floor(s->extra[k].value) ? ", \"%s\": %.0f" : ", \"%s\": %.3f", key,
		    s->extra[k].value);
	}
	/* Lines a program leaves out of the file are null or absent here too. */
	stream[0] = '\0';
	if (!s->no_stream)
		snprintf(stream, sizeof(stream), ", \"entries_read\": %" PRIu64 ", \"bytes_read\": %"
		    PRIu64 ", \"entries_applied\": %" PRIu64 ", \"bytes_applied\": %" PRIu64
		    ", \"batches\": %" PRIu64, s->entries_read, s->bytes_read, s->entries_applied,
		    s->bytes_applied, s->batches);
	if (s->no_lag)
		snprintf(lag, sizeof(lag), "\"lag_seconds\": null, \"lag_entries\": null, "
		    "\"checkpoint\": null");
	else
		snprintf(lag, sizeof(lag), "\"lag_seconds\": %.3f, \"lag_entries\": %s, "
		    "\"checkpoint\": {\"t\": %" PRIu32 ", \"i\": %" PRIu32 "}",
		    metrics_lag_seconds(s, now), lag_entries, s->checkpoint.t, s->checkpoint.i);
	return snprintf(out, size, "{\"time\": %.3f, \"program\": \"%s\", \"name\": \"%s\", "
	    "\"phase\": \"%s\"%s, \"errors\": %" PRIu64 ", \"retries\": %" PRIu64 ", %s%s%s}\n",
	    now, program_text, name_text, phase_text, stream, s->errors, retry_count, lag, snapshot,
	    extra);
}

/* Append one line to the log: false (errno set) when it could not. */
static bool
append_line(const struct metrics_sample *sample, uint64_t retry_count, double now)
{
	char line[4096];
	int length = metrics_format_line(line, sizeof(line), die_progname(), metrics.name, sample,
	    retry_count, now);

	if (length < 0 || (size_t)length >= sizeof(line)) {
		errno = EOVERFLOW;
		return false;
	}
	/* One write: O_APPEND puts it whole at the end, whoever else appends. */
	return write(metrics.log_fd, line, (size_t)length) == length;
}

/* Write the file once: false (errno set) when it could not. */
static bool
write_file(const struct metrics_sample *sample, uint64_t retry_count, double now)
{
	char text[TEXT_MAX];
	char *temp;
	const char *slash;
	int length, fd;
	bool ok;

	if (metrics.path == NULL)
		return true;
	slash = strrchr(metrics.path, '/');
	length = metrics_format(text, sizeof(text), die_progname(), metrics.name, sample,
	    retry_count, now);
	if (length < 0 || (size_t)length >= sizeof(text)) {
		errno = EOVERFLOW;
		return false;
	}
	/* .NAME.XXXXXX beside the file: same file system, so rename is atomic. */
	if (asprintf(&temp, "%.*s.%s.XXXXXX", slash != NULL ? (int)(slash - metrics.path + 1) : 0,
	    metrics.path, slash != NULL ? slash + 1 : metrics.path) < 0)
		return false;
	fd = mkstemp(temp);
	if (fd < 0) {
		free(temp);
		return false;
	}
	ok = fchmod(fd, 0644) == 0 && write(fd, text, (size_t)length) == length;
	ok = close(fd) == 0 && ok;
	ok = ok && rename(temp, metrics.path) == 0;
	if (!ok) {
		int saved = errno;

		unlink(temp);
		errno = saved;
	}
	free(temp);
	return ok;
}

/* Copy the state under the lock, write outside it. */
static void
write_now(void)
{
	struct metrics_sample sample;
	double now;

	pthread_mutex_lock(&metrics.lock);
	sample = metrics.sample;
	sample.phase = metrics.phase;
	pthread_mutex_unlock(&metrics.lock);
	now = wall_seconds();
	if (!write_file(&sample, atomic_load(&retries), now) && !metrics.warned) {
		metrics.warned = true;
		warnmsg("--metrics %s: cannot write it: %s (going on without it)", metrics.path,
		    strerror(errno));
	}
	if (metrics.log_fd >= 0 && !append_line(&sample, atomic_load(&retries), now) &&
	    !metrics.log_warned) {
		metrics.log_warned = true;
		warnmsg("--metrics-log %s: cannot append to it: %s (going on without it)",
		    metrics.log_path, strerror(errno));
	}
}

static void *
writer_run(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&metrics.lock);
	while (!metrics.stopping) {
		struct timespec deadline = clock_deadline(CLOCK_REALTIME, WRITE_EVERY_MS);

		pthread_cond_timedwait(&metrics.wake, &metrics.lock, &deadline);
		if (metrics.stopping)
			break;
		pthread_mutex_unlock(&metrics.lock);
		write_now();
		pthread_mutex_lock(&metrics.lock);
	}
	pthread_mutex_unlock(&metrics.lock);
	return NULL;
}

static void
stop_at_exit(void)
{
	if (metrics.on && !metrics.stopped)
		metrics_stop("exited");
}

void
metrics_start(const char *path, const char *log_path, const char *name)
{
	if (path == NULL && log_path == NULL)
		return;
	metrics.path = path != NULL ? xstrdup(path) : NULL;
	metrics.name = name != NULL ? xstrdup(name) : NULL;
	snprintf(metrics.phase, sizeof(metrics.phase), "starting");
	metrics.sample.caught_up = true;
	metrics.sample.phase = metrics.phase;
	if (!write_file(&metrics.sample, 0, wall_seconds()))
		die(EXIT_USAGE, "--metrics %s: %s", path, strerror(errno));
	if (log_path != NULL) {
		metrics.log_path = xstrdup(log_path);
		metrics.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (metrics.log_fd < 0 || !append_line(&metrics.sample, 0, wall_seconds()))
			die(EXIT_USAGE, "--metrics-log %s: %s", log_path, strerror(errno));
	}
	metrics.on = true;
	if (pthread_create(&metrics.writer, NULL, writer_run, NULL) != 0)
		die(EXIT_DIFFERENT, "--metrics: cannot start its thread");
	atexit(stop_at_exit);
}

void
metrics_update(const struct metrics_sample *sample)
{
	if (!metrics.on)
		return;
	pthread_mutex_lock(&metrics.lock);
	metrics.sample = *sample;
	if (sample->phase != NULL)
		snprintf(metrics.phase, sizeof(metrics.phase), "%s", sample->phase);
	metrics.sample.phase = NULL;
	pthread_mutex_unlock(&metrics.lock);
}

void
metrics_count_retry(void)
{
	atomic_fetch_add(&retries, 1);
}

void
metrics_stop(const char *phase)
{
	if (!metrics.on || metrics.stopped)
		return;
	pthread_mutex_lock(&metrics.lock);
	metrics.stopping = true;
	snprintf(metrics.phase, sizeof(metrics.phase), "%s", phase);
	pthread_cond_signal(&metrics.wake);
	pthread_mutex_unlock(&metrics.lock);
	/* From exit() in another thread the writer may be gone already: join only our own. */
	pthread_join(metrics.writer, NULL);
	metrics.stopped = true;
	write_now();
}
