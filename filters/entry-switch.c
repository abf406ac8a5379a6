/*
 * entry-switch - the cutover: move the applications from the source to
 * the target with the shortest write pause the servers allow.
 *
 * In order: wait until the applier's lag is within --lag (else give up,
 * nothing changed); fence writes on the source; wait until the applier's
 * checkpoint reaches the source's newest ts, read after the fence is up so
 * no write can slip past it; switch the entry the applications use (a
 * file rewritten or a symlink replaced, each by rename(2), and/or a
 * command); lift the fence; report each step's time, the write-unavailable
 * window (fence up to fence down) and the switch ts, the target's newest
 * oplog ts, where a reverse stream for a rollback would start.
 *
 * With --proxy, entry-proxy is both fence and entry: pause holds the
 * applications' requests (answering once none is in flight), switch
 * points it at the target, resume releases them; the window is the pause.
 *
 * Whatever fails once the fence is up, the fence comes down and the entry
 * is as it was (a replaced file or link is put back); an exit on a path we
 * did not foresee does the same from an atexit handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "control.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "mongo-errors.h"
#include "options.h"
#include "shell.h"

#define POLL_MS 100
#define PROXY_ANSWER_MS 60000	/* a pause answers within the proxy's --pause-timeout */
#define DRAIN_POLL_MS 20	/* the drain is inside the window: look often (a point read) */
#define ENTRY_FILE_MAX (1024 * 1024)	/* an entry is a URI or a config, not data */

enum fence_method { FENCE_AUTO, FENCE_WRITE_BLOCK, FENCE_FSYNC_LOCK, FENCE_COMMAND, FENCE_PROXY,
    FENCE_NONE };

static const char *const fence_names[] = {
	"auto", "write-block", "fsync-lock", "command", "proxy", "none",
};

static struct {
	const char *source, *target, *name;
	struct conn_options conn;
	long lag_ms, timeout_ms, drain_timeout_ms;
	const char *fence_cmd, *unfence_cmd, *switch_cmd;
	const char *entry_file, *entry_value, *entry_link, *entry_target;
	const char *proxy, *proxy_upstream;	/* entry-proxy's control socket, the target's HOST:PORT */
	enum fence_method fence;
	bool fence_given, keep_fenced;
} opt = {
	.name = "default", .lag_ms = 1000, .timeout_ms = 5 * 60 * 1000,
	.drain_timeout_ms = 30 * 1000, .fence = FENCE_AUTO,
};

/* One step of the report: when it ended, and what it says. */
struct step {
	bool done;
	struct timespec wall, mono;
	char detail[512];
};

enum { STEP_LAG, STEP_FENCE, STEP_DRAIN, STEP_SWITCH, STEP_UNFENCE, STEP_COUNT };
static const char *const step_names[] = { "lag", "fence", "drain", "switch", "unfence" };

/* The cutover's state, global so that the atexit handler can undo it. */
static struct {
	mongoc_client_t *source, *target;
	enum fence_method fence;	/* the one raised */
	bool fenced;			/* the fence is up now */
	bool file_replaced, link_replaced, committed;
	char *old_content;		/* the entry file before the switch */
	size_t old_size;
	struct stat old_stat;
	char old_link[PATH_MAX];
	char proxy_old_upstream[300];	/* where the proxy pointed before our switch */
	bool proxy_switched;
	timestamp_t switch_ts;
	bool has_switch_ts;
	struct step steps[STEP_COUNT];
	struct timespec started, fence_started;
} cut;

static void read_command_line(int argc, char **argv);
static void entry_prepare(void);
static void proxy_prepare(const char *target_uri);
static bool lag_wait(char *why, size_t size);
static bool fence_up(char *why, size_t size);
static bool drain(char *why, size_t size);
static bool entry_switch(char *why, size_t size);
static bool fence_down(char *why, size_t size);
static void entry_restore(void);
static void emergency(void);
static void report(const char *result);

int
main(int argc, char **argv)
{
	char *source_uri, *target_uri, why[1024], result[1400];
	bool fenced, lifted;

	die_init(argv[0]);
	read_command_line(argc, argv);
	source_uri = conn_uri_resolve(opt.source, opt.conn.source_file, "OPLOGKIT_SOURCE_URI");
	target_uri = conn_uri_resolve(opt.target, opt.conn.target_file, "OPLOGKIT_TARGET_URI");
	proxy_prepare(target_uri);
	entry_prepare();
	cut.source = conn_open(source_uri, opt.conn.tls_ca_file);
	cut.target = conn_open(target_uri, opt.conn.tls_ca_file);
	clock_gettime(CLOCK_MONOTONIC, &cut.started);
	cli_catch_signals();
	if (atexit(emergency) != 0)
		die(EXIT_LOCAL, "atexit failed");

	fenced = lag_wait(why, sizeof(why)) && fence_up(why, sizeof(why));
	if (!fenced && !cut.fenced) {
		snprintf(result, sizeof(result), "not switched: %s; nothing changed", why);
		report(result);
		exit(EXIT_DIFFERENT);
	}
	/* A fence raised as a signal came is a failure after the fence too. */
	if (!fenced || !drain(why, sizeof(why)) ||
	    !entry_switch(why, sizeof(why))) {
		entry_restore();
		lifted = fence_down(why + strlen(why), sizeof(why) - strlen(why));
		snprintf(result, sizeof(result), "not switched: %s; %s, entry unchanged", why,
		    lifted ? "fence lifted" : "FENCE STILL UP");
		report(result);
		exit(EXIT_DIFFERENT);
	}
	cut.committed = true;
	if (!opt.keep_fenced && !fence_down(why, sizeof(why))) {
		snprintf(result, sizeof(result), "switched, but the fence is still up: %s", why);
		report(result);
		exit(EXIT_DIFFERENT);
	}
	report(opt.keep_fenced ? "switched; fence kept up (--keep-fenced)" : "switched");
	conn_close(cut.source);
	conn_close(cut.target);
	cut.source = cut.target = NULL;
	free(cut.old_content);
	free(source_uri);
	free(target_uri);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_LOCAL, "stdout: write failed");
	return EXIT_DONE;
}

static enum fence_method
parse_fence(const char *text)
{
	size_t k;

	for (k = 0; k < sizeof(fence_names) / sizeof(fence_names[0]); k++)
		if (strcmp(text, fence_names[k]) == 0)
			return (enum fence_method)k;
	die(EXIT_USAGE, "--fence: unknown method '%s' (auto, write-block, fsync-lock, command, proxy, "
	    "none)",
	    text);
}

static void
check_options(void)
{
	if ((opt.entry_file == NULL) != (opt.entry_value == NULL))
		die(EXIT_USAGE, "--entry-file and --entry-value go together");
	if ((opt.entry_link == NULL) != (opt.entry_target == NULL))
		die(EXIT_USAGE, "--entry-link and --entry-target go together");
	if (opt.proxy != NULL && !opt.fence_given)
		opt.fence = FENCE_PROXY;
	if (opt.fence == FENCE_PROXY && opt.proxy == NULL)
		die(EXIT_USAGE, "--fence proxy needs --proxy PATH");
	if (opt.proxy_upstream != NULL && opt.proxy == NULL)
		die(EXIT_USAGE, "--proxy-upstream goes with --proxy");
	if (opt.proxy != NULL) {
		struct sockaddr_un address;
		char why[512];

		if (!control_address(opt.proxy, &address, why, sizeof(why)))
			die(EXIT_USAGE, "--proxy %s", why);
	}
	if (opt.entry_file == NULL && opt.entry_link == NULL && opt.switch_cmd == NULL &&
	    opt.proxy == NULL)
		die(EXIT_USAGE, "nothing to switch: give --entry-file, --entry-link, --switch-cmd or "
		    "--proxy");
	if (opt.fence == FENCE_COMMAND && opt.fence_cmd == NULL)
		die(EXIT_USAGE, "--fence command needs --fence-cmd");
	if (opt.fence_cmd != NULL && opt.unfence_cmd == NULL && !opt.keep_fenced)
		die(EXIT_USAGE, "--fence-cmd needs --unfence-cmd to lift the fence (or --keep-fenced)");
}

static void
parse_fence_option(const char *name, const char *text, void *unused)
{
	(void)unused;
	opt.fence = text != NULL ? parse_fence(text) : FENCE_NONE;	/* --no-fence: none */
	opt.fence_given = true;
}

static void
read_command_line(int argc, char **argv)
{
	static const struct program program = {
		.name = "entry-switch",
		.synopsis = "[options] [SOURCE TARGET]",
		.summary = "Cut the applications over from the source to the target: wait for the lag,\n"
		    "fence writes, drain, switch the entry, lift the fence, report the pause.",
		.details = "SOURCE and TARGET (or --source and --target) default to --source-uri-file's\n"
		    "and --target-uri-file's, else $OPLOGKIT_SOURCE_URI and $OPLOGKIT_TARGET_URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	const struct option_def table[] = {
		OPT_STRING(0, "source", "URI", &opt.source, "the source (as the SOURCE operand)"),
		OPT_STRING(0, "target", "URI", &opt.target, "the target (as the TARGET operand)"),
		OPT_STRING(0, "to", "URI", &opt.target, "the same as --target"),
		OPT_URI_FILES(&opt.conn),
		OPT_STRING(0, "name", "NAME", &opt.name, "the applier's checkpoint on the target (default)"),
		OPT_DURATION(0, "lag", "DUR", &opt.lag_ms, "start once the lag is at most DUR (1s)"),
		OPT_DURATION(0, "timeout", "DUR", &opt.timeout_ms,
		    "give up waiting for that lag after DUR (5m)"),
		OPT_DURATION(0, "drain-timeout", "DUR", &opt.drain_timeout_ms,
		    "give up the fenced drain after DUR (30s)"),
		OPT_CALL(0, "fence", "METHOD", parse_fence_option, NULL,
		    "auto, write-block, fsync-lock, command, proxy or none (auto:\n"
		    "write-block, else fsync-lock, else --fence-cmd; proxy with --proxy)"),
		OPT_STRING(0, "fence-cmd", "CMD", &opt.fence_cmd,
		    "raise a fence (sh -c; must exit 0 once writes stopped)"),
		OPT_STRING(0, "unfence-cmd", "CMD", &opt.unfence_cmd, "lift it"),
		OPT_CALL(0, "no-fence", NULL, parse_fence_option, NULL,
		    "switch without a fence (writes during the switch may be lost)"),
		OPT_BOOL(0, "keep-fenced", &opt.keep_fenced, "leave the fence up after a switch"),
		OPT_STRING(0, "entry-file", "PATH", &opt.entry_file,
		    "rewrite PATH with --entry-value's TEXT (mode kept)"),
		OPT_STRING(0, "entry-value", "TEXT", &opt.entry_value, "the entry file's new content"),
		OPT_STRING(0, "entry-link", "PATH", &opt.entry_link,
		    "point the symlink PATH at --entry-target's TARGET"),
		OPT_STRING(0, "entry-target", "TARGET", &opt.entry_target, "the entry link's new target"),
		OPT_STRING(0, "switch-cmd", "CMD", &opt.switch_cmd,
		    "run CMD to switch (sh -c; $OPLOGKIT_SWITCH_TS is set)"),
		OPT_STRING(0, "proxy", "PATH", &opt.proxy,
		    "entry-proxy's control socket: its pause is the fence, its\n"
		    "switch the entry (to --proxy-upstream, default the target's host)"),
		OPT_STRING(0, "proxy-upstream", "HOST:PORT", &opt.proxy_upstream,
		    "where --proxy's switch points the proxy"),
		OPT_TLS_RETRY(&opt.conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	if (argc - first == 1 || (argc - first == 2 && (opt.source != NULL || opt.target != NULL))) {
		warnmsg("give SOURCE and TARGET as two operands or as --source and --target");
		options_usage_error(&program);
	}
	if (argc - first == 2) {
		opt.source = argv[first];
		opt.target = argv[first + 1];
	}
	check_options();
}

/* ---- time ---- */

static void
step_done(int step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
step_done(int step, const char *fmt, ...)
{
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &cut.steps[step].wall);
	clock_gettime(CLOCK_MONOTONIC, &cut.steps[step].mono);
	cut.steps[step].done = true;
	va_start(ap, fmt);
	vsnprintf(cut.steps[step].detail, sizeof(cut.steps[step].detail), fmt, ap);
	va_end(ap);
}

/* Sleep one poll interval of ms; false when a signal asked us to stop. */
static bool
poll_pause_ms(long ms)
{
	struct timespec pause = { 0, ms * 1000000L };

	if (!cli_stop)
		nanosleep(&pause, NULL);
	return !cli_stop;
}

static bool
poll_pause(void)
{
	return poll_pause_ms(POLL_MS);
}

/* ---- step 1: the lag gate ---- */

static bool
lag_wait(char *why, size_t size)
{
	struct timespec start;
	bson_error_t error;
	struct lag lag;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (lag_measure(cut.source, cut.target, opt.name, &lag, &error)) {
			if (lag_within(&lag, opt.lag_ms)) {
				step_done(STEP_LAG, "lag %ld s after %ld ms", lag.seconds, clock_ms_since(&start));
				return true;
			}
		} else if (!conn_error_transient(&error)) {
			die(EXIT_SERVER, "lag: %s", error.message);
		}
		if (clock_ms_since(&start) >= opt.timeout_ms) {
			if (!lag.has_checkpoint)
				snprintf(why, size, "no checkpoint %s on the target after %ld ms", opt.name,
				    opt.timeout_ms);
			else
				snprintf(why, size, "lag %ld s still over %ld ms after %ld ms", lag.seconds,
				    opt.lag_ms, opt.timeout_ms);
			return false;
		}
		if (!poll_pause()) {
			snprintf(why, size, "interrupted while waiting for the lag");
			return false;
		}
	}
}

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

enum attempt { RAISED, MISSING, FAILED };

static enum attempt
try_write_block(char *why, size_t size)
{
	bson_t *command = BCON_NEW("setUserWriteBlockMode", BCON_INT32(1), "global", BCON_BOOL(true));
	bson_error_t error;
	bson_t reply;
	bool ok = conn_command(cut.source, "admin", command, &reply, &error);

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
try_fsync_lock(char *why, size_t size)
{
	bson_t *command = BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true));
	bson_error_t error;
	bson_iter_t iter;
	bson_t reply;
	bool ok = conn_command(cut.source, "admin", command, &reply, &error), locked;

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
try_command(char *why, size_t size)
{
	int status;

	if (opt.fence_cmd == NULL)
		return MISSING;
	if ((status = shell_run("--fence-cmd", opt.fence_cmd)) == 0)
		return RAISED;
	snprintf(why, size, "--fence-cmd failed (status %d)", status);
	/* It may have raised part of its fence before it failed: undo that. */
	if (opt.unfence_cmd != NULL)
		shell_run("--unfence-cmd", opt.unfence_cmd);
	return FAILED;
}

/* ---- entry-proxy ---- */

/*
 * Send one command line to entry-proxy's control socket and read its
 * one-line JSON answer into answer. False (why set) when the proxy is
 * unreachable or says ok false. A pause answers once nothing is in
 * flight, within the proxy's --pause-timeout: wait a little longer.
 */
static bool
proxy_command(const char *command, char *answer, size_t answer_size, char *why, size_t size)
{
	char reason[1024];

	if (control_request(opt.proxy, command, PROXY_ANSWER_MS, answer, answer_size, reason,
	    sizeof(reason)) == CONTROL_OK)
		return true;
	/* reason starts with the path: a why cut short still names the proxy. */
	if (snprintf(why, size, "--proxy %s (%s)", reason, command) < 0)
		why[0] = '\0';
	return false;
}

/* The value of "key": in a flat JSON answer, as text (a string's quotes dropped). */
static const char *
json_field(const char *answer, const char *key, char *out, size_t size)
{
	char pattern[64];
	const char *at;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	if ((at = strstr(answer, pattern)) == NULL) {
		snprintf(out, size, "?");
		return out;
	}
	at += strlen(pattern);
	if (*at == '"')
		at++;
	snprintf(out, size, "%.*s", (int)strcspn(at, "\",}"), at);
	return out;
}

/* Where the proxy must send the applications: --proxy-upstream, else the target's host. */
static void
proxy_prepare(const char *target_uri)
{
	static char host[300];
	const mongoc_host_list_t *hosts;
	mongoc_uri_t *uri;
	bson_error_t error;

	if (opt.proxy == NULL || opt.proxy_upstream != NULL)
		return;
	if ((uri = mongoc_uri_new_with_error(target_uri, &error)) == NULL)
		die(EXIT_USAGE, "--target: %s", error.message);
	if ((hosts = mongoc_uri_get_hosts(uri)) == NULL || hosts->next != NULL)
		die(EXIT_USAGE, "--proxy: the target URI must name one host, or give --proxy-upstream");
	snprintf(host, sizeof(host), "%s", hosts->host_and_port);
	mongoc_uri_destroy(uri);
	opt.proxy_upstream = host;
}

static enum attempt
try_proxy(char *why, size_t size)
{
	char answer[1024], held[32], waited[32], undo[256];

	if (opt.proxy == NULL)
		return MISSING;
	if (proxy_command("pause", answer, sizeof(answer), why, size))  {
		cut.fenced = true;	/* fence_up sets the rest; the detail is ours */
		snprintf(cut.steps[STEP_FENCE].detail, sizeof(cut.steps[STEP_FENCE].detail),
		    "(nothing in flight after %s ms, %s requests held)",
		    json_field(answer, "waited_ms", waited, sizeof(waited)),
		    json_field(answer, "held", held, sizeof(held)));
		return RAISED;
	}
	/* A pause that timed out leaves the proxy paused: release it. */
	if (!proxy_command("resume", answer, sizeof(answer), undo, sizeof(undo)))
		warnmsg("%s", undo);
	return FAILED;
}

static bool
proxy_resume(char *why, size_t size)
{
	char answer[1024], message[512];

	if (proxy_command("resume", answer, sizeof(answer), message, sizeof(message)))
		return true;
	snprintf(why, size, "; %s", message);
	return false;
}

/* Point the proxy at the target, remembering where it pointed to undo it. */
static bool
proxy_switch(char *detail, size_t detail_size, char *why, size_t size)
{
	char answer[1024], command[400], moving[32];

	if (!proxy_command("status", answer, sizeof(answer), why, size))
		return false;
	json_field(answer, "upstream", cut.proxy_old_upstream, sizeof(cut.proxy_old_upstream));
	snprintf(command, sizeof(command), "switch %s", opt.proxy_upstream);
	if (!proxy_command(command, answer, sizeof(answer), why, size))
		return false;
	cut.proxy_switched = true;
	snprintf(detail, detail_size, "proxy %s -> %s (%s connections moving)", cut.proxy_old_upstream,
	    opt.proxy_upstream, json_field(answer, "moving", moving, sizeof(moving)));
	return true;
}

static void
proxy_switch_back(void)
{
	char answer[1024], command[400], why[512];

	snprintf(command, sizeof(command), "switch %s", cut.proxy_old_upstream);
	if (proxy_command(command, answer, sizeof(answer), why, sizeof(why)))
		cut.proxy_switched = false;
	else
		warnmsg("putting the proxy back: %s", why);
}

static bool
fence_up(char *why, size_t size)
{
	static enum attempt (*const methods[])(char *, size_t) = {
		[FENCE_WRITE_BLOCK] = try_write_block,
		[FENCE_FSYNC_LOCK] = try_fsync_lock,
		[FENCE_COMMAND] = try_command,
		[FENCE_PROXY] = try_proxy,
	};
	enum fence_method method, first, last;
	enum attempt attempt = MISSING;

	if (opt.fence == FENCE_NONE) {
		cut.fence = FENCE_NONE;
		step_done(STEP_FENCE, "none (--no-fence)");
		return true;
	}
	clock_gettime(CLOCK_MONOTONIC, &cut.fence_started);
	first = opt.fence == FENCE_AUTO ? FENCE_WRITE_BLOCK : opt.fence;
	last = opt.fence == FENCE_AUTO ? FENCE_COMMAND : opt.fence;
	for (method = first; method <= last; method++) {
		attempt = methods[method](why, size);
		if (attempt == FAILED)
			return false;
		if (attempt == RAISED)
			break;
	}
	if (attempt != RAISED) {
		snprintf(why, size, "refused: the source has no %s and no --fence-cmd was given "
		    "(or --no-fence, or --proxy)", opt.fence == FENCE_AUTO ? "write blocking or fsyncLock"
		    : fence_names[opt.fence]);
		return false;
	}
	cut.fence = method;
	cut.fenced = true;
	if (method == FENCE_PROXY) {
		char detail[sizeof(cut.steps[STEP_FENCE].detail)];

		snprintf(detail, sizeof(detail), "%s", cut.steps[STEP_FENCE].detail);
		step_done(STEP_FENCE, "up (proxy %s)", detail);
	} else {
		step_done(STEP_FENCE, "up (%s)", fence_names[method]);
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
command_retrying(const bson_t *command, bson_error_t *error)
{
	retry_policy policy;
	bson_t reply;
	bool ok;

	retry_init(&policy, conn_retry_for());
	for (;;) {
		ok = mongoc_client_command_simple(cut.source, "admin", command, NULL, &reply, error);
		bson_destroy(&reply);
		if (ok || !retry_again(&policy, error))
			return ok;
	}
}

/* Lift the fence raised; writes "; why" to why on failure. */
static bool
fence_down(char *why, size_t size)
{
	bson_t *command = NULL;
	bson_error_t error;
	bool ok = true;
	int status;

	if (!cut.fenced)
		return true;
	switch (cut.fence) {
	case FENCE_WRITE_BLOCK:
		command = BCON_NEW("setUserWriteBlockMode", BCON_INT32(1), "global", BCON_BOOL(false));
		break;
	case FENCE_FSYNC_LOCK:
		command = BCON_NEW("fsyncUnlock", BCON_INT32(1));
		break;
	case FENCE_COMMAND:
		if ((status = shell_run("--unfence-cmd", opt.unfence_cmd)) != 0) {
			snprintf(why, size, "; --unfence-cmd failed (status %d)", status);
			ok = false;
		}
		break;
	case FENCE_PROXY:
		ok = proxy_resume(why, size);
		break;
	default:
		break;
	}
	if (command != NULL) {
		if (!(ok = command_retrying(command, &error)))
			snprintf(why, size, "; lifting the fence: %s", error.message);
		bson_destroy(command);
	}
	if (ok) {
		cut.fenced = false;
		step_done(STEP_UNFENCE, "down");
	}
	return ok;
}

/* ---- step 3: the drain ---- */

static bool
drain(char *why, size_t size)
{
	struct timespec start;
	timestamp_t newest, checkpoint;
	bson_error_t error;
	char text[32];
	bool found;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!conn_newest_ts(cut.source, &newest.t, &newest.i, &error)) {
		snprintf(why, size, "the source's newest ts: %s", error.message);
		return false;
	}
	for (;;) {
		if (!lag_checkpoint(cut.target, opt.name, &checkpoint, &found, &error)) {
			snprintf(why, size, "checkpoint %s: %s", opt.name, error.message);
			return false;
		}
		if (found && ts_compare(checkpoint, newest) >= 0)
			break;
		if (clock_ms_since(&start) >= opt.drain_timeout_ms) {
			snprintf(why, size, "the checkpoint did not reach %s within %ld ms",
			    ts_format(newest, text, sizeof(text)), opt.drain_timeout_ms);
			return false;
		}
		if (!poll_pause_ms(DRAIN_POLL_MS)) {
			snprintf(why, size, "interrupted during the drain");
			return false;
		}
	}
	step_done(STEP_DRAIN, "checkpoint reached %s in %ld ms", ts_format(newest, text, sizeof(text)),
	    clock_ms_since(&start));
	return true;
}

/* ---- step 4: the switch ---- */

/* A temporary name in path's directory, so rename(2) replaces path atomically. */
static void
temp_name(const char *path, char *out, size_t size, bool pattern)
{
	char copy[PATH_MAX], copy2[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(copy2, sizeof(copy2), "%s", path);
	snprintf(out, size, "%s/.%s.entry-switch.%s", dirname(copy), basename(copy2),
	    pattern ? "XXXXXX" : "tmp");
}

static void
sync_directory(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) < 0)
		return;
	fsync(fd);	/* best effort: the rename is done either way */
	close(fd);
}

/* Write data to a temp file with the mode and owner of st, then rename over path. */
static bool
file_replace(const char *path, const char *data, size_t size, const struct stat *st,
    char *why, size_t why_size)
{
	char temp[PATH_MAX + 32];
	size_t written = 0;
	ssize_t n;
	int fd;

	temp_name(path, temp, sizeof(temp), true);
	if ((fd = mkstemp(temp)) < 0) {
		snprintf(why, why_size, "%s: a temporary file beside it: %s", path, strerror(errno));
		return false;
	}
	if (fchmod(fd, st->st_mode & 07777) != 0)
		goto fail;
	if ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
	    fchown(fd, st->st_uid, st->st_gid) != 0 && errno != EPERM)
		goto fail;
	for (; written < size; written += (size_t)n)
		if ((n = write(fd, data + written, size - written)) < 0)
			goto fail;
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(temp, path) != 0)
		goto fail;
	sync_directory(path);
	return true;
fail:
	snprintf(why, why_size, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(temp);
	return false;
}

static bool
link_replace(const char *path, const char *target, char *why, size_t size)
{
	char temp[PATH_MAX + 32];

	temp_name(path, temp, sizeof(temp), false);
	unlink(temp);
	if (symlink(target, temp) != 0 || rename(temp, path) != 0) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		unlink(temp);
		return false;
	}
	sync_directory(path);
	return true;
}

/* Read what must be put back on failure, and fail now, before anything changed. */
static void
entry_prepare(void)
{
	FILE *file;
	ssize_t length;

	if (opt.entry_file != NULL) {
		if (stat(opt.entry_file, &cut.old_stat) != 0)
			die(EXIT_USAGE, "--entry-file %s: %s", opt.entry_file, strerror(errno));
		if (!S_ISREG(cut.old_stat.st_mode))
			die(EXIT_USAGE, "--entry-file %s: not a regular file", opt.entry_file);
		if (cut.old_stat.st_size > ENTRY_FILE_MAX)
			die(EXIT_USAGE, "--entry-file %s: over %d bytes: not an entry", opt.entry_file,
			    ENTRY_FILE_MAX);
		if ((file = fopen(opt.entry_file, "rb")) == NULL)
			die(EXIT_USAGE, "--entry-file %s: %s", opt.entry_file, strerror(errno));
		cut.old_content = xmalloc((size_t)cut.old_stat.st_size + 1);
		cut.old_size = fread(cut.old_content, 1, (size_t)cut.old_stat.st_size, file);
		if (ferror(file))
			die(EXIT_USAGE, "--entry-file %s: read failed", opt.entry_file);
		fclose(file);
	}
	if (opt.entry_link != NULL) {
		length = readlink(opt.entry_link, cut.old_link, sizeof(cut.old_link) - 1);
		if (length < 0)
			die(EXIT_USAGE, "--entry-link %s: %s", opt.entry_link,
			    errno == EINVAL ? "not a symbolic link" : strerror(errno));
		cut.old_link[length] = '\0';
	}
}

static bool
switch_file(char *why, size_t size)
{
	size_t length = strlen(opt.entry_value);
	char *text = xmalloc(length + 2);
	bool ok;

	/* A text file ends with a newline; "$(cat f)" has lost it. */
	memcpy(text, opt.entry_value, length);
	if (length == 0 || text[length - 1] != '\n')
		text[length++] = '\n';
	ok = file_replace(opt.entry_file, text, length, &cut.old_stat, why, size);
	cut.file_replaced = ok;
	free(text);
	return ok;
}

static bool
entry_switch(char *why, size_t size)
{
	char ts[32], detail[512] = "";
	bson_error_t error;
	int status;

	cut.has_switch_ts = conn_newest_ts(cut.target, &cut.switch_ts.t, &cut.switch_ts.i, &error);
	if (!cut.has_switch_ts)
		warnmsg("no switch ts: the target's oplog: %s", error.message);
	ts_format(cut.switch_ts, ts, sizeof(ts));
	if (opt.proxy != NULL && !proxy_switch(detail, sizeof(detail), why, size))
		return false;
	if (opt.entry_file != NULL) {
		if (!switch_file(why, size))
			return false;
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%sfile %s",
		    detail[0] ? ", " : "", opt.entry_file);
	}
	if (opt.entry_link != NULL) {
		if (!link_replace(opt.entry_link, opt.entry_target, why, size))
			return false;
		cut.link_replaced = true;
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%slink %s",
		    detail[0] ? ", " : "", opt.entry_link);
	}
	if (opt.switch_cmd != NULL) {
		if (setenv("OPLOGKIT_SWITCH_TS", cut.has_switch_ts ? ts : "", 1) != 0 ||
		    setenv("OPLOGKIT_CHECKPOINT_NAME", opt.name, 1) != 0)
			die(EXIT_LOCAL, "setenv: %s", strerror(errno));
		if ((status = shell_run("--switch-cmd", opt.switch_cmd)) != 0) {
			snprintf(why, size, "--switch-cmd failed (status %d)", status);
			return false;
		}
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%scommand",
		    detail[0] ? ", " : "");
	}
	step_done(STEP_SWITCH, "%s", detail);
	return true;
}

/* Put back a file or link the failed switch had replaced already. */
static void
entry_restore(void)
{
	char why[512];

	if (cut.proxy_switched)
		proxy_switch_back();
	if (cut.file_replaced) {
		if (file_replace(opt.entry_file, cut.old_content, cut.old_size, &cut.old_stat, why,
		    sizeof(why)))
			cut.file_replaced = false;
		else
			warnmsg("putting back the entry file: %s", why);
	}
	if (cut.link_replaced) {
		if (link_replace(opt.entry_link, cut.old_link, why, sizeof(why)))
			cut.link_replaced = false;
		else
			warnmsg("putting back the entry link: %s", why);
	}
}

/* An exit we did not plan (a server error mid-drain): never leave the fence up. */
static void
emergency(void)
{
	char why[512] = "";

	if (!cut.fenced)
		return;
	if (cut.committed && opt.keep_fenced)
		return;
	warnmsg("exiting with the fence up: lifting it%s",
	    cut.committed ? "" : " and leaving the entry as it was");
	if (!cut.committed)
		entry_restore();
	if (!fence_down(why, sizeof(why)))
		warnmsg("the fence is still up%s", why);
}

/* ---- step 6: the report ---- */

static void
report(const char *result)
{
	char when[64], ts[32];
	struct tm tm;
	int k;

	printf("entry-switch: checkpoint %s\n", opt.name);
	for (k = 0; k < STEP_COUNT; k++) {
		const struct step *step = &cut.steps[k];

		if (!step->done)
			continue;
		gmtime_r(&step->wall.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		printf("%-10s %s.%03ldZ  +%ld ms  %s\n", step_names[k], when,
		    step->wall.tv_nsec / 1000000L, clock_ms_between(&cut.started, &step->mono), step->detail);
	}
	if (cut.steps[STEP_FENCE].done && cut.fence != FENCE_NONE) {
		if (cut.steps[STEP_UNFENCE].done)
			printf("%-10s %ld ms\n", "window", clock_ms_between(&cut.fence_started,
			    &cut.steps[STEP_UNFENCE].mono));
		else
			printf("%-10s open: the fence is up\n", "window");
	}
	if (cut.steps[STEP_SWITCH].done)
		printf("%-10s %s\n", "switch-ts", cut.has_switch_ts ?
		    ts_format(cut.switch_ts, ts, sizeof(ts)) : "none (the target has no oplog)");
	printf("%-10s %s\n", "result", result);
	fflush(stdout);
}
