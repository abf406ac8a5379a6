/*
 * fuzz_diff.c - libFuzzer entry point for the $v:2 diff applier and its
 * translation: the input is two BSON documents back to back, the
 * pre-image then the diff, each framed by its own int32 length.
 *
 * Not part of make check. To build and run (clang has libFuzzer):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       -Icommon $(pkg-config --cflags libbson-1.0) tests/fuzz/fuzz_diff.c \
 *       common/diff-*.c common/die.c $(pkg-config --libs libbson-1.0) \
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
 *
 * b entries (byte patches of BinData) also have an exact oracle: the bytes
 * after the pre-image build {b: {F: {o, d}}} for its first BinData field F
 * (o from two bytes, d from the rest), and the result must be mongod's:
 * each F the first o bytes then d, or unchanged when o is past its end,
 * subtype and place kept, every other field untouched, the same again on
 * a second application, and never a $set translation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first top-level BinData field of doc, if any. */
static bool
first_binary(const bson_t *doc, bson_iter_t *found)
{
	bson_iter_t iter;

	if (!bson_iter_init(&iter, doc))
		return false;
	while (bson_iter_next(&iter)) {
		if (BSON_ITER_HOLDS_BINARY(&iter)) {
			*found = iter;
			return true;
		}
	}
	return false;
}

/* What mongod makes of one field named like the patched one. */
static bool
patched_as_mongod(bson_iter_t *pre, bson_iter_t *post, uint32_t offset,
    const uint8_t *patch, uint32_t patch_len)
{
	bson_subtype_t pre_type, post_type;
	const uint8_t *pre_data, *post_data;
	uint32_t pre_len, post_len;

	bson_iter_binary(pre, &pre_type, &pre_len, &pre_data);
	bson_iter_binary(post, &post_type, &post_len, &post_data);
	if (post_type != pre_type)
		return false;
	if (offset > pre_len)
		return post_len == pre_len && memcmp(post_data, pre_data, pre_len) == 0;
	return post_len == offset + patch_len && memcmp(post_data, pre_data, offset) == 0 &&
	    memcmp(post_data + offset, patch, patch_len) == 0;
}

/* The raw bytes of the element at iter in doc: where they start and how many. */
static uint32_t
element_size(const bson_t *doc, bson_iter_t *iter)
{
	bson_iter_t next = *iter;

	if (bson_iter_next(&next))
		return bson_iter_offset(&next) - bson_iter_offset(iter);
	return doc->len - 1 - bson_iter_offset(iter);
}

/* Check out against doc, field by field, for a patch of the fields named name. */
static void
check_patched(const bson_t *doc, const bson_t *out, const char *name, uint32_t offset,
    const uint8_t *patch, uint32_t patch_len)
{
	bson_iter_t pre, post;
	uint32_t size;

	if (!bson_iter_init(&pre, doc) || !bson_iter_init(&post, out))
		abort();
	while (bson_iter_next(&pre)) {
		if (!bson_iter_next(&post) || strcmp(bson_iter_key(&pre), bson_iter_key(&post)) != 0)
			abort();
		if (strcmp(bson_iter_key(&pre), name) == 0) {
			if (!BSON_ITER_HOLDS_BINARY(&post) ||
			    !patched_as_mongod(&pre, &post, offset, patch, patch_len))
				abort();
			continue;
		}
		size = element_size(doc, &pre);
		if (element_size(out, &post) != size ||
		    memcmp(bson_get_data(doc) + bson_iter_offset(&pre),
		    bson_get_data(out) + bson_iter_offset(&post), size) != 0)
			abort();
	}
	if (bson_iter_next(&post))
		abort();
}

/* The b oracle: tail patches doc's first BinData field. */
static void
probe_binary(const bson_t *doc, const uint8_t *tail, size_t tail_len)
{
	bson_iter_t field;
	bson_t diff, section, entry, out, again, update, filter;
	bson_subtype_t subtype;
	const uint8_t *bytes;
	uint32_t len, offset, patch_len;
	bson_error_t error;
	char err[256];
	size_t bad;

	if (tail_len < 2 || !bson_validate(doc, BSON_VALIDATE_NONE, &bad) || !first_binary(doc, &field))
		return;
	bson_iter_binary(&field, &subtype, &len, &bytes);
	offset = ((uint32_t)tail[0] | (uint32_t)tail[1] << 8) % (len + 3);
	patch_len = (uint32_t)(tail_len - 2 > 512 ? 512 : tail_len - 2);
	bson_init(&diff);
	BSON_APPEND_DOCUMENT_BEGIN(&diff, "b", &section);
	bson_append_document_begin(&section, bson_iter_key(&field), -1, &entry);
	BSON_APPEND_INT32(&entry, "o", (int32_t)offset);
	BSON_APPEND_BINARY(&entry, "d", BSON_SUBTYPE_BINARY, tail + 2, patch_len);
	bson_append_document_end(&section, &entry);
	bson_append_document_end(&diff, &section);

	if (diff_apply(doc, &diff, &out, err, sizeof(err))) {
		check_patched(doc, &out, bson_iter_key(&field), offset, tail + 2, patch_len);
		if (!diff_apply(&out, &diff, &again, err, sizeof(err)) || again.len != out.len ||
		    memcmp(bson_get_data(&again), bson_get_data(&out), out.len) != 0)
			abort();
		bson_destroy(&again);
	} else if (strstr(err, "not BinData") == NULL && strstr(err, "subtype 2") == NULL &&
	    strstr(err, "document:") == NULL) {
		/* Refused only for a same-named field it cannot patch, or a pre-image it cannot read. */
		fprintf(stderr, "fuzz_diff: the b probe was refused: %s\n", err);
		abort();
	}
	bson_destroy(&out);
	if (diff_to_update(&diff, &update, &filter, &error) || error.code != DIFF_ERROR_INEXACT)
		abort();
	bson_destroy(&update);
	bson_destroy(&filter);
	bson_destroy(&diff);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t doc, diff, out, update, filter;
	size_t used, offset;
	char err[256];
	bson_error_t error;
	bool valid, applied, translated;

	if (!frame_take(data, size, &doc, &used))
		return 0;
	probe_binary(&doc, data + used, size - used);
	if (!frame_take(data + used, size - used, &diff, &used))
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
