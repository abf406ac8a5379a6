/*
 * test-json.h - the unit tests' documents: written as JSON with single
 * quotes and '@' for '$' in a key, compared byte for byte, shown on a
 * failure. A header of static inline functions, so that each C file
 * in tests/unit stays one program (the Makefile builds each alone).
 *
 * Why '@': libbson's parser would take '$set' or '$x' for Extended JSON
 * (which '$numberLong' still is); why single quotes: for C's sake.
 */
#ifndef OPLOGKIT_TEST_JSON_H
#define OPLOGKIT_TEST_JSON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "die.h"

/* Copy in to out, turning every '@' in a key into '$'. */
static inline void
test_json_dollarize(bson_iter_t *in, bson_t *out)
{
	while (bson_iter_next(in)) {
		char key[256], *at;
		bson_iter_t child;
		bson_t sub;

		snprintf(key, sizeof(key), "%s", bson_iter_key(in));
		for (at = key; (at = strchr(at, '@')) != NULL; at++)
			*at = '$';
		if (BSON_ITER_HOLDS_DOCUMENT(in) || BSON_ITER_HOLDS_ARRAY(in)) {
			bool array = BSON_ITER_HOLDS_ARRAY(in);

			bson_iter_recurse(in, &child);
			if (array)
				bson_append_array_begin(out, key, -1, &sub);
			else
				bson_append_document_begin(out, key, -1, &sub);
			test_json_dollarize(&child, &sub);
			if (array)
				bson_append_array_end(out, &sub);
			else
				bson_append_document_end(out, &sub);
		} else {
			bson_append_iter(out, key, -1, in);
		}
	}
}

/* The document json spells (a new bson_t); bad test JSON ends the test. */
static inline bson_t *
from_json(const char *json)
{
	char *text = xstrdup(json), *quote;
	bson_error_t error;
	bson_t *parsed, *out;
	bson_iter_t iter;

	for (quote = text; (quote = strchr(quote, '\'')) != NULL; quote++)
		*quote = '"';
	parsed = bson_new_from_json((const uint8_t *)text, -1, &error);
	free(text);
	if (parsed == NULL) {
		fprintf(stderr, "%s: bad test JSON %s: %s\n", program_invocation_short_name, json,
		    error.message);
		exit(1);
	}
	out = bson_new();
	bson_iter_init(&iter, parsed);
	test_json_dollarize(&iter, out);
	bson_destroy(parsed);
	return out;
}

/* Byte for byte: field order and number types included. */
static inline bool
same_bytes(const bson_t *a, const bson_t *b)
{
	return a->len == b->len && memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0;
}

/* One line of a failure's report: label, then doc as canonical Extended JSON. */
static inline void
show(const char *label, const bson_t *doc)
{
	char *json = bson_as_canonical_extended_json(doc, NULL);

	fprintf(stderr, "    %s %s\n", label, json != NULL ? json : "(unprintable)");
	bson_free(json);
}

#endif
