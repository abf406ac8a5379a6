/*
 * recent.c - the late window of a polling reader (struct recent in
 * read.h): the timestamps written in the last OPLOG_LATE_WINDOW_S
 * seconds, kept sorted in one array, so that a poll that reads that
 * window again writes only what it had not seen.
 */
#include <string.h>

#include "die.h"
#include "read.h"

static uint64_t
ts_key(timestamp_t ts)
{
	return (uint64_t)ts.t << 32 | ts.i;
}

/* Index of the first key >= key. */
static size_t
recent_search(const struct recent *recent, uint64_t key)
{
	size_t low = recent->head, high = recent->head + recent->count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (recent->keys[middle] < key)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

bool
recent_add(struct recent *recent, timestamp_t ts)
{
	uint64_t key = ts_key(ts);
	size_t at = recent_search(recent, key), end = recent->head + recent->count;
	uint64_t newest, floor;

	if (at < end && recent->keys[at] == key)
		return false;
	if (end == recent->capacity) {
		/* keys is NULL before the first entry: memmove's pointers must not be */
		if (recent->count > 0)
			memmove(recent->keys, recent->keys + recent->head,
			    recent->count * sizeof(uint64_t));
		at -= recent->head;
		recent->head = 0;
		end = recent->count;
		if (end == recent->capacity) {
			recent->capacity = recent->capacity ? recent->capacity * 2 : 1024;
			recent->keys = xrealloc(recent->keys, recent->capacity * sizeof(uint64_t));
		}
	}
	memmove(recent->keys + at + 1, recent->keys + at, (end - at) * sizeof(uint64_t));
	recent->keys[at] = key;
	recent->count++;
	newest = recent->keys[recent->head + recent->count - 1] >> 32;
	floor = newest > OPLOG_LATE_WINDOW_S ? newest - OPLOG_LATE_WINDOW_S : 0;
	while (recent->count > 0 && recent->keys[recent->head] >> 32 < floor) {
		recent->head++;
		recent->count--;
	}
	return true;
}
