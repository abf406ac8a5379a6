/*
 * run.c - snap-import's engine: workers up, the input read into batches,
 * the indexes built once the data is in.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "metrics.h"
#include "import.h"

static void
import_free(struct import *x)
{
	size_t k;

	for (k = 0; k < x->target_count; k++) {
		bson_destroy(&x->targets[k]->indexes);
		free(x->targets[k]);
	}
	free(x->targets);
	free(x);
}

int
import_run(const struct import_config *config, ns_filter *selection, const char *input,
    const char *uri)
{
	struct import *x = xcalloc(1, sizeof(*x));
	pthread_t *threads;
	struct stat info;
	int status = EXIT_DONE;

	x->config = config;
	x->selection = selection;
	cli_catch_signals();
	metrics_start(config->metrics, config->metrics_log, NULL);
	x->pool = conn_open_pool(uri, config->conn.tls_ca_file, (int)config->jobs + 1);
	x->client = mongoc_client_pool_pop(x->pool);
	threads = xcalloc((size_t)config->jobs, sizeof(*threads));
	clock_gettime(CLOCK_MONOTONIC, &x->started);
	x->last_report = x->started;
	start_workers(x, threads);

	if (config->into != NULL) {
		import_documents(x, input, config->into);
	} else if (input != NULL && strcmp(input, "-") != 0 && stat(input, &info) == 0 &&
	    S_ISDIR(info.st_mode)) {
		import_directory(x, input);
	} else {
		stream_reader *reader = stream_open(input);

		if (reader == NULL)
			exit(EXIT_NO_INPUT);
		import_stream(x, reader, false);
		stream_close(reader);
	}
	drain(x);
	if (!atomic_load(&x->failed) && !cli_stop)
		build_indexes(x);
	drain(x);
	stop_workers(x, threads);
	report_progress(x, true);
	metrics_stop(atomic_load(&x->failed) ? "failed" : cli_stop ? "stopped" : "done");
	if (atomic_load(&x->failed))
		die(EXIT_SERVER, "the import failed (see above)");
	if (cli_stop)
		die(EXIT_STOPPED, "stopped by a signal: the import is incomplete");
	mongoc_client_pool_push(x->pool, x->client);
	conn_close_pool(x->pool);
	free(threads);
	import_free(x);
	return status;
}
