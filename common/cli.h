/*
 * cli.h - command-line helpers every program shares: numbers, durations,
 * zstd levels, --help text, and the SIGINT/SIGTERM stop flag.
 */
#ifndef OPLOGKIT_CLI_H
#define OPLOGKIT_CLI_H

#include <signal.h>
#include <stdbool.h>

/* Parse a non-negative integer; exits EXIT_USAGE naming option on error. */
long cli_number(const char *option, const char *text);

/* cli_number, and within [min, max]; exits EXIT_USAGE naming option if not. */
long cli_range(const char *option, const char *text, long min, long max);

/* Parse a duration: "250ms", "2s", "1m", "1h", or bare seconds. In ms. */
long cli_duration_ms(const char *option, const char *text);

/* Exit EXIT_USAGE when a parser that printed its own message said no. */
void cli_require(bool parsed);

/* Parse an optional --zstd=LEVEL argument (NULL: the default level 3). */
int cli_zstd_level(const char *text);

/* Set by SIGINT/SIGTERM once cli_catch_signals() ran: finish and stop. */
extern volatile sig_atomic_t cli_stop;
void cli_catch_signals(void);

/* Print the version line "PROG (oplogkit) VERSION" and exit 0. */
void cli_version(void) __attribute__((noreturn));

#define OPLOGKIT_VERSION "0.1.0"

#endif
