/*
 * fuzz_args.c - libFuzzer entry point for the parsers of command-line
 * arguments: timestamps as "T", "T,I", "T.I" or Extended JSON
 * {"$timestamp": ...} (ts_parse), durations, numbers and zstd levels
 * (common/cli.c).
 *
 * The cli parsers end a program with die(EXIT_USAGE, ...) on bad input;
 * here cli.c is compiled in with die() turned into a longjmp back to the
 * entry point, so that a refusal is an answer, not an exit.
 *
 * Besides memory errors and undefined behaviour (a float cast out of
 * range, say), it aborts when a parsed timestamp does not survive
 * ts_format and ts_parse again, or a parser returns a negative value.
 *
 * make fuzz builds it; make fuzz-short runs it; see tests/fuzz/README.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf refused;

static void fuzz_die(int, const char *, ...) __attribute__((noreturn));

static void
fuzz_die(int status, const char *fmt, ...)
{
	(void)fmt;
	if (status != EXIT_USAGE)
		abort();
	longjmp(refused, 1);
}

#define die fuzz_die
#include "../../common/cli.c"
#undef die

static void
check_ts(const char *text)
{
	timestamp_t ts, again;
	char formatted[32];

	if (!ts_parse(text, &ts))
		return;
	if (!ts_parse(ts_format(ts, formatted, sizeof(formatted)), &again) ||
	    ts_compare(ts, again) != 0)
		abort();
}

static void
check_cli(const char *text)
{
	if (setjmp(refused) == 0 && cli_duration_ms("--fuzz", text) < 0)
		abort();
	if (setjmp(refused) == 0 && cli_number("--fuzz", text) < 0)
		abort();
	if (setjmp(refused) == 0) {
		int level = cli_zstd_level(text);

		if (level < 1 || level > 22)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size > 4096)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_ts(text);
	check_cli(text);
	free(text);
	return 0;
}
