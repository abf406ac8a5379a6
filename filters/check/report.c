/*
 * report.c - sync-check's servers and output: the pools, the stream or
 * JSON lines of differences, one record per difference, counted.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "ns.h"
#include "order.h"
#include "stream.h"
#include "check.h"

/* Where the differences go, for messages. */
static const char *
output_name(const struct check *check)
{
	return check->config->output != NULL ? check->config->output : "stdout";
}

void
check_open(struct check *check, const struct check_config *config, const char *source_uri,
    const char *target_uri)
{
	memset(check, 0, sizeof(*check));
	check->config = config;
	check->source_pool = conn_open_pool(source_uri, config->conn.tls_ca_file, (int)config->jobs + 1);
	check->target_pool = conn_open_pool(target_uri, config->conn.tls_ca_file, (int)config->jobs + 1);
	if (pthread_mutex_init(&check->lock, NULL) != 0)
		die(EXIT_LOCAL, "pthread_mutex_init failed");
	if (check->config->lag_only || check->config->watch)
		return;
	if (check->config->json) {
		check->json_out = stdout;
		if (config->output != NULL && (check->json_out = fopen(config->output, "w")) == NULL)
			die(EXIT_LOCAL, "%s: %s", check->config->output, strerror(errno));
	} else if ((check->writer = stream_create(check->config->output, 0, false)) == NULL) {
		exit(EXIT_LOCAL);
	}
}

void
check_close(struct check *check)
{
	if (check->writer != NULL && !stream_finish(check->writer))
		exit(EXIT_LOCAL);
	if (check->json_out != NULL && (fflush(check->json_out) != 0 || ferror(check->json_out) ||
	    (check->json_out != stdout && fclose(check->json_out) != 0)))
		die(EXIT_LOCAL, "%s: write failed", output_name(check));
	conn_close_pool(check->source_pool);
	conn_close_pool(check->target_pool);
	pthread_mutex_destroy(&check->lock);
}

/*
 * Write one difference {ns, _id, kind, ...detail} and count it. id may be
 * NULL (a namespace or an index differs); detail's fields follow kind.
 */
void
report(struct check *check, const char *ns, const bson_iter_t *id, const char *kind,
    const bson_t *detail)
{
	bson_t record = BSON_INITIALIZER;
	bson_iter_t iter;
	char *json;

	BSON_APPEND_UTF8(&record, "ns", ns);
	if (id != NULL)
		bson_append_iter(&record, "_id", 3, id);
	BSON_APPEND_UTF8(&record, "kind", kind);
	if (detail != NULL && bson_iter_init(&iter, detail))
		while (bson_iter_next(&iter))
			bson_append_iter(&record, bson_iter_key(&iter), -1, &iter);
	pthread_mutex_lock(&check->lock);
	if (strcmp(kind, "missing") == 0)
		check->missing++;
	else if (strcmp(kind, "extra") == 0)
		check->extra++;
	else if (strcmp(kind, "in-flight") == 0)
		check->in_flight++;
	else
		check->differ++;
	if (check->writer != NULL) {
		if (!stream_write(check->writer, &record))
			exit(EXIT_LOCAL);
	} else {
		if ((json = bson_as_relaxed_extended_json(&record, NULL)) == NULL)
			die(EXIT_BAD_STREAM, "%s: a difference cannot be shown as JSON", ns);
		if (fprintf(check->json_out, "%s\n", json) < 0)
			die(EXIT_LOCAL, "%s: write failed", output_name(check));
		bson_free(json);
	}
	pthread_mutex_unlock(&check->lock);
	bson_destroy(&record);
}

/*
 * A "differs" record for metadata: {ns, kind, what: value, source, target},
 * what being "index" (value: its name) or "options" (value: true).
 */
void
report_pair(struct check *check, const char *ns, const char *what, const char *name,
    const bson_t *source, const bson_t *target)
{
	bson_t detail = BSON_INITIALIZER;

	if (name != NULL)
		BSON_APPEND_UTF8(&detail, what, name);
	else
		BSON_APPEND_BOOL(&detail, what, true);
	BSON_APPEND_DOCUMENT(&detail, "source", source);
	BSON_APPEND_DOCUMENT(&detail, "target", target);
	report(check, ns, NULL, "differs", &detail);
	bson_destroy(&detail);
}

