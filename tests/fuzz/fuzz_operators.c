/*
 * fuzz_operators.c - libFuzzer entry point for the $set/$unset applier
 * (common/operators.c): the input is two BSON documents back to back,
 * the document then the update's o, each framed by its own int32 length.
 *
 * Besides memory errors, it aborts when a result is not valid BSON or
 * over 16 MiB, when a failure leaves output behind, when applying the
 * update again to its own result changes it ($set and $unset are
 * idempotent, and replays depend on it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "operators.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frame one document at data, valid UTF-8 throughout; its length in *used. */
static bool
take(const uint8_t *data, size_t size, bson_t *doc, size_t *used)
{
	return frame_take(data, size, doc, used) && bson_validate(doc, BSON_VALIDATE_UTF8, NULL);
}

/*
 * Whether doc is valid once its fields are copied into a new document:
 * libbson's validator passes some inputs (arrays keyed oddly, nested
 * lengths it does not follow) whose copied parts it then refuses; an
 * output holding those parts is the input's fault, not the applier's.
 */
static bool
valid_copied(const bson_t *doc)
{
	bson_t copy = BSON_INITIALIZER;
	bson_iter_t iter;
	bool ok = bson_iter_init(&iter, doc);

	while (ok && bson_iter_next(&iter))
		ok = bson_append_iter(&copy, NULL, 0, &iter);
	ok = ok && bson_validate(&copy, BSON_VALIDATE_UTF8, NULL);
	bson_destroy(&copy);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t doc, update, out, again;
	size_t used, used2;
	char err[512];

	if (!take(data, size, &doc, &used) || !take(data + used, size - used, &update, &used2) ||
	    !valid_copied(&doc) || !valid_copied(&update))
		return 0;
	if (!operators_apply(&doc, &update, &out, err, sizeof(err))) {
		if (!bson_empty(&out))
			abort();
		bson_destroy(&out);
		return 0;
	}
	if (!bson_validate(&out, BSON_VALIDATE_NONE, NULL) || out.len > 16 * 1024 * 1024)
		abort();
	if (!operators_apply(&out, &update, &again, err, sizeof(err)) || again.len != out.len ||
	    memcmp(bson_get_data(&again), bson_get_data(&out), out.len) != 0)
		abort();
	bson_destroy(&again);
	bson_destroy(&out);
	return 0;
}
