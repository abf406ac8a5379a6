/*
 * fuzz_extjson.c - libFuzzer entry point for oplog-show's bsondump text
 * and relaxed JSON (common/extjson.c). The input is one BSON document,
 * checked as the stream reader checks a frame; its first double, if any,
 * and the input's first 8 bytes read as a double are formatted too.
 *
 * Besides memory errors, it aborts when a double's text does not read
 * back as the very same double or has more than 17 digits, when the text
 * of a valid document is missing or its objects do not close, or when the
 * --pretty form, its added white space taken out, is not the line itself.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_double(double d)
{
	char text[64];
	double back;
	int digits = 0;
	const char *p;

	extjson_double(d, text, sizeof(text));
	if (isnan(d)) {
		if (strcmp(text, "NaN") != 0)
			abort();
		return;
	}
	if (isinf(d)) {
		if (strcmp(text, d > 0 ? "Infinity" : "-Infinity") != 0)
			abort();
		return;
	}
	back = strtod(text, NULL);
	if (memcmp(&back, &d, sizeof(d)) != 0)
		abort();
	/* From the first digit that is not 0: at most 17, and the ".0" of a whole number. */
	for (p = text; *p != '\0' && *p != 'E'; p++)
		if ((*p >= '1' && *p <= '9') || (digits > 0 && *p == '0'))
			digits++;
	if (digits > 18)
		abort();
}

/* indented with the white space outside strings taken out must be json. */
static void
check_indent(const char *json, size_t len)
{
	size_t indented_len;
	char *indented = extjson_indent(json, len, &indented_len), *squeezed, *out;
	bool in_string = false;
	const char *p, *end = indented + indented_len;

	squeezed = malloc(indented_len + 1);
	if (squeezed == NULL)
		abort();
	out = squeezed;
	for (p = indented; p < end; p++) {
		if (in_string) {
			*out++ = *p;
			if (*p == '\\' && p + 1 < end)
				*out++ = *++p;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		if (*p == '"')
			in_string = true;
		if (*p != ' ' && *p != '\n' && *p != '\t')
			*out++ = *p;
	}
	if ((size_t)(out - squeezed) != len || memcmp(squeezed, json, len) != 0)
		abort();
	free(squeezed);
	bson_free(indented);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t doc;
	bson_iter_t iter;
	size_t offset;
	double d;
	char *json;
	size_t len;
	bool left_out;

	if (size >= sizeof(d)) {
		memcpy(&d, data, sizeof(d));
		check_double(d);
	}
	if (size < 5 || !bson_init_static(&doc, data, size) || data[size - 1] != '\0' ||
	    !bson_validate(&doc, BSON_VALIDATE_NONE, &offset))
		return 0;
	json = extjson_bsondump(&doc, &len, &left_out);
	if (json != NULL) {
		if (len < 2 || json[0] != '{' || json[len - 1] != '}' || extjson_depth(json, len) < 1)
			abort();
		check_indent(json, len);
		bson_free(json);
	}
	json = extjson_relaxed(&doc, NULL);
	bson_free(json);
	if (bson_iter_init(&iter, &doc))
		while (bson_iter_next(&iter))
			if (BSON_ITER_HOLDS_DOUBLE(&iter)) {
				check_double(bson_iter_double(&iter));
				break;
			}
	return 0;
}
