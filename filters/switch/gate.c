/*
 * gate.c - entry-switch's waits on the applier's checkpoint: the lag gate
 * before the fence, the drain to the source's newest ts inside it; then
 * --verify-cmd, the operator's last word before the entry moves.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "control.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "mongo-errors.h"
#include "shell.h"
#include "switch.h"

/* ---- step 1: the lag gate ---- */

bool
lag_wait(struct cutover *x, char *why, size_t size)
{
	struct timespec start;
	bson_error_t error;
	struct lag lag;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (lag_measure(x->source, x->target, x->config->name, &lag, &error)) {
			switch_metrics_lag(x, &lag);
			if (lag_within(&lag, x->config->lag_ms)) {
				step_done(x, STEP_LAG, "lag %ld s after %ld ms", lag.seconds, clock_ms_since(&start));
				return true;
			}
		} else if (!conn_error_transient(&error)) {
			die(EXIT_SERVER, "lag: %s", error.message);
		}
		if (clock_ms_since(&start) >= x->config->timeout_ms) {
			if (!lag.has_checkpoint)
				snprintf(why, size, "no checkpoint %s on the target after %ld ms", x->config->name,
				    x->config->timeout_ms);
			else
				snprintf(why, size, "lag %ld s still over %ld ms after %ld ms", lag.seconds,
				    x->config->lag_ms, x->config->timeout_ms);
			return false;
		}
		if (!poll_pause()) {
			snprintf(why, size, "interrupted while waiting for the lag");
			return false;
		}
	}
}

/* ---- step 3: the drain ---- */

bool
drain(struct cutover *x, char *why, size_t size)
{
	struct timespec start;
	timestamp_t newest, checkpoint;
	bson_error_t error;
	char text[32];
	bool found;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!conn_newest_ts(x->source, &newest.t, &newest.i, &error)) {
		snprintf(why, size, "the source's newest ts: %s", error.message);
		return false;
	}
	for (;;) {
		if (!lag_checkpoint(x->target, x->config->name, &checkpoint, &found, &error)) {
			snprintf(why, size, "checkpoint %s: %s", x->config->name, error.message);
			return false;
		}
		if (found && ts_compare(checkpoint, newest) >= 0)
			break;
		if (clock_ms_since(&start) >= x->config->drain_timeout_ms) {
			snprintf(why, size, "the checkpoint did not reach %s within %ld ms",
			    ts_format(newest, text, sizeof(text)), x->config->drain_timeout_ms);
			return false;
		}
		if (!poll_pause_ms(DRAIN_POLL_MS)) {
			snprintf(why, size, "interrupted during the drain");
			return false;
		}
	}
	step_done(x, STEP_DRAIN, "checkpoint reached %s in %ld ms", ts_format(newest, text, sizeof(text)),
	    clock_ms_since(&start));
	return true;
}


/* ---- step 4: --verify-cmd ---- */

/*
 * With writes fenced and the target drained, the source stands still:
 * what could not be compared while it was changing (sync-check --recheck
 * of what was in flight) can be now. A failure keeps the entry.
 */
bool
verify(struct cutover *x, char *why, size_t size)
{
	struct timespec start;
	int status;

	if (x->config->verify_cmd == NULL)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if ((status = shell_run("--verify-cmd", x->config->verify_cmd)) != 0) {
		snprintf(why, size, "--verify-cmd failed (status %d)", status);
		return false;
	}
	if (cli_stop) {
		snprintf(why, size, "interrupted during --verify-cmd");
		return false;
	}
	step_done(x, STEP_VERIFY, "--verify-cmd exit 0 in %ld ms", clock_ms_since(&start));
	return true;
}
