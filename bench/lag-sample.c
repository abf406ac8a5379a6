/*
 * lag-sample - sample both ends of a migration every --every (100ms) until
 * killed or --for has passed: the source's newest oplog ts and the
 * target's checkpoint ts, one line per sample:
 *
 *   MS NEWEST_T NEWEST_I CHECKPOINT_T CHECKPOINT_I
 *
 * MS is milliseconds since the first sample. A checkpoint not written
 * yet prints 0 0. The lag itself is worked out afterwards (bench/lag.sh):
 * a sample's lag is how long ago the source first held an entry newer
 * than that sample's checkpoint, so it has the sampling resolution,
 * not the one-second resolution of a ts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "lag.h"
#include "options.h"

static void
sleep_until(long long deadline)
{
	long left = (long)(deadline - clock_ms());
	struct timespec pause;

	if (left <= 0)
		return;
	pause.tv_sec = left / 1000;
	pause.tv_nsec = (left % 1000) * 1000000L;
	nanosleep(&pause, NULL);
}

int
main(int argc, char **argv)
{
	static const struct program program = {
		.name = "lag-sample",
		.synopsis = "[--every DUR] [--for DUR] [--name NAME] SOURCE TARGET",
		.summary = "Sample the source's newest ts and the target's checkpoint, a line each time.",
		.min_operands = 2, .max_operands = 2,
	};
	mongoc_client_t *source, *target;
	const char *name = "default";
	long every = 100, length = 0;
	long long start, next;
	int first;
	const struct option_def table[] = {
		OPT_DURATION('e', "every", "DUR", &every, "a sample every DUR (default 100ms)"),
		OPT_DURATION('f', "for", "DUR", &length, "stop after DUR (default: when killed)"),
		OPT_STRING('n', "name", "NAME", &name, "the checkpoint (default \"default\")"),
		OPT_END(),
	};

	die_init(argv[0]);
	first = options_parse(&program, table, argc, argv);
	if (every <= 0)
		die(EXIT_USAGE, "--every: must be more than 0");
	cli_catch_signals();
	source = conn_open(argv[first], NULL);
	target = conn_open(argv[first + 1], NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	start = clock_ms();
	for (next = start; !cli_stop && (length == 0 || next - start <= length); next += every) {
		struct lag lag;
		bson_error_t error;

		sleep_until(next);
		if (!lag_measure(source, target, name, &lag, &error)) {
			warnmsg("sample at %lld ms: %s", clock_ms() - start, error.message);
			continue;
		}
		printf("%lld %u %u %u %u\n", clock_ms() - start, lag.newest.t, lag.newest.i,
		    lag.checkpoint.t, lag.checkpoint.i);
	}
	conn_close(target);
	conn_close(source);
	return 0;
}
