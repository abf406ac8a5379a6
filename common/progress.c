/*
 * progress.c - the --progress line of a copy against its estimate.
 */
#include <inttypes.h>
#include <stdio.h>

#include "format.h"
#include "progress.h"

#define APPEND(...) format_append(out, size, &used, __VA_ARGS__)

int
progress_format(char *out, size_t size, const struct progress_counts *c)
{
	double rate = c->seconds > 0 ? (double)c->documents / c->seconds : 0.0;
	size_t used = 0;

	if (size > 0)
		out[0] = '\0';
	if (c->documents_known) {
		/* An estimate can be passed (writes during a fuzzy copy): never over 100%. */
		double share = c->documents_total > 0 ?
		    100.0 * (double)c->documents / (double)c->documents_total : 100.0;

		APPEND("%" PRIu64 "/%" PRIu64 " documents (%.0f%%)", c->documents,
		    c->documents_total, share > 100.0 ? 100.0 : share);
	} else {
		APPEND("%" PRIu64 " documents", c->documents);
	}
	if (c->bytes_known)
		APPEND(", %.1f/%.1f MB", (double)c->bytes / 1e6, (double)c->bytes_total / 1e6);
	else
		APPEND(", %.1f MB", (double)c->bytes / 1e6);
	APPEND(", %.0f docs/s", rate);
	/* An ETA needs a total and a rate; past the estimate it is 0, not negative. */
	if (c->documents_known && rate > 0) {
		double left = c->documents < c->documents_total ?
		    (double)(c->documents_total - c->documents) / rate : 0.0;

		APPEND(", ETA %.0fs", left);
	}
	return used > (size_t)INT32_MAX ? -1 : (int)used;
}
