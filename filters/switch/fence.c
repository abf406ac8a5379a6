/*
 * fence.c - entry-switch's write fence: setUserWriteBlockMode, fsyncLock,
 * --fence-cmd or entry-proxy's pause, raised and lifted.
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

const char *const fence_names[FENCE_NONE + 1] = {
	"auto", "write-block", "fsync-lock", "command", "proxy", "none",
};

/* ---- step 2: the fence ---- */

/* Whether a command failed because the server does not have it. */
static bool
command_missing(const bson_error_t *error)
{
	switch (error->code) {
	case MONGO_ILLEGAL_OPERATION:	/* not on this kind of server */
	case MONGO_COMMAND_NOT_FOUND:
	case MONGO_COMMAND_NOT_SUPPORTED:
	case MONGO_NOT_IMPLEMENTED:
		return true;
	}
	return strstr(error->message, "no such command") != NULL ||
	    strstr(error->message, "not implemented") != NULL;
}

static enum attempt
try_write_block(struct cutover *x, char *why, size_t size)
{
	bson_t *command = BCON_NEW("setUserWriteBlockMode", BCON_INT32(1), "global", BCON_BOOL(true));
	bson_error_t error;
	bson_t reply;
	bool ok = conn_command(x->source, "admin", command, &reply, &error);

	bson_destroy(command);
	bson_destroy(&reply);
	if (ok)
		return RAISED;
	if (command_missing(&error))
		return MISSING;
	snprintf(why, size, "setUserWriteBlockMode: %s", error.message);
	return FAILED;
}

static enum attempt
try_fsync_lock(struct cutover *x, char *why, size_t size)
{
	bson_t *command = BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true));
	bson_error_t error;
	bson_iter_t iter;
	bson_t reply;
	bool ok = conn_command(x->source, "admin", command, &reply, &error), locked;

	bson_destroy(command);
	/* A server that flushes but ignores lock says ok without a lockCount: no fence. */
	locked = ok && bson_iter_init_find(&iter, &reply, "lockCount") &&
	    BSON_ITER_HOLDS_NUMBER(&iter) && bson_iter_as_int64(&iter) > 0;
	bson_destroy(&reply);
	if (locked)
		return RAISED;
	if (ok || command_missing(&error))
		return MISSING;
	snprintf(why, size, "fsyncLock: %s", error.message);
	return FAILED;
}

static enum attempt
try_command(struct cutover *x, char *why, size_t size)
{
	int status;

	if (x->config->fence_cmd == NULL)
		return MISSING;
	if ((status = shell_run("--fence-cmd", x->config->fence_cmd)) == 0)
		return RAISED;
	snprintf(why, size, "--fence-cmd failed (status %d)", status);
	/* It may have raised part of its fence before it failed: undo that. */
	if (x->config->unfence_cmd != NULL)
		shell_run("--unfence-cmd", x->config->unfence_cmd);
	return FAILED;
}

/* ---- step 2: up and down ---- */

bool
fence_up(struct cutover *x, char *why, size_t size)
{
	static enum attempt (*const methods[])(struct cutover *, char *, size_t) = {
		[FENCE_WRITE_BLOCK] = try_write_block,
		[FENCE_FSYNC_LOCK] = try_fsync_lock,
		[FENCE_COMMAND] = try_command,
		[FENCE_PROXY] = try_proxy,
	};
	enum fence_method method, first, last;
	enum attempt attempt = MISSING;

	if (x->config->fence == FENCE_NONE) {
		x->fence = FENCE_NONE;
		step_done(x, STEP_FENCE, "none (--no-fence)");
		return true;
	}
	clock_gettime(CLOCK_MONOTONIC, &x->fence_started);
	first = x->config->fence == FENCE_AUTO ? FENCE_WRITE_BLOCK : x->config->fence;
	last = x->config->fence == FENCE_AUTO ? FENCE_COMMAND : x->config->fence;
	for (method = first; method <= last; method++) {
		attempt = methods[method](x, why, size);
		if (attempt == FAILED)
			return false;
		if (attempt == RAISED)
			break;
	}
	if (attempt != RAISED) {
		snprintf(why, size, "refused: the source has no %s and no --fence-cmd was given "
		    "(or --no-fence, or --proxy)", x->config->fence == FENCE_AUTO ? "write blocking or fsyncLock"
		    : fence_names[x->config->fence]);
		return false;
	}
	x->fence = method;
	x->fenced = true;
	if (method == FENCE_PROXY) {
		char detail[sizeof(x->steps[STEP_FENCE].detail)];

		snprintf(detail, sizeof(detail), "%s", x->steps[STEP_FENCE].detail);
		step_done(x, STEP_FENCE, "up (proxy %s)", detail);
	} else {
		step_done(x, STEP_FENCE, "up (%s)", fence_names[method]);
	}
	if (cli_stop) {
		snprintf(why, size, "interrupted as the fence went up");
		return false;
	}
	return true;
}

/*
 * Run an admin command on the source, retrying what is transient, and
 * never exiting: the atexit handler lifts the fence with it.
 */
static bool
command_retrying(struct cutover *x, const bson_t *command, bson_error_t *error)
{
	retry_policy policy;
	bson_t reply;
	bool ok;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		ok = mongoc_client_command_simple(x->source, "admin", command, NULL, &reply, error);
		bson_destroy(&reply);
		if (ok || !retry_again(&policy, error))
			return ok;
	}
}

/* Lift the fence raised; writes "; why" to why on failure. */
bool
fence_down(struct cutover *x, char *why, size_t size)
{
	bson_t *command = NULL;
	bson_error_t error;
	bool ok = true;
	int status;

	if (!x->fenced)
		return true;
	switch (x->fence) {
	case FENCE_WRITE_BLOCK:
		command = BCON_NEW("setUserWriteBlockMode", BCON_INT32(1), "global", BCON_BOOL(false));
		break;
	case FENCE_FSYNC_LOCK:
		command = BCON_NEW("fsyncUnlock", BCON_INT32(1));
		break;
	case FENCE_COMMAND:
		if ((status = shell_run("--unfence-cmd", x->config->unfence_cmd)) != 0) {
			snprintf(why, size, "; --unfence-cmd failed (status %d)", status);
			ok = false;
		}
		break;
	case FENCE_PROXY:
		ok = proxy_resume(x, why, size);
		break;
	default:
		break;
	}
	if (command != NULL) {
		if (!(ok = command_retrying(x, command, &error)))
			snprintf(why, size, "; lifting the fence: %s", error.message);
		bson_destroy(command);
	}
	if (ok) {
		x->fenced = false;
		step_done(x, STEP_UNFENCE, "down");
	}
	return ok;
}

