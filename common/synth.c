/*
 * synth.c - synthetic documents for the tools; see synth.h.
 */
#include "synth.h"

uint64_t
synth_next(struct synth *synth)
{
	synth->state ^= synth->state >> 12;
	synth->state ^= synth->state << 25;
	synth->state ^= synth->state >> 27;
	return synth->state * 2685821657736338717ULL;
}

uint32_t
synth_below(struct synth *synth, uint32_t bound)
{
	return (uint32_t)(synth_next(synth) % bound);
}

/* The pad's length: most documents small, a few up to 16 KiB. */
static int
pad_length(struct synth *synth)
{
	uint32_t dice = synth_below(synth, 100);

	if (dice < 70)
		return 40 + (int)synth_below(synth, 400);
	if (dice < 95)
		return 500 + (int)synth_below(synth, 3500);
	return 4000 + (int)synth_below(synth, 12000);
}

void
synth_append_fields(struct synth *synth, bson_t *doc, const char *pad)
{
	bson_t tags, nested;
	int length = pad_length(synth);

	BSON_APPEND_UTF8(doc, "name", "generated");
	BSON_APPEND_INT64(doc, "n", (int64_t)synth_below(synth, 1000000));
	BSON_APPEND_ARRAY_BEGIN(doc, "tags", &tags);
	BSON_APPEND_UTF8(&tags, "0", "a");
	BSON_APPEND_UTF8(&tags, "1", "b");
	bson_append_array_end(doc, &tags);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "nested", &nested);
	BSON_APPEND_INT32(&nested, "a", 1);
	BSON_APPEND_UTF8(&nested, "b", "x");
	bson_append_document_end(doc, &nested);
	bson_append_utf8(doc, "pad", 3, pad, length);
}
