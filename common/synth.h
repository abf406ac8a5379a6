/*
 * synth.h - the synthetic documents the test, bench and example tools
 * write (gen-oplog's inserts, bulk-writer --generate), so a benchmark's
 * baseline loads documents of the very shape and size the stream holds.
 * Random numbers are xorshift64*: the same seed gives the same bytes.
 */
#ifndef OPLOGKIT_SYNTH_H
#define OPLOGKIT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

/* The longest pad synth_append_fields writes: give it this many bytes. */
#define SYNTH_PAD_MAX 16384

struct synth {
	uint64_t state;		/* the seed; never 0 (xorshift stays at 0) */
};

/* The next number of the sequence. */
uint64_t synth_next(struct synth *synth);

/* A number in [0, bound). */
uint32_t synth_below(struct synth *synth, uint32_t bound);

/*
 * After the caller's _id: name, n, tags, nested and a "pad" string of
 * pad's first bytes, so documents run from 100 B to 16 KiB: 70% under
 * 0.5 KiB, 25% up to 4 KiB, 5% 4 to 16 KiB.
 */
void synth_append_fields(struct synth *synth, bson_t *doc, const char *pad);

#endif
