/*
 * test_metrics - the --metrics file (common/metrics.c): its text is the
 * Prometheus text format (HELP/TYPE before each metric, label values
 * escaped, one sample each), lag follows the one definition (0 when
 * caught up, the oldest pending change's age otherwise, never negative),
 * and the file is replaced whole: a reader polling it meanwhile never
 * sees a partial file, and no temp file stays behind.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "die.h"
#include "metrics.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "test_metrics:%d: ", __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
	} \
} while (0)

static struct metrics_sample
sample_behind(void)
{
	struct metrics_sample s;

	memset(&s, 0, sizeof(s));
	s.entries_read = 1200;
	s.bytes_read = 345678;
	s.entries_applied = 1100;
	s.bytes_applied = 300000;
	s.batches = 12;
	s.errors = 1;
	s.caught_up = false;
	s.oldest_pending = (timestamp_t){ 1000, 7 };
	s.pending_entries = 100;
	s.pending_known = true;
	s.checkpoint = (timestamp_t){ 990, 3 };
	s.phase = "applying";
	return s;
}

/* Every non-comment line is NAME{LABELS} VALUE, preceded by its HELP and TYPE. */
static void
check_text_format(const char *text)
{
	char *copy = xstrdup(text), *line, *save = NULL;
	char typed[128] = "";
	int samples = 0;

	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[128];

		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (sscanf(line, "# TYPE %127s", typed) == 1) {
			CHECK(strstr(line, " counter") != NULL || strstr(line, " gauge") != NULL,
			    "bad TYPE line: %s", line);
			continue;
		}
		CHECK(sscanf(line, "%127[a-z_]{", name) == 1, "not a sample line: %s", line);
		CHECK(strcmp(name, typed) == 0, "sample %s without its TYPE (last: %s)", name, typed);
		CHECK(strstr(line, "} ") != NULL, "no value: %s", line);
		samples++;
	}
	CHECK(samples == 13, "%d samples, want 13", samples);
	free(copy);
}

static void
test_format(void)
{
	/*
	 * The samples sample_behind() gives, as lines. Lag: the oldest pending
	 * change (t 1000) at now 1012.5.
	 */
	static const char *const lines[] = {
		"oplogkit_entries_read_total{program=\"oplog-apply\",name=\"mig\"} 1200\n",
		"oplogkit_bytes_applied_total{program=\"oplog-apply\",name=\"mig\"} 300000\n",
		"oplogkit_retries_total{program=\"oplog-apply\",name=\"mig\"} 4\n",
		"oplogkit_lag_seconds{program=\"oplog-apply\",name=\"mig\"} 12.500\n",
		"oplogkit_lag_entries{program=\"oplog-apply\",name=\"mig\"} 100\n",
		"oplogkit_checkpoint_timestamp_seconds{program=\"oplog-apply\",name=\"mig\"} 990\n",
		"oplogkit_checkpoint_increment{program=\"oplog-apply\",name=\"mig\"} 3\n",
		"oplogkit_phase{program=\"oplog-apply\",name=\"mig\",phase=\"applying\"} 1\n",
		"oplogkit_metrics_updated_timestamp_seconds{program=\"oplog-apply\",name=\"mig\"} 1012.500\n",
	};
	struct metrics_sample s = sample_behind();
	size_t k;
	char text[8192];
	int length = metrics_format(text, sizeof(text), "oplog-apply", "mig", &s, 4, 1012.5);

	CHECK(length > 0 && (size_t)length == strlen(text), "length %d", length);
	check_text_format(text);
	for (k = 0; k < sizeof(lines) / sizeof(lines[0]); k++)
		CHECK(strstr(text, lines[k]) != NULL, "no line %s in:\n%s", lines[k], text);
	CHECK(text[strlen(text) - 1] == '\n', "no final newline");

	/* A name with a quote, a backslash and a newline is escaped. */
	metrics_format(text, sizeof(text), "oplog-read", "a\"b\\c\nd", &s, 0, 1012.5);
	CHECK(strstr(text, "name=\"a\\\"b\\\\c\\nd\"") != NULL, "escaping: %s", text);
	/* Too small a buffer: the size needed, as snprintf. */
	CHECK(metrics_format(text, 10, "oplog-apply", "mig", &s, 4, 1012.5) == length, "size needed");
}

static void
test_lag(void)
{
	struct metrics_sample s = sample_behind();
	char text[8192];

	CHECK(metrics_lag_seconds(&s, 1012.5) == 12.5, "behind");
	/* Caught up: 0, however old the last change (an idle source). */
	s.caught_up = true;
	CHECK(metrics_lag_seconds(&s, 99999.0) == 0, "caught up");
	metrics_format(text, sizeof(text), "oplog-apply", "mig", &s, 0, 99999.0);
	CHECK(strstr(text, "oplogkit_lag_seconds{program=\"oplog-apply\",name=\"mig\"} 0.000\n") != NULL &&
	    strstr(text, "oplogkit_lag_entries{program=\"oplog-apply\",name=\"mig\"} 0\n") != NULL,
	    "caught up text");
	/* Entries behind unknown (oplog-read): the sample is left out, not made up. */
	s = sample_behind();
	s.pending_known = false;
	metrics_format(text, sizeof(text), "oplog-read", "", &s, 0, 1012.5);
	CHECK(strstr(text, "# TYPE oplogkit_lag_entries gauge\n# HELP oplogkit_checkpoint") != NULL,
	    "unknown lag entries: %s", text);
	/* A source clock ahead of ours: 0, not negative. */
	s = sample_behind();
	CHECK(metrics_lag_seconds(&s, 990.0) == 0, "clock skew");
}

/* A log line is one line of JSON with the same numbers; null where unknown. */
static void
test_log_line(void)
{
	struct metrics_sample s = sample_behind();
	char line[2048];
	bson_error_t error;
	bson_t *doc;
	bson_iter_t iter;
	int length = metrics_format_line(line, sizeof(line), "oplog-apply", "m\"x\n", &s, 4, 1012.5);

	CHECK(length > 0 && line[length - 1] == '\n' && strchr(line, '\n') == line + length - 1,
	    "not one line: %s", line);
	doc = bson_new_from_json((const uint8_t *)line, length - 1, &error);
	CHECK(doc != NULL, "not JSON (%s): %s", error.message, line);
	if (doc == NULL)
		return;
	CHECK(bson_iter_init_find(&iter, doc, "name") && strcmp(bson_iter_utf8(&iter, NULL), "m\"x\n") == 0,
	    "name: %s", line);
	CHECK(bson_iter_init_find(&iter, doc, "lag_seconds") && bson_iter_as_double(&iter) == 12.5,
	    "lag: %s", line);
	CHECK(bson_iter_init_find(&iter, doc, "entries_applied") && bson_iter_as_int64(&iter) == 1100,
	    "applied: %s", line);
	CHECK(bson_iter_init_find(&iter, doc, "retries") && bson_iter_as_int64(&iter) == 4, "retries");
	bson_destroy(doc);
	s.pending_known = false;
	metrics_format_line(line, sizeof(line), "oplog-read", "", &s, 0, 1012.5);
	CHECK(strstr(line, "\"lag_entries\": null") != NULL, "unknown entries: %s", line);
}

/*
 * A program's own numbers (sync-check, entry-proxy, entry-switch): each
 * with its HELP and TYPE, counts as integers, seconds to the millisecond;
 * the oplog counters and the lag it does not have are left out, not 0.
 */
static void
test_extra(void)
{
	struct metrics_sample s;
	char text[8192], line[4096];
	bson_error_t error;
	bson_iter_t iter;
	bson_t *doc;
	int length;

	memset(&s, 0, sizeof(s));
	s.no_stream = s.no_lag = true;
	s.phase = "paused";
	metrics_extra_add(&s, "oplogkit_proxy_connections", "gauge", "Open now.", 3);
	metrics_extra_add(&s, "oplogkit_switch_window_seconds", "gauge", "The window.", 0.25);
	metrics_format(text, sizeof(text), "entry-proxy", "", &s, 0, 1000);
	CHECK(strstr(text, "# HELP oplogkit_proxy_connections Open now.\n"
	    "# TYPE oplogkit_proxy_connections gauge\n"
	    "oplogkit_proxy_connections{program=\"entry-proxy\",name=\"\"} 3\n") != NULL, "%s", text);
	CHECK(strstr(text, "oplogkit_switch_window_seconds{program=\"entry-proxy\",name=\"\"} 0.250\n")
	    != NULL, "%s", text);
	CHECK(strstr(text, "oplogkit_entries_read_total") == NULL && strstr(text, "oplogkit_batches") == NULL &&
	    strstr(text, "oplogkit_lag_seconds") == NULL &&
	    strstr(text, "oplogkit_checkpoint_timestamp_seconds") == NULL, "not its own: %s", text);
	CHECK(strstr(text, "phase=\"paused\"} 1\n") != NULL && strstr(text, "oplogkit_errors_total{") != NULL,
	    "%s", text);
	length = metrics_format_line(line, sizeof(line), "entry-proxy", "", &s, 0, 1000);
	doc = bson_new_from_json((const uint8_t *)line, length - 1, &error);
	CHECK(doc != NULL, "not JSON (%s): %s", error.message, line);
	if (doc == NULL)
		return;
	CHECK(bson_iter_init_find(&iter, doc, "proxy_connections") && bson_iter_as_int64(&iter) == 3,
	    "%s", line);
	CHECK(bson_iter_init_find(&iter, doc, "lag_seconds") && BSON_ITER_HOLDS_NULL(&iter), "%s", line);
	CHECK(!bson_iter_init_find(&iter, doc, "entries_read"), "%s", line);
	bson_destroy(doc);
}

/* A reader polling the file while it is rewritten sees only whole files. */
static atomic_bool done;
static const char *watched;
static atomic_int torn, reads;

static void *
poll_file(void *unused)
{
	char text[8192];

	(void)unused;
	while (!atomic_load(&done)) {
		FILE *file = fopen(watched, "r");
		size_t length;

		if (file == NULL)
			continue;
		length = fread(text, 1, sizeof(text) - 1, file);
		fclose(file);
		text[length] = '\0';
		atomic_fetch_add(&reads, 1);
		if (length == 0 || strstr(text, "oplogkit_metrics_updated_timestamp_seconds{") == NULL ||
		    text[length - 1] != '\n')
			atomic_fetch_add(&torn, 1);
	}
	return NULL;
}

static void
test_atomic_rewrite(void)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[256], log_path[256], line[2048];
	struct metrics_sample s = sample_behind();
	pthread_t reader;
	DIR *listing;
	struct dirent *item;
	int files = 0, k;
	char text[8192];
	FILE *file;
	size_t length;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/oplogkit.prom", dir);
	snprintf(log_path, sizeof(log_path), "%s/timeline.jsonl", dir);
	watched = path;
	metrics_start(path, log_path, "mig");
	pthread_create(&reader, NULL, poll_file, NULL);
	/* Three rewrites a second apart, with the numbers changing between. */
	for (k = 0; k < 30; k++) {
		s.entries_read += 10;
		metrics_update(&s);
		usleep(100 * 1000);
	}
	s.entries_read = 4242;
	s.phase = "following";
	metrics_update(&s);
	metrics_stop("done");
	atomic_store(&done, true);
	pthread_join(reader, NULL);
	CHECK(atomic_load(&reads) > 0 && atomic_load(&torn) == 0, "%d of %d reads saw a partial file",
	    atomic_load(&torn), atomic_load(&reads));
	/* The last write has the last numbers and the phase given to stop. */
	file = fopen(path, "r");
	CHECK(file != NULL, "no file");
	if (file != NULL) {
		length = fread(text, 1, sizeof(text) - 1, file);
		text[length] = '\0';
		fclose(file);
		check_text_format(text);
		CHECK(strstr(text, "oplogkit_entries_read_total{program=\"test_metrics\",name=\"mig\"} 4242\n") != NULL,
		    "last numbers: %s", text);
		CHECK(strstr(text, "phase=\"done\"} 1\n") != NULL, "last phase: %s", text);
	}
	/* Only the file: every temp file was renamed over it. */
	listing = opendir(dir);
	while (listing != NULL && (item = readdir(listing)) != NULL)
		if (item->d_name[0] != '.' || strncmp(item->d_name, ".oplogkit.prom.", 15) == 0)
			files++;
	if (listing != NULL)
		closedir(listing);
	CHECK(files == 2, "%d files in %s, want only oplogkit.prom and the log", files, dir);
	/* The log: a line at the start, then each write; the last is the stop's. */
	file = fopen(log_path, "r");
	CHECK(file != NULL, "no log");
	k = 0;
	while (file != NULL && fgets(line, sizeof(line), file) != NULL) {
		bson_error_t error;
		bson_t *doc = bson_new_from_json((const uint8_t *)line, -1, &error);

		CHECK(doc != NULL, "log line %d not JSON: %s", k + 1, line);
		bson_destroy(doc);
		k++;
	}
	if (file != NULL)
		fclose(file);
	CHECK(k >= 2 && strstr(line, "\"phase\": \"done\"") != NULL && strstr(line, "\"entries_read\": 4242,") != NULL,
	    "%d log lines, the last: %s", k, line);
	unlink(log_path);
	unlink(path);
	rmdir(dir);
}

/*
 * snap-export and snap-import's documents against the estimate: their
 * lines only with snapshot set (the oplog programs' file is unchanged),
 * and a total left out (file) or null (log) when unknown, never 0.
 */
static void
test_snapshot(void)
{
	struct metrics_sample s;
	char text[8192], line[2048];

	memset(&s, 0, sizeof(s));
	s.caught_up = true;
	s.phase = "copying";
	metrics_format(text, sizeof(text), "oplog-read", "", &s, 0, 1000.0);
	CHECK(strstr(text, "oplogkit_documents") == NULL, "an oplog program got snapshot lines");
	metrics_format_line(line, sizeof(line), "oplog-read", "", &s, 0, 1000.0);
	CHECK(strstr(line, "documents") == NULL, "an oplog program's log line got documents");

	s.snapshot = true;
	s.documents_done = 40;
	s.document_bytes_done = 4000;
	s.documents_total_known = true;
	s.documents_total = 100;
	metrics_format(text, sizeof(text), "snap-import", "", &s, 0, 1000.0);
	CHECK(strstr(text, "\noplogkit_documents_done_total{program=\"snap-import\",name=\"\"} 40\n") != NULL,
	    "no documents done: %s", text);
	CHECK(strstr(text, "\noplogkit_documents_estimated{program=\"snap-import\",name=\"\"} 100\n") != NULL,
	    "no documents total: %s", text);
	CHECK(strstr(text, "\noplogkit_document_bytes_estimated{") == NULL,
	    "an unknown byte total has a sample: %s", text);
	metrics_format_line(line, sizeof(line), "snap-import", "", &s, 0, 1000.0);
	CHECK(strstr(line, "\"checkpoint\": {\"t\": 0, \"i\": 0}, \"documents\": 40, "
	    "\"document_bytes\": 4000, \"documents_total\": 100, \"document_bytes_total\": null}\n")
	    != NULL, "log line: %s", line);
}

int
main(int argc, char **argv)
{
	(void)argc;
	die_init(argv[0]);
	test_format();
	test_lag();
	test_log_line();
	test_extra();
	test_atomic_rewrite();
	test_snapshot();
	if (failures > 0)
		fprintf(stderr, "test_metrics: %d failed\n", failures);
	return failures > 0;
}
