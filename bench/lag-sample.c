/*
 * lag-sample - sample both ends of a migration every --every ms until
 * killed or --for ms have passed: the source's newest oplog ts and the
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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "lag.h"

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
sleep_until(long deadline)
{
	long left = deadline - now_ms();
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
	static const struct option options[] = {
		{ "every", required_argument, NULL, 'e' },
		{ "for", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	mongoc_client_t *source, *target;
	const char *name = "default";
	long every = 100, length = 0, start, next;
	int ch;

	die_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "e:f:n:", options, NULL)) != -1) {
		switch (ch) {
		case 'e': every = cli_duration_ms("--every", optarg); break;
		case 'f': length = cli_duration_ms("--for", optarg); break;
		case 'n': name = optarg; break;
		default:
			fprintf(stderr, "usage: lag-sample [--every MS] [--for MS] [--name NAME] SOURCE TARGET\n");
			exit(2);
		}
	}
	if (argc - optind != 2 || every <= 0) {
		fprintf(stderr, "usage: lag-sample [--every MS] [--for MS] [--name NAME] SOURCE TARGET\n");
		exit(2);
	}
	cli_catch_signals();
	source = conn_open(argv[optind], NULL);
	target = conn_open(argv[optind + 1], NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	start = now_ms();
	for (next = start; !cli_stop && (length == 0 || next - start <= length); next += every) {
		struct lag lag;
		bson_error_t error;

		sleep_until(next);
		if (!lag_measure(source, target, name, &lag, &error)) {
			warnmsg("sample at %ld ms: %s", now_ms() - start, error.message);
			continue;
		}
		printf("%ld %u %u %u %u\n", now_ms() - start, lag.newest.t, lag.newest.i,
		    lag.checkpoint.t, lag.checkpoint.i);
	}
	conn_close(target);
	conn_close(source);
	return 0;
}
