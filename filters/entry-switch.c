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
 *
 * This file is the command line; filters/switch/ is the engine.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conn.h"
#include "control.h"
#include "die.h"
#include "options.h"
#include "switch/switch.h"

static void read_command_line(struct switch_config *config, int argc, char **argv,
    char **source_uri, char **target_uri);

int
main(int argc, char **argv)
{
	struct switch_config config = {
		.name = "default", .lag_ms = 1000, .timeout_ms = 5 * 60 * 1000,
		.drain_timeout_ms = 30 * 1000, .fence = FENCE_AUTO,
	};
	char *source_uri, *target_uri;
	int status;

	die_init(argv[0]);
	read_command_line(&config, argc, argv, &source_uri, &target_uri);
	status = switch_run(&config, source_uri, target_uri);
	free(source_uri);
	free(target_uri);
	return status;
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
check_options(struct switch_config *config)
{
	if ((config->entry_file == NULL) != (config->entry_value == NULL))
		die(EXIT_USAGE, "--entry-file and --entry-value go together");
	if ((config->entry_link == NULL) != (config->entry_target == NULL))
		die(EXIT_USAGE, "--entry-link and --entry-target go together");
	if (config->proxy != NULL && !config->fence_given)
		config->fence = FENCE_PROXY;
	if (config->fence == FENCE_PROXY && config->proxy == NULL)
		die(EXIT_USAGE, "--fence proxy needs --proxy PATH");
	if (config->proxy_upstream != NULL && config->proxy == NULL)
		die(EXIT_USAGE, "--proxy-upstream goes with --proxy");
	if (config->proxy != NULL) {
		struct sockaddr_un address;
		char why[512];

		if (!control_address(config->proxy, &address, why, sizeof(why)))
			die(EXIT_USAGE, "--proxy %s", why);
	}
	if (config->entry_file == NULL && config->entry_link == NULL && config->switch_cmd == NULL &&
	    config->proxy == NULL)
		die(EXIT_USAGE, "nothing to switch: give --entry-file, --entry-link, --switch-cmd or "
		    "--proxy");
	if (config->fence == FENCE_COMMAND && config->fence_cmd == NULL)
		die(EXIT_USAGE, "--fence command needs --fence-cmd");
	if (config->fence_cmd != NULL && config->unfence_cmd == NULL && !config->keep_fenced)
		die(EXIT_USAGE, "--fence-cmd needs --unfence-cmd to lift the fence (or --keep-fenced)");
}

static void
parse_fence_option(const char *name, const char *text, void *value)
{
	struct switch_config *config = value;

	config->fence = text != NULL ? parse_fence(text) : FENCE_NONE;	/* --no-fence: none */
	config->fence_given = true;
}

static void
read_command_line(struct switch_config *config, int argc, char **argv, char **source_uri,
    char **target_uri)
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
		OPT_STRING(0, "source", "URI", &config->source, "the source (as the SOURCE operand)"),
		OPT_STRING(0, "target", "URI", &config->target, "the target (as the TARGET operand)"),
		OPT_STRING(0, "to", "URI", &config->target, "the same as --target"),
		OPT_URI_FILES(&config->conn),
		OPT_STRING(0, "name", "NAME", &config->name, "the applier's checkpoint on the target (default)"),
		OPT_DURATION(0, "lag", "DUR", &config->lag_ms, "start once the lag is at most DUR (1s)"),
		OPT_DURATION(0, "timeout", "DUR", &config->timeout_ms,
		    "give up waiting for that lag after DUR (5m)"),
		OPT_DURATION(0, "drain-timeout", "DUR", &config->drain_timeout_ms,
		    "give up the fenced drain after DUR (30s)"),
		OPT_CALL(0, "fence", "METHOD", parse_fence_option, config,
		    "auto, write-block, fsync-lock, command, proxy or none (auto:\n"
		    "write-block, else fsync-lock, else --fence-cmd; proxy with --proxy)"),
		OPT_STRING(0, "fence-cmd", "CMD", &config->fence_cmd,
		    "raise a fence (sh -c; must exit 0 once writes stopped)"),
		OPT_STRING(0, "unfence-cmd", "CMD", &config->unfence_cmd, "lift it"),
		OPT_CALL(0, "no-fence", NULL, parse_fence_option, config,
		    "switch without a fence (writes during the switch may be lost)"),
		OPT_BOOL(0, "keep-fenced", &config->keep_fenced, "leave the fence up after a switch"),
		OPT_STRING(0, "entry-file", "PATH", &config->entry_file,
		    "rewrite PATH with --entry-value's TEXT (mode kept)"),
		OPT_STRING(0, "entry-value", "TEXT", &config->entry_value, "the entry file's new content"),
		OPT_STRING(0, "entry-link", "PATH", &config->entry_link,
		    "point the symlink PATH at --entry-target's TARGET"),
		OPT_STRING(0, "entry-target", "TARGET", &config->entry_target, "the entry link's new target"),
		OPT_STRING(0, "switch-cmd", "CMD", &config->switch_cmd,
		    "run CMD to switch (sh -c; $OPLOGKIT_SWITCH_TS is set)"),
		OPT_STRING(0, "verify-cmd", "CMD", &config->verify_cmd,
		    "run CMD after the drain, fenced; switch only if it exits 0"),
		OPT_STRING(0, "proxy", "PATH", &config->proxy,
		    "entry-proxy's control socket: its pause is the fence, its\n"
		    "switch the entry (to --proxy-upstream, default the target's host)"),
		OPT_STRING(0, "proxy-upstream", "HOST:PORT", &config->proxy_upstream,
		    "where --proxy's switch points the proxy"),
		OPT_METRICS(&config->metrics, &config->metrics_log),
		OPT_TLS_RETRY(&config->conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	const char *named[2];

	check_options(config);
	named[0] = config->source;
	named[1] = config->target;
	options_uri_pair(&program, &config->conn, argc - first, argv + first, named, source_uri,
	    target_uri);
}

