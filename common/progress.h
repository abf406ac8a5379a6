/*
 * progress.h - the --progress line of a copy whose size may be known:
 * "N/TOTAL documents (P%), X/Y MB, R docs/s, ETA Ts" when the total is
 * known, "N documents, X MB, R docs/s" when not (no made-up percentage
 * or ETA). snap-export and snap-import print the same words.
 */
#ifndef OPLOGKIT_PROGRESS_H
#define OPLOGKIT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress_counts {
	uint64_t documents, bytes;	/* done */
	bool documents_known, bytes_known;
	uint64_t documents_total, bytes_total;
	double seconds;		/* since the copy began */
};

/* The line, without "PROGRAM: " or a newline, into out; as snprintf. */
int progress_format(char *out, size_t size, const struct progress_counts *counts);

#endif
