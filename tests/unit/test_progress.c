/*
 * test_progress - the --progress line of snap-export and snap-import
 * (common/progress.c): done/total, percentage and ETA only where a total
 * is known, never a made-up one; an estimate the copy passes (writes
 * during a fuzzy export) shows 100% and ETA 0s, not 104% or a negative ETA.
 */
#include <stdio.h>
#include <string.h>

#include "progress.h"

static int failures;

static void
expect(const struct progress_counts *counts, const char *want, int line)
{
	char out[256];

	progress_format(out, sizeof(out), counts);
	if (strcmp(out, want) != 0) {
		fprintf(stderr, "test_progress:%d: got '%s', want '%s'\n", line, out, want);
		failures++;
	}
}

int
main(void)
{
	struct progress_counts known = { .documents = 25000, .bytes = 2500000,
	    .documents_known = true, .bytes_known = true, .documents_total = 100000,
	    .bytes_total = 10000000, .seconds = 5 };
	struct progress_counts unknown = { .documents = 25000, .bytes = 2500000, .seconds = 5 };
	struct progress_counts documents_only = known, passed = known, idle = known;

	expect(&known, "25000/100000 documents (25%), 2.5/10.0 MB, 5000 docs/s, ETA 15s", __LINE__);
	expect(&unknown, "25000 documents, 2.5 MB, 5000 docs/s", __LINE__);
	documents_only.bytes_known = false;
	expect(&documents_only, "25000/100000 documents (25%), 2.5 MB, 5000 docs/s, ETA 15s",
	    __LINE__);
	passed.documents = 104000;
	expect(&passed, "104000/100000 documents (100%), 2.5/10.0 MB, 20800 docs/s, ETA 0s",
	    __LINE__);
	/* Nothing done yet: no rate, so no ETA rather than an infinite one. */
	idle.documents = 0;
	idle.seconds = 0;
	expect(&idle, "0/100000 documents (0%), 2.5/10.0 MB, 0 docs/s", __LINE__);
	return failures == 0 ? 0 : 1;
}
