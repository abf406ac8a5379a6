/*
 * fuzz_diff.c - libFuzzer entry point for the $v:2 diff applier and its
 * translation: the input is two BSON documents back to back, the
 * pre-image then the diff, each framed by its own int32 length.
 *
 * Not part of make check. To build and run (clang has libFuzzer):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       -Icommon $(pkg-config --cflags libbson-1.0) tests/fuzz/fuzz_diff.c \
 *       common/diff.c common/die.c $(pkg-config --libs libbson-1.0) \
 *       -o build/fuzz_diff
 *   mkdir -p build/fuzz-corpus
 *   OPLOGKIT_FUZZ_SEEDS=build/fuzz-corpus build/plain/unit/test_diff
 *   build/fuzz_diff -max_len=8192 -max_total_time=300 build/fuzz-corpus
 *
 * The seeds are the unit test's cases, written by test_diff when
 * OPLOGKIT_FUZZ_SEEDS names a directory. Besides memory errors, it aborts
 * when a result is not valid BSON or over DIFF_MAX_DOCUMENT, when a diff
 * translates but does not apply, or when the three entry points disagree
 * on whether the diff is valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
read_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Frame one document at data; its length in *used. */
static bool
take(const uint8_t *data, size_t size, bson_t *doc, size_t *used)
{
	uint32_t len;

	if (size < 5)
		return false;
	len = read_le32(data);
	if (len < 5 || len > size)
		return false;
	*used = len;
	return bson_init_static(doc, data, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t doc, diff, out, update, filter;
	size_t used, offset;
	char err[256];
	bson_error_t error;
	bool valid, applied, translated;

	if (!take(data, size, &doc, &used))
		return 0;
	if (!take(data + used, size - used, &diff, &used))
		return 0;

	valid = diff_validate(&diff, err, sizeof(err));
	applied = diff_apply(&doc, &diff, &out, err, sizeof(err));
	if (applied && (!bson_validate(&out, BSON_VALIDATE_NONE, &offset) || out.len > DIFF_MAX_DOCUMENT))
		abort();
	if (applied && !valid)
		abort();
	bson_destroy(&out);

	translated = diff_to_update(&diff, &update, &filter, &error);
	if (translated && !valid)
		abort();
	if (!translated && error.code == DIFF_ERROR_INEXACT && !valid)
		abort();
	bson_destroy(&update);
	bson_destroy(&filter);
	return 0;
}
