/*
 * clock.c - time for timeouts, rates, reports and pauses.
 */
#include "clock.h"

long long
clock_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

long
clock_ms_between(const struct timespec *from, const struct timespec *to)
{
	return (to->tv_sec - from->tv_sec) * 1000L + (to->tv_nsec - from->tv_nsec) / 1000000L;
}

double
clock_seconds_between(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

long
clock_ms_since(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return clock_ms_between(since, &now);
}

double
clock_seconds_since(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return clock_seconds_between(since, &now);
}

void
clock_sleep_ms(long ms)
{
	struct timespec pause = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&pause, NULL);
}

struct timespec
clock_deadline(clockid_t clock, long ms)
{
	struct timespec when;

	clock_gettime(clock, &when);
	when.tv_sec += ms / 1000;
	when.tv_nsec += (ms % 1000) * 1000000L;
	if (when.tv_nsec >= 1000000000L) {
		when.tv_sec++;
		when.tv_nsec -= 1000000000L;
	}
	return when;
}

bool
clock_progress_due(struct timespec *last, bool final, struct timespec *now)
{
	clock_gettime(CLOCK_MONOTONIC, now);
	if (!final && now->tv_sec - last->tv_sec < 1)
		return false;
	*last = *now;
	return true;
}
