/*
 * metrics.c - sync-check --metrics: what a comparison, a recheck or a
 * watch has found so far, for common/metrics.c to write each second.
 *
 * The lag is the one meaning every program's metrics share: the age of
 * the oldest source change the applier has not applied (the first oplog
 * entry after its checkpoint), 0 when its checkpoint is at the source's
 * newest entry, also when the source is idle. The printed line keeps its
 * own "newest ts minus checkpoint ts" (what --max-lag and entry-switch
 * compare); on an idle source both are 0.
 */
#include <string.h>

#include "lag.h"
#include "metrics.h"
#include "check.h"

bool
check_lag_note(struct check *check, mongoc_client_t *source, const struct lag *lag,
    int64_t behind, bson_error_t *error)
{
	struct check_lag note = { .measured = true, .has_checkpoint = lag->has_checkpoint };
	bool found = true;

	note.checkpoint = lag->checkpoint;
	note.caught_up = lag_caught_up(lag);
	note.entries = behind;
	/* The extra read of the source's oplog is for --metrics alone. */
	if ((check->config->metrics != NULL || check->config->metrics_log != NULL) &&
	    note.has_checkpoint && !note.caught_up &&
	    !lag_first_after(source, lag->checkpoint, &note.first_pending, &found, error))
		return false;
	if (!found)
		note.caught_up = true;	/* the entries after it were rolled off or are gone */
	pthread_mutex_lock(&check->lock);
	check->lag = note;
	pthread_mutex_unlock(&check->lock);
	return true;
}

void
check_count_error(struct check *check)
{
	pthread_mutex_lock(&check->lock);
	check->errors++;
	pthread_mutex_unlock(&check->lock);
}

#define COUNTER(metric, help, value) \
	metrics_extra_add(&sample, metric, "counter", help, (double)(value))

void
check_metrics(struct check *check, const char *phase)
{
	const struct check_config *config = check->config;
	struct metrics_sample sample;

	memset(&sample, 0, sizeof(sample));
	sample.no_stream = true;
	sample.phase = phase;
	pthread_mutex_lock(&check->lock);
	sample.errors = check->errors;
	/* No checkpoint (or not measured yet): no lag line rather than a made-up 0. */
	sample.no_lag = !check->lag.measured || !check->lag.has_checkpoint;
	sample.caught_up = check->lag.caught_up;
	sample.oldest_pending = check->lag.first_pending;
	sample.pending_entries = check->lag.entries > 0 ? (uint64_t)check->lag.entries : 0;
	sample.pending_known = true;
	sample.checkpoint = check->lag.checkpoint;
	if (config->recheck != NULL) {
		COUNTER("oplogkit_records_rechecked_total", "Records of the --recheck file looked at again.",
		    check->rechecked);
		COUNTER("oplogkit_documents_in_flight_total",
		    "Rechecked differences with a source change after the checkpoint: no verdict yet.",
		    check->in_flight);
	}
	else if (!config->lag_only && !config->watch) {
		metrics_extra_add(&sample, "oplogkit_namespaces_planned", "gauge",
		    "Namespaces to compare (either side's).", (double)check->task_count);
		COUNTER("oplogkit_namespaces_compared_total", "Namespaces compared whole.",
		    check->namespaces);
	}
	if (!config->lag_only && !config->watch) {
		COUNTER("oplogkit_documents_compared_total", "Documents found on both sides and compared.",
		    check->compared);
		COUNTER("oplogkit_documents_missing_total", "Differences: on the source only.",
		    check->missing);
		COUNTER("oplogkit_documents_extra_total", "Differences: on the target only.",
		    check->extra);
		COUNTER("oplogkit_documents_differ_total",
		    "Differences: on both sides, not the same (documents, options or indexes).",
		    check->differ);
	}
	pthread_mutex_unlock(&check->lock);
	metrics_update(&sample);
}
