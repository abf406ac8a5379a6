/*
 * metrics.c - entry-switch --metrics: the phase of the cutover (waiting
 * for the lag, fencing, draining, verifying (--verify-cmd), switching,
 * unfencing, then its result:
 * switched; failed: not switched; fenced: switched, but the fence could
 * not be lifted), whether the fence is up (oplogkit_switch_fenced), the
 * write-unavailable window once the fence is down, the switch ts, and
 * while it waits for the lag, the applier's lag in the one meaning every
 * program's metrics share: the age of the oldest source change not yet
 * applied (the first oplog entry after the checkpoint), 0 when caught up.
 *
 * The gate polls every POLL_MS; the lag's extra reads (the first entry
 * after the checkpoint, how many follow it) are made at most once a
 * second, and only with --metrics.
 */
#include <string.h>

#include "clock.h"
#include "die.h"
#include "lag.h"
#include "metrics.h"
#include "switch.h"

#define LAG_EVERY_MS 1000

/* The phase that follows each step (the drain's depends on --verify-cmd). */
static const char *const phase_after[STEP_COUNT] = {
	[STEP_LAG] = "fencing", [STEP_FENCE] = "draining", [STEP_DRAIN] = "verifying",
	[STEP_VERIFY] = "switching", [STEP_SWITCH] = "unfencing", [STEP_UNFENCE] = "unfenced",
};

static bool
metrics_on(const struct cutover *x)
{
	return x->config->metrics != NULL || x->config->metrics_log != NULL;
}

void
switch_metrics(struct cutover *x, const char *phase)
{
	struct metrics_sample sample;
	long window_ms;

	if (phase != NULL)
		x->phase = phase;
	if (!metrics_on(x))
		return;
	memset(&sample, 0, sizeof(sample));
	sample.no_stream = true;
	sample.phase = x->phase;
	sample.no_lag = !x->lag.measured;
	sample.caught_up = x->lag.caught_up;
	sample.oldest_pending = x->lag.first_pending;
	sample.pending_entries = x->lag.entries;
	sample.pending_known = x->lag.entries_known;
	sample.checkpoint = x->lag.checkpoint;
	metrics_extra_add(&sample, "oplogkit_switch_fenced", "gauge",
	    "1 while the fence is up: the applications cannot write.", x->fenced ? 1 : 0);
	if (x->steps[STEP_UNFENCE].done && x->fence != FENCE_NONE) {
		window_ms = clock_ms_between(&x->fence_started, &x->steps[STEP_UNFENCE].mono);
		metrics_extra_add(&sample, "oplogkit_switch_window_seconds", "gauge",
		    "The write-unavailable window: fence up to fence down.", (double)window_ms / 1000.0);
	}
	if (x->has_switch_ts)
		metrics_extra_add(&sample, "oplogkit_switch_timestamp_seconds", "gauge",
		    "The switch ts (the target's newest oplog ts at the switch): its seconds.",
		    (double)x->switch_ts.t);
	metrics_update(&sample);
}

void
switch_metrics_step(struct cutover *x, int step)
{
	if (step == STEP_DRAIN && x->config->verify_cmd == NULL)
		step = STEP_VERIFY;	/* no verify step: the switch is next */
	switch_metrics(x, phase_after[step]);
}

void
switch_metrics_result(struct cutover *x, const char *result)
{
	const char *phase = "failed";

	if (strncmp(result, "switched", 8) == 0)
		phase = x->fenced && !x->config->keep_fenced ? "fenced" : "switched";
	switch_metrics(x, phase);
	metrics_stop(phase);
}

void
switch_metrics_lag(struct cutover *x, const struct lag *lag)
{
	struct cutover_lag note = { .measured = true };
	bson_error_t error;
	bool found = false;
	int64_t entries = 0;

	if (!metrics_on(x) || !lag->has_checkpoint ||
	    (x->lag.measured && clock_ms_since(&x->lag_noted) < LAG_EVERY_MS))
		return;
	clock_gettime(CLOCK_MONOTONIC, &x->lag_noted);
	note.checkpoint = lag->checkpoint;
	note.caught_up = lag_caught_up(lag);
	if (!note.caught_up) {
		/* A failed read leaves the last known lag: the gate reports the server's error. */
		if (!lag_first_after(x->source, lag->checkpoint, &note.first_pending, &found, &error))
			return;
		note.caught_up = !found;
		note.entries_known = lag_entries_after(x->source, lag->checkpoint, &entries, &error);
		note.entries = entries > 0 ? (uint64_t)entries : 0;
	}
	x->lag = note;
	switch_metrics(x, NULL);
}
