/*
 * clock.h - time for timeouts, rates, reports and pauses. Durations are
 * measured on CLOCK_MONOTONIC, so a clock step never makes one negative.
 */
#ifndef OPLOGKIT_CLOCK_H
#define OPLOGKIT_CLOCK_H

#include <stdbool.h>
#include <time.h>

/* Monotonic milliseconds since some fixed point. */
long long clock_ms(void);

/* Milliseconds and seconds from since (taken on CLOCK_MONOTONIC) to now. */
long clock_ms_since(const struct timespec *since);
double clock_seconds_since(const struct timespec *since);

/* Milliseconds and seconds from one time to another on the same clock. */
long clock_ms_between(const struct timespec *from, const struct timespec *to);
double clock_seconds_between(const struct timespec *from, const struct timespec *to);

/* Sleep ms milliseconds; a signal cuts it short, so callers see cli_stop. */
void clock_sleep_ms(long ms);

/*
 * Whether a once-a-second progress line is due: always when final, else
 * when a second passed since *last (CLOCK_MONOTONIC). When due, *now and
 * *last are set to the time now.
 */
bool clock_progress_due(struct timespec *last, bool final, struct timespec *now);

/* Now plus ms on clock: a deadline for pthread_cond_timedwait and the like. */
struct timespec clock_deadline(clockid_t clock, long ms);

#endif
