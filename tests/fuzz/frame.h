/*
 * frame.h - the harnesses' inputs of BSON documents back to back, each
 * framed by its own int32 length: take one at a time. A header of static
 * inline functions, as each tests/fuzz/fuzz_NAME.c is one program.
 */
#ifndef OPLOGKIT_FUZZ_FRAME_H
#define OPLOGKIT_FUZZ_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

/* BSON lengths are little-endian whatever the host's order. */
static inline uint32_t
frame_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Frame one document at data (not validated: a harness checks what its
 * code under test needs); its length in *used. False when size holds no
 * whole document.
 */
static inline bool
frame_take(const uint8_t *data, size_t size, bson_t *doc, size_t *used)
{
	uint32_t len;

	if (size < 5)
		return false;
	len = frame_le32(data);
	if (len < 5 || len > size)
		return false;
	*used = len;
	return bson_init_static(doc, data, len);
}

#endif
