/*
 * cli.c - command-line helpers shared by every program.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "die.h"

volatile sig_atomic_t cli_stop;

long
cli_number(const char *option, const char *text)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 0)
		die(EXIT_USAGE, "%s: not a non-negative number: '%s'", option, text);
	return value;
}

long
cli_range(const char *option, const char *text, long min, long max)
{
	long value = cli_number(option, text);

	if (value < min || value > max)
		die(EXIT_USAGE, "%s: must be %ld..%ld, not %ld", option, min, max, value);
	return value;
}

long
cli_duration_ms(const char *option, const char *text)
{
	static const struct {
		const char *suffix;
		long factor;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "", 1000 },
	};
	char *end;
	double value;
	size_t k;

	errno = 0;
	value = strtod(text, &end);
	/* !(value >= 0) also refuses "nan", which no comparison below would. */
	if (errno != 0 || end == text || !(value >= 0))
		die(EXIT_USAGE, "%s: not a duration: '%s' (try 500ms, 2s, 1m)", option, text);
	for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		if (strcmp(end, units[k].suffix) != 0)
			continue;
		if (value * units[k].factor > (double)LONG_MAX / 2)
			die(EXIT_USAGE, "%s: duration too long: '%s'", option, text);
		return (long)(value * units[k].factor);
	}
	die(EXIT_USAGE, "%s: unknown unit in '%s' (use ms, s, m or h)", option, text);
}

void
cli_require(bool parsed)
{
	if (!parsed)
		exit(EXIT_USAGE);
}

int
cli_zstd_level(const char *text)
{
	long level;

	if (text == NULL)
		return 3;
	level = cli_number("--zstd", text);
	if (level < 1 || level > 22)
		die(EXIT_USAGE, "--zstd: level must be 1..22, not %ld", level);
	return (int)level;
}

static void
on_stop_signal(int signo)
{
	(void)signo;
	cli_stop = 1;
}

void
cli_catch_signals(void)
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_handler = on_stop_signal;
	sigemptyset(&action.sa_mask);
	/* No SA_RESTART: a blocked read or sleep returns so the loop sees cli_stop. */
	if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0)
		die(EXIT_LOCAL, "sigaction: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
}

void
cli_version(void)
{
	printf("%s (oplogkit) %s\n", die_progname(), OPLOGKIT_VERSION);
	exit(EXIT_DONE);
}
