/*
 * run.c - entry-switch's engine: the steps in order (lag gate, fence,
 * drain, verify, switch, unfence), undone on any failure, and the report.
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
#include "metrics.h"
#include "mongo-errors.h"
#include "shell.h"
#include "switch.h"

static const char *const step_names[] = { "lag", "fence", "drain", "verify", "switch", "unfence" };

int
switch_run(const struct switch_config *config, const char *source_uri, const char *target_uri)
{
	struct cutover *x = xcalloc(1, sizeof(*x));
	char why[1024], result[1400];
	bool fenced, lifted;

	/* A copy: the caller's (main's stack) is gone when the atexit handler runs. */
	x->own_config = *config;
	x->config = config = &x->own_config;
	metrics_start(config->metrics, config->metrics_log, config->name);
	switch_metrics(x, "waiting");
	proxy_prepare(x, target_uri);
	entry_prepare(x);
	x->source = conn_open(source_uri, config->conn.tls_ca_file);
	x->target = conn_open(target_uri, config->conn.tls_ca_file);
	clock_gettime(CLOCK_MONOTONIC, &x->started);
	cli_catch_signals();
	emergency_at_exit(x);

	fenced = lag_wait(x, why, sizeof(why)) && fence_up(x, why, sizeof(why));
	if (!fenced && !x->fenced) {
		snprintf(result, sizeof(result), "not switched: %s; nothing changed", why);
		report(x, result);
		exit(EXIT_DIFFERENT);
	}
	/* A fence raised as a signal came is a failure after the fence too. */
	if (!fenced || !drain(x, why, sizeof(why)) || !verify(x, why, sizeof(why)) ||
	    !entry_switch(x, why, sizeof(why))) {
		entry_restore(x);
		lifted = fence_down(x, why + strlen(why), sizeof(why) - strlen(why));
		snprintf(result, sizeof(result), "not switched: %s; %s, entry unchanged", why,
		    lifted ? "fence lifted" : "FENCE STILL UP");
		report(x, result);
		exit(EXIT_DIFFERENT);
	}
	x->committed = true;
	if (!config->keep_fenced && !fence_down(x, why, sizeof(why))) {
		snprintf(result, sizeof(result), "switched, but the fence is still up: %s", why);
		report(x, result);
		exit(EXIT_DIFFERENT);
	}
	report(x, config->keep_fenced ? "switched; fence kept up (--keep-fenced)" : "switched");
	conn_close(x->source);
	conn_close(x->target);
	x->source = x->target = NULL;
	free(x->old_content);
	x->old_content = NULL;
	/* x stays: the atexit handler looks at it (and finds nothing to undo). */
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_LOCAL, "stdout: write failed");
	return EXIT_DONE;
}

/* ---- time ---- */

void
step_done(struct cutover *x, int step, const char *fmt, ...)
{
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &x->steps[step].wall);
	clock_gettime(CLOCK_MONOTONIC, &x->steps[step].mono);
	x->steps[step].done = true;
	va_start(ap, fmt);
	vsnprintf(x->steps[step].detail, sizeof(x->steps[step].detail), fmt, ap);
	va_end(ap);
	switch_metrics_step(x, step);
}

/* Sleep one poll interval of ms; false when a signal asked us to stop. */
bool
poll_pause_ms(long ms)
{
	struct timespec pause = { 0, ms * 1000000L };

	if (!cli_stop)
		nanosleep(&pause, NULL);
	return !cli_stop;
}

bool
poll_pause(void)
{
	return poll_pause_ms(POLL_MS);
}

/* ---- step 6: the report ---- */

void
report(struct cutover *x, const char *result)
{
	char when[64], ts[32];
	struct tm tm;
	int k;

	printf("entry-switch: checkpoint %s\n", x->config->name);
	for (k = 0; k < STEP_COUNT; k++) {
		const struct step *step = &x->steps[k];

		if (!step->done)
			continue;
		gmtime_r(&step->wall.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		printf("%-10s %s.%03ldZ  +%ld ms  %s\n", step_names[k], when,
		    step->wall.tv_nsec / 1000000L, clock_ms_between(&x->started, &step->mono),
		    step->detail);
	}
	if (x->steps[STEP_FENCE].done && x->fence != FENCE_NONE) {
		if (x->steps[STEP_UNFENCE].done)
			printf("%-10s %ld ms\n", "window", clock_ms_between(&x->fence_started,
			    &x->steps[STEP_UNFENCE].mono));
		else
			printf("%-10s open: the fence is up\n", "window");
	}
	if (x->steps[STEP_SWITCH].done)
		printf("%-10s %s\n", "switch-ts", x->has_switch_ts ?
		    ts_format(x->switch_ts, ts, sizeof(ts)) : "none (the target has no oplog)");
	printf("%-10s %s\n", "result", result);
	fflush(stdout);
	switch_metrics_result(x, result);
}
