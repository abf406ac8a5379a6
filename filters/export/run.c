/*
 * run.c - snap-export's engine: member, plan (or the manifest of a first
 * run), then the workers, into one stream or a directory.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "metrics.h"
#include "export.h"

static void
export_free(struct export *x)
{
	int k;

	for (k = 0; k < x->part_count; k++) {
		bson_destroy(&x->parts[k]->filter);
		bson_destroy(&x->parts[k]->before);
		bson_destroy(&x->parts[k]->after);
		free(x->parts[k]);
	}
	free(x->parts);
	bson_destroy(&x->estimates);
	if (x->lock_client != NULL)
		mongoc_client_pool_push(x->pool, x->lock_client);
	conn_close_pool(x->pool);
	mongoc_read_prefs_destroy(x->read_prefs);
	pthread_mutex_destroy(&x->parts_mutex);
	free(x);
}

int
export_run(const struct export_config *config, ns_filter *selection, const char *uri)
{
	struct export *x = xcalloc(1, sizeof(*x));
	stream_writer *writer = NULL;
	mongoc_client_t *client;
	pthread_t *threads;
	bool resumed = false, ok;
	int status;

	x->config = config;
	x->selection = selection;
	bson_init(&x->estimates);
	if (pthread_mutex_init(&x->parts_mutex, NULL) != 0)
		die(EXIT_LOCAL, "pthread_mutex_init failed");
	conn_mask(uri, x->source, sizeof(x->source));
	/* A closed pipe must be an error we handle (and unlock), not a kill. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die(EXIT_LOCAL, "signal: %s", strerror(errno));
	cli_catch_signals();
	metrics_start(config->metrics, config->metrics_log, NULL);

	x->pool = conn_open_pool(uri, config->conn.tls_ca_file, (int)config->jobs + 2);
	client = mongoc_client_pool_pop(x->pool);
	pick_member(x, client);
	if (config->lock)
		lock_member(x);
	if (config->directory)
		resumed = read_manifest(x);
	if (!resumed) {
		choose_t0(x, client);
		plan(x, client);
	}
	mongoc_client_pool_push(x->pool, client);

	if (config->directory) {
		if (!resumed)
			write_manifest(x);
		skip_finished_parts(x);
	} else {
		writer = stream_create(config->output, config->zstd_level, false);
		if (writer == NULL) {
			unlock_member(x);
			export_free(x);
			return EXIT_LOCAL;
		}
	}
	threads = xcalloc((size_t)config->jobs, sizeof(*threads));
	clock_gettime(CLOCK_MONOTONIC, &x->started);
	x->last_report = x->started;
	start_workers(x, threads);
	if (config->directory) {
		ok = wait_for_workers(x, threads);
	} else {
		ok = write_one_stream(x, writer);
		join_workers(x, threads);
	}
	report_progress(x, true);
	unlock_member(x);
	metrics_stop(cli_stop ? "stopped" : ok ? "done" : "failed");
	if (cli_stop)
		die(EXIT_STOPPED, "stopped by a signal: the snapshot is incomplete%s",
		    config->directory ? " (rerun to resume)" : " (no trailer written)");
	status = ok ? EXIT_DONE : atomic_load(&x->server_failed) ? EXIT_SERVER : EXIT_LOCAL;
	free(threads);
	export_free(x);
	return status;
}
