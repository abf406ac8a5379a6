/*
 * test_diff.c - the $v:2 diff applier and its $set/$unset translation.
 *
 * Every expected document is written down from MongoDB's semantics, not
 * from this code's output: the cases marked "mongod:" are the pre-images,
 * diffs and post-images of mongod's own document_diff_applier_test.cpp;
 * the others follow the rules in common/diff.h. Results are compared byte
 * for byte (field order and number types included), and each diff is
 * applied a second time to its own result, which must not change it:
 * mongod's test asserts the same, and replays depend on it.
 *
 * Test JSON uses single quotes, and '@' for '$' in a key: libbson's
 * parser would take '$x' for Extended JSON (which '$numberLong' still is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "die.h"
#include "diff.h"

static int failures;
static int checks;

#define CHECK(cond) do { \
	checks++; \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

/* Copy in to out, turning every '@' in a key into '$'. */
static void
dollarize(bson_iter_t *in, bson_t *out)
{
	while (bson_iter_next(in)) {
		char key[256];
		bson_iter_t child;
		bson_t sub;

		char *at;

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
			dollarize(&child, &sub);
			if (array)
				bson_append_array_end(out, &sub);
			else
				bson_append_document_end(out, &sub);
		} else {
			bson_append_iter(out, key, -1, in);
		}
	}
}

static bson_t *
from_json(const char *json)
{
	bson_error_t error;
	char *text = xstrdup(json), *quote;
	bson_t *parsed, *out;
	bson_iter_t iter;

	/* Test JSON is written with single quotes, for C's sake. */
	for (quote = text; (quote = strchr(quote, '\'')) != NULL; quote++)
		*quote = '"';
	parsed = bson_new_from_json((const uint8_t *)text, -1, &error);
	free(text);
	if (parsed == NULL) {
		fprintf(stderr, "test_diff: bad test JSON %s: %s\n", json, error.message);
		exit(1);
	}
	out = bson_new();
	bson_iter_init(&iter, parsed);
	dollarize(&iter, out);
	bson_destroy(parsed);
	return out;
}

static bool
same_bytes(const bson_t *a, const bson_t *b)
{
	return a->len == b->len && memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0;
}

static void
show(const char *label, const bson_t *doc)
{
	char *json = bson_as_canonical_extended_json(doc, NULL);

	fprintf(stderr, "    %s %s\n", label, json != NULL ? json : "(unprintable)");
	bson_free(json);
}

/* With OPLOGKIT_FUZZ_SEEDS=dir, save doc then diff as a seed for tests/fuzz/fuzz_diff. */
static void
save_seed(const bson_t *doc, const bson_t *diff)
{
	const char *dir = getenv("OPLOGKIT_FUZZ_SEEDS");
	static int seed;
	char path[4096];
	FILE *file;

	if (dir == NULL || *dir == '\0')
		return;
	snprintf(path, sizeof(path), "%s/seed-%03d.bson", dir, seed++);
	file = fopen(path, "wb");
	if (file == NULL) {
		fprintf(stderr, "test_diff: %s: cannot write\n", path);
		return;
	}
	fwrite(bson_get_data(doc), 1, doc->len, file);
	fwrite(bson_get_data(diff), 1, diff->len, file);
	fclose(file);
}

/* Apply diff to doc: the result must be expect, byte for byte, twice over. */
static void
apply_ok(const char *name, const char *doc_json, const char *diff_json, const char *expect_json)
{
	bson_t *doc = from_json(doc_json), *diff = from_json(diff_json);
	bson_t *expect = from_json(expect_json);
	bson_t out, again;
	char err[512];

	save_seed(doc, diff);
	checks++;
	if (!diff_apply(doc, diff, &out, err, sizeof(err))) {
		fprintf(stderr, "FAIL %s: diff_apply failed: %s\n", name, err);
		failures++;
	} else if (!same_bytes(&out, expect)) {
		fprintf(stderr, "FAIL %s: wrong result\n", name);
		show("diff:    ", diff);
		show("got:     ", &out);
		show("expected:", expect);
		failures++;
	} else if (!diff_apply(&out, diff, &again, err, sizeof(err)) || !same_bytes(&again, expect)) {
		fprintf(stderr, "FAIL %s: applying the diff again changed the result\n", name);
		show("again:   ", &again);
		failures++;
		bson_destroy(&again);
	} else {
		bson_destroy(&again);
	}
	bson_destroy(&out);
	bson_destroy(doc);
	bson_destroy(diff);
	bson_destroy(expect);
}

/* diff_apply must refuse, with a message holding why, and leave out empty. */
static void
apply_bad_bson(const char *name, const bson_t *doc, const bson_t *diff, const char *why)
{
	bson_t out;
	char err[512];

	save_seed(doc, diff);
	checks++;
	if (diff_apply(doc, diff, &out, err, sizeof(err))) {
		fprintf(stderr, "FAIL %s: diff_apply accepted it\n", name);
		show("got:", &out);
		failures++;
	} else if (strstr(err, why) == NULL) {
		fprintf(stderr, "FAIL %s: message \"%s\" does not say \"%s\"\n", name, err, why);
		failures++;
	} else if (!bson_empty(&out)) {
		fprintf(stderr, "FAIL %s: output not empty after a failure\n", name);
		failures++;
	}
	bson_destroy(&out);
}

static void
apply_bad(const char *name, const char *doc_json, const char *diff_json, const char *why)
{
	bson_t *doc = from_json(doc_json), *diff = from_json(diff_json);

	apply_bad_bson(name, doc, diff, why);
	bson_destroy(doc);
	bson_destroy(diff);
}

/* mongod's document_diff_applier_test.cpp, case by case. */
static void
test_mongod_cases(void)
{
	const char *sub = "{'ssubObj': {'ssubObj': {'u': {'a': 1}}}}";
	const char *objs = "{'d': {'dFieldA': false, 'dFieldB': false}, 'u': {'uField': 999}, "
	    "'sarr': {'a': true, 's1': {'u': {'a': 1}}, 's2': {'u': {'b': 2}}, "
	    "'s3': {'u': {'c': 3}}, 'u4': {'x': 1}}}";
	const char *noncontig = "{'sarr': {'a': true, 'u1': 997, 'u2': {'newVal': 998}, 'u5': 999}}";

	apply_ok("mongod: DeleteSimple", "{'f1': 1, 'foo': 2, 'f2': 3}",
	    "{'d': {'f1': false, 'f2': false, 'f3': false}}", "{'foo': 2}");
	apply_ok("mongod: InsertSimple", "{'f1': 1, 'foo': 2, 'f2': 3}",
	    "{'i': {'f1': 1, 'newField': 2}}", "{'foo': 2, 'f2': 3, 'f1': 1, 'newField': 2}");
	apply_ok("mongod: UpdateSimple", "{'f1': 0, 'foo': 2, 'f2': 3}",
	    "{'u': {'f1': 1, 'newField': 2}}", "{'f1': 1, 'foo': 2, 'f2': 3, 'newField': 2}");
	apply_ok("mongod: SubObjDiffSimple",
	    "{'obj': {'dField': 0, 'iField': 0, 'uField': 0}, 'otherField': 0}",
	    "{'sobj': {'d': {'dField': false}, 'u': {'uField': 2}, 'i': {'iField': 1}}}",
	    "{'obj': {'uField': 2, 'iField': 1}, 'otherField': 0}");
	apply_ok("mongod: SubArrayDiffSimpleWithAppend", "{'arr': [999, 999, 999, 999]}",
	    "{'sarr': {'a': true, 'u1': 1, 'u4': 2}}", "{'arr': [999, 1, 999, 999, 2]}");
	apply_ok("mongod: SubArrayDiffSimpleWithTruncate", "{'arr': [999, 999, 999, 999]}",
	    "{'sarr': {'a': true, 'l': 3, 'u1': 1}}", "{'arr': [999, 1, 999]}");
	apply_ok("mongod: SubArrayDiffSimpleWithNullPadding", "{'arr': [0]}",
	    "{'sarr': {'a': true, 'u3': 1}}", "{'arr': [0, null, null, 1]}");

	apply_ok("mongod: NestedSubObjUpdateScalar, matching", "{'subObj': {'subObj': {'a': 0}}}", sub,
	    "{'subObj': {'subObj': {'a': 1}}}");
	apply_ok("mongod: NestedSubObjUpdateScalar, field missing", "{'someOtherField': 1}", sub,
	    "{'someOtherField': 1}");
	apply_ok("mongod: NestedSubObjUpdateScalar, scalar",
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': 'scalar!', 'dummyC': 3, 'dummyD': 4}", sub,
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': null, 'dummyC': 3, 'dummyD': 4}");
	apply_ok("mongod: NestedSubObjUpdateScalar, inner scalar",
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': {'subDummyA': 1, 'subObj': 'scalar!', "
	    "'subDummyB': 2}, 'dummyC': 3}", sub,
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': {'subDummyA': 1, 'subObj': null, "
	    "'subDummyB': 2}, 'dummyC': 3}");

	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, matching",
	    "{'uField': 1, 'dFieldA': 1, 'arr': [null, {'a': 0}, {'b': 0}, {'c': 0}], 'dFieldB': 1}",
	    objs, "{'uField': 999, 'arr': [null, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}]}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, other objects",
	    "{'uField': 1, 'dFieldA': 1, 'arr': [{'a': 0}, {'b': 0}, {'c': 0}, {}], 'dFieldB': 1}",
	    objs, "{'uField': 999, 'arr': [{'a': 0}, {'b': 0, 'a': 1}, {'c': 0, 'b': 2}, {'c': 3}, "
	    "{'x': 1}]}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, no-op",
	    "{'arr': [null, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}], 'uField': 999}", objs,
	    "{'arr': [null, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}], 'uField': 999}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, scalars",
	    "{'arr': [0, 0, 0, 0, {'x': 2}], 'uField': 1}", objs,
	    "{'arr': [0, null, null, null, {'x': 1}], 'uField': 999}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, too short", "{'arr': [], 'uField': 1}", objs,
	    "{'arr': [null, null, null, null, {'x': 1}], 'uField': 999}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, longer",
	    "{'arr': [0, {}, {}, {}, 4, 5, 6], 'uField': 1}", objs,
	    "{'arr': [0, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}, 5, 6], 'uField': 999}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, object",
	    "{'dummyA': 1, 'arr': {'foo': 1}, 'dummyB': 1}", objs,
	    "{'dummyA': 1, 'arr': null, 'dummyB': 1, 'uField': 999}");
	apply_ok("mongod: UpdateArrayOfObjectsSubDiff, scalar", "{'dummyA': 1, 'arr': 1, 'dummyB': 1}",
	    objs, "{'dummyA': 1, 'arr': null, 'dummyB': 1, 'uField': 999}");

	apply_ok("mongod: NonContiguous, matching", "{'arr': [null, {}, {}, {}, {}, {}]}", noncontig,
	    "{'arr': [null, 997, {'newVal': 998}, {}, {}, 999]}");
	apply_ok("mongod: NonContiguous, padding", "{'arr': [{}, {}, {}, {}]}", noncontig,
	    "{'arr': [{}, 997, {'newVal': 998}, {}, null, 999]}");
	apply_ok("mongod: NonContiguous, longer", "{'arr': [0, 1, 2, 3, 4, 5, 6]}", noncontig,
	    "{'arr': [0, 997, {'newVal': 998}, 3, 4, 999, 6]}");
	apply_ok("mongod: NonContiguous, sub-arrays", "{'arr': [0, 1, [], [], ['a', 'b'], 5, 6]}",
	    noncontig, "{'arr': [0, 997, {'newVal': 998}, [], ['a', 'b'], 999, 6]}");
	apply_ok("mongod: NonContiguous, object", "{'arr': {'x': 1}}", noncontig, "{'arr': null}");
	apply_ok("mongod: NonContiguous, scalar", "{'arr': 'scalar!'}", noncontig, "{'arr': null}");

	apply_bad("mongod: DiffWithDuplicateFields", "{}",
	    "{'d': {'dupField': false}, 'u': {'dupField': 'new value'}}", "duplicate field name");
	apply_bad("mongod: EmptyDiff", "{}", "{}", "empty diff");
	apply_bad("mongod: ArrayDiffAtTop", "{}", "{'a': true, 'l': 5, 'd0': false}",
	    "unexpected section");
	apply_bad("mongod: duplicate in d", "{}", "{'d': {'a': false, 'b': false, 'a': false}}",
	    "duplicate field name \"a\"");
	apply_bad("mongod: duplicate in u", "{}", "{'u': {'f1': 3, 'f1': 4}}",
	    "duplicate field name \"f1\"");
	apply_bad("mongod: duplicate in i", "{}", "{'i': {'a': {}, 'a': null}}", "duplicate");
	apply_bad("mongod: duplicate across d and i", "{}", "{'d': {'b': false}, 'i': {'a': {}, 'b': null}}",
	    "duplicate field name \"b\"");
	apply_bad("mongod: duplicate across u and i", "{}", "{'u': {'b': false}, 'i': {'a': {}, 'b': null}}",
	    "duplicate field name \"b\"");
	apply_bad("mongod: duplicate across u and s", "{}", "{'u': {'a': {}}, 'sa': {'d': {'k': false}}}",
	    "duplicate field name \"a\"");
}

/* Extended JSON for BinData: BIN(base64, two hex digits of subtype). */
#define BIN(base64, subtype) "{'$binary': {'base64': '" base64 "', 'subType': '" subtype "'}}"
/* A b entry {o: offset, d: BinData(0, base64)}, as mongod writes one. */
#define PATCH(offset, base64) "{'o': " #offset ", 'd': " BIN(base64, "00") "}"

/*
 * mongod's DiffApplierTest Binary* cases (MongoDB 8.0's time-series
 * column patches): "abc" is YWJj, "def" ZGVm, "abcdef" YWJjZGVm,
 * "abdef" YWJkZWY=, "ax" YXg=, "x" eA==; subtype 07 is Column, 04 UUID.
 * checkDiff there applies each diff twice, as apply_ok does.
 */
static void
test_mongod_binary_cases(void)
{
	const char *append = "{'b': {'b1': " PATCH(3, "ZGVm") "}}";
	const char *shrink = "{'b': {'b1': " PATCH(1, "eA==") "}}";

	apply_ok("mongod: BinaryAppendSimple", "{'b1': " BIN("YWJj", "07") "}", append,
	    "{'b1': " BIN("YWJjZGVm", "07") "}");
	apply_ok("mongod: BinaryOverwriteSimple", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': " PATCH(2, "ZGVm") "}}", "{'b1': " BIN("YWJkZWY=", "07") "}");
	/* BinaryIsIdempotent applies its diff to the diff itself: the append again. */
	apply_ok("mongod: BinaryIsIdempotent", "{'b1': " BIN("YWJj", "07") "}", append,
	    "{'b1': " BIN("YWJjZGVm", "07") "}");
	apply_ok("mongod: BinaryIsIdempotentMultipleWithShrink, append",
	    "{'b1': " BIN("YWJj", "07") "}", append, "{'b1': " BIN("YWJjZGVm", "07") "}");
	apply_ok("mongod: BinaryIsIdempotentMultipleWithShrink, shrink",
	    "{'b1': " BIN("YWJjZGVm", "07") "}", shrink, "{'b1': " BIN("YXg=", "07") "}");
	apply_ok("mongod: BinaryIsIdempotentMultipleWithShrink, append replayed past the end",
	    "{'b1': " BIN("YXg=", "07") "}", append, "{'b1': " BIN("YXg=", "07") "}");
	apply_ok("mongod: BinaryIsIdempotentMultipleWithShrink, shrink replayed",
	    "{'b1': " BIN("YXg=", "07") "}", shrink, "{'b1': " BIN("YXg=", "07") "}");
	apply_ok("mongod: BinaryAppendNonColumnSubtype", "{'b1': " BIN("YWJj", "00") "}", append,
	    "{'b1': " BIN("YWJjZGVm", "00") "}");
	apply_ok("mongod: BinaryOverwriteNonColumnSubtype", "{'b1': " BIN("YWJj", "04") "}",
	    "{'b': {'b1': " PATCH(2, "ZGVm") "}}", "{'b1': " BIN("YWJkZWY=", "04") "}");
	apply_ok("mongod: BinaryIsIdempotentNonColumnSubtype", "{'b1': " BIN("YWJj", "00") "}", append,
	    "{'b1': " BIN("YWJjZGVm", "00") "}");
	apply_bad("mongod: BinaryMalformedDiffNotObject", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': 'not_an_object'}}", "diff at b.b1: b entry is a string, not an object");
	apply_bad("mongod: BinaryNegativeDiffOffset", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': " PATCH(-1, "ZGVm") "}}", "diff at b.b1: b entry offset o: -1 is out of range");
	apply_bad("mongod: BinaryMalformedDiffFieldNotBinData", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': {'o': 3, 'd': 'not_bindata'}}}",
	    "diff at b.b1: b entry data d is a string, not BinData");
}

/* b entries beyond mongod's own cases, by the rules of diff.h. */
static void
test_binary(void)
{
	const char *bucket = "{'_id': 1, 'control': {'version': 2, 'count': 2}, "
	    "'data': {'time': " BIN("YWJj", "07") ", 'x': " BIN("eHl6", "07") "}, 'meta': 'm'}";

	/* The shape mongod 8.0 logs for an insert into a compressed bucket. */
	apply_ok("a time-series bucket update", bucket,
	    "{'scontrol': {'u': {'count': 3}}, 'sdata': {'i': {'y': " BIN("AQI=", "07") "}, "
	    "'b': {'time': " PATCH(2, "ZGVm") ", 'x': " PATCH(3, "AA==") "}}}",
	    "{'_id': 1, 'control': {'version': 2, 'count': 3}, "
	    "'data': {'time': " BIN("YWJkZWY=", "07") ", 'x': " BIN("eHl6AA==", "07") ", "
	    "'y': " BIN("AQI=", "07") "}, 'meta': 'm'}");
	apply_ok("b keeps the field's place", "{'a': 1, 'c': " BIN("YWJj", "07") ", 'z': 2}",
	    "{'b': {'c': " PATCH(0, "eA==") "}}", "{'a': 1, 'c': " BIN("eA==", "07") ", 'z': 2}");
	apply_ok("o at the end appends", "{'c': " BIN("YWJj", "07") "}", "{'b': {'c': " PATCH(3, "eA==") "}}",
	    "{'c': " BIN("YWJjeA==", "07") "}");
	apply_ok("empty d cuts at o", "{'c': " BIN("YWJj", "07") "}", "{'b': {'c': " PATCH(1, "") "}}",
	    "{'c': " BIN("YQ==", "07") "}");
	apply_ok("o: 0 with empty d empties", "{'c': " BIN("YWJj", "05") "}",
	    "{'b': {'c': " PATCH(0, "") "}}", "{'c': " BIN("", "05") "}");
	apply_ok("o one past the end changes nothing", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': " PATCH(4, "eA==") "}}", "{'c': " BIN("YWJj", "07") "}");
	apply_ok("b of a missing field does nothing", "{'a': 1}", "{'b': {'c': " PATCH(0, "eA==") "}}",
	    "{'a': 1}");
	apply_ok("d's subtype does not matter", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'd': " BIN("eA==", "80") "}}}", "{'c': " BIN("YXg=", "07") "}");
	apply_ok("o as int64", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': {'$numberLong': '1'}, 'd': " BIN("eA==", "00") "}}}",
	    "{'c': " BIN("YXg=", "07") "}");
	apply_ok("o as a whole double", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1.0, 'd': " BIN("eA==", "00") "}}}", "{'c': " BIN("YXg=", "07") "}");
	apply_ok("d before o", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'d': " BIN("eA==", "00") ", 'o': 1}}}", "{'c': " BIN("YXg=", "07") "}");
	apply_ok("b beside every other section",
	    "{'a': 1, 'b': 2, 'c': " BIN("YWJj", "07") ", 's': {'t': 1}}",
	    "{'d': {'a': false}, 'u': {'b': 3}, 'i': {'n': 4}, 'b': {'c': " PATCH(3, "ZGVm") "}, "
	    "'ss': {'u': {'t': 2}}}",
	    "{'b': 3, 'c': " BIN("YWJjZGVm", "07") ", 's': {'t': 2}, 'n': 4}");
	apply_ok("a field present twice is patched at each place",
	    "{'c': " BIN("YWJj", "07") ", 'a': 1, 'c': " BIN("eA==", "00") "}",
	    "{'b': {'c': " PATCH(1, "eA==") "}}",
	    "{'c': " BIN("YXg=", "07") ", 'a': 1, 'c': " BIN("eHg=", "00") "}");

	apply_bad("b of a field that is not BinData", "{'c': 'abc'}", "{'b': {'c': " PATCH(0, "eA==") "}}",
	    "diff at c: the document holds a string here, not BinData");
	apply_bad("b deeper of a field that is not BinData names its path", "{'data': {'x': {}}}",
	    "{'sdata': {'b': {'x': " PATCH(0, "eA==") "}}}",
	    "diff at data.x: the document holds an object here, not BinData");
	apply_bad("b entry without o", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'d': " BIN("eA==", "00") "}}}", "diff at b.c: b entry has no offset o");
	apply_bad("b entry without d", "{'c': " BIN("YWJj", "07") "}", "{'b': {'c': {'o': 1}}}",
	    "diff at b.c: b entry has no data d");
	apply_bad("b entry with another field", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'd': " BIN("eA==", "00") ", 'l': 3}}}", "field \"l\" (only o and d)");
	apply_bad("b entry with o twice", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'o': 2, 'd': " BIN("eA==", "00") "}}}", "second or unknown field \"o\"");
	apply_bad("b entry with d twice", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'd': " BIN("eA==", "00") ", 'd': " BIN("eA==", "00") "}}}",
	    "second or unknown field \"d\"");
	apply_bad("o as a fraction", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1.5, 'd': " BIN("eA==", "00") "}}}", "1.5 is not a whole number");
	apply_bad("o as a string", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': '1', 'd': " BIN("eA==", "00") "}}}", "o is a string, not a number");
	apply_bad("o as decimal128", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': {'$numberDecimal': '1'}, 'd': " BIN("eA==", "00") "}}}",
	    "o is a decimal128, not a number");
	apply_bad("o past int32", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': {'$numberLong': '4294967296'}, 'd': " BIN("eA==", "00") "}}}",
	    "4294967296 is out of range");
	apply_bad("o past int32 as a double", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 4294967296.0, 'd': " BIN("eA==", "00") "}}}", "not a whole number from 0");
	apply_bad("d of subtype 2", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 0, 'd': " BIN("AQAAAHg=", "02") "}}}", "subtype 2 (old binary)");
	apply_bad("a field of subtype 2", "{'c': " BIN("AwAAAGFiYw==", "02") "}",
	    "{'b': {'c': " PATCH(0, "eA==") "}}", "diff at c: a b entry patching BinData of subtype 2");
	apply_bad("b after the sub-diffs", "{}", "{'sa': {'u': {'x': 1}}, 'b': {}}", "after the sub-diffs");
	apply_bad("b before i", "{}", "{'b': {}, 'i': {'x': 1}}", "unexpected section \"i\"");
	apply_bad("b twice", "{}", "{'b': {}, 'b': {}}", "unexpected section \"b\"");
	apply_bad("a field in b and in u", "{}",
	    "{'u': {'c': 1}, 'b': {'c': " PATCH(0, "eA==") "}}", "duplicate field name \"c\"");
	apply_bad("a field in b twice", "{}",
	    "{'b': {'c': " PATCH(0, "eA==") ", 'c': " PATCH(1, "eA==") "}}", "duplicate field name \"c\"");
	apply_bad("a malformed b entry is refused where nothing applies", "{}",
	    "{'smissing': {'b': {'c': {'o': -5, 'd': " BIN("eA==", "00") "}}}}",
	    "diff at smissing.b.c: b entry offset o: -5 is out of range");
}

/* A patch whose result would pass 16 MiB is refused, not built. */
static void
test_binary_bounds(void)
{
	size_t half = DIFF_MAX_DOCUMENT / 2 + 16;
	uint8_t *bytes = xcalloc(half, 1);
	bson_t *doc = bson_new(), *diff = bson_new(), section, entry;

	BSON_APPEND_BINARY(doc, "c", BSON_SUBTYPE_COLUMN, bytes, (uint32_t)half);
	BSON_APPEND_DOCUMENT_BEGIN(diff, "b", &section);
	BSON_APPEND_DOCUMENT_BEGIN(&section, "c", &entry);
	BSON_APPEND_INT32(&entry, "o", (int32_t)half);
	BSON_APPEND_BINARY(&entry, "d", BSON_SUBTYPE_BINARY, bytes, (uint32_t)half);
	bson_append_document_end(&section, &entry);
	bson_append_document_end(diff, &section);
	apply_bad_bson("a patch past 16 MiB", doc, diff, "larger than");
	bson_destroy(doc);
	bson_destroy(diff);
	free(bytes);
}

/* Each section alone, then together, by the rules of diff.h. */
static void
test_sections(void)
{
	apply_ok("d of a missing field", "{'a': 1}", "{'d': {'zz': false}}", "{'a': 1}");
	apply_ok("u of an existing field keeps its place", "{'a': 1, 'b': 2, 'c': 3}",
	    "{'u': {'b': {'x': [1]}}}", "{'a': 1, 'b': {'x': [1]}, 'c': 3}");
	apply_ok("u keeps the type it is given", "{'a': 1, 'b': 2}", "{'u': {'a': 1.0}}",
	    "{'a': 1.0, 'b': 2}");
	apply_ok("u of new fields appends them in listed order", "{'a': 1}", "{'u': {'z': 1, 'b': 2}}",
	    "{'a': 1, 'z': 1, 'b': 2}");
	apply_ok("i appends in listed order", "{'x': 1}", "{'i': {'c': 3, 'a': 1, 'b': 2}}",
	    "{'x': 1, 'c': 3, 'a': 1, 'b': 2}");
	apply_ok("i of an existing field moves it to the end", "{'a': 1, 'b': 2, 'c': 3}",
	    "{'i': {'a': 9}}", "{'b': 2, 'c': 3, 'a': 9}");
	apply_ok("new u fields come before i fields", "{'a': 1, 'b': 2}",
	    "{'u': {'b': 3, 'n1': 1}, 'i': {'n0': 0}}", "{'a': 1, 'b': 3, 'n1': 1, 'n0': 0}");
	apply_ok("an empty b section is harmless", "{'a': 1}", "{'u': {'a': 2}, 'b': {}}", "{'a': 2}");
	apply_ok("a section is known by its first letter", "{'a': 1, 'b': 2}", "{'dx': {'a': false}}",
	    "{'b': 2}");
	apply_ok("nested s", "{'a': {'b': {'c': 1, 'd': 2}, 'e': 3}, 'f': 4}",
	    "{'sa': {'u': {'e': 30}, 'sb': {'d': {'c': false}, 'i': {'g': 5}}}}",
	    "{'a': {'b': {'d': 2, 'g': 5}, 'e': 30}, 'f': 4}");
	apply_ok("s of a missing field does nothing", "{'a': 1}", "{'ssub': {'u': {'x': 1}}}",
	    "{'a': 1}");
	apply_ok("object sub-diff on an array writes null", "{'sub': [1], 'z': 0}",
	    "{'ssub': {'u': {'x': 1}}}", "{'sub': null, 'z': 0}");
	apply_ok("array sub-diff on an object writes null", "{'arr': {'0': 1}, 'z': 0}",
	    "{'sarr': {'a': true, 'u0': 5}}", "{'arr': null, 'z': 0}");
	apply_ok("s of the empty field name", "{'': {}}", "{'s': {'u': {'x': 1}}}",
	    "{'': {'x': 1}}");
	apply_ok("combination of every section",
	    "{'_id': 1, 'a': 1, 'b': {'c': 1, 'd': [1, 2, 3]}, 'e': 5}",
	    "{'d': {'e': false}, 'u': {'a': 2, 'f': 6}, 'i': {'g': 7}, "
	    "'sb': {'u': {'c': 2}, 'sd': {'a': true, 'l': 2, 'u1': 20}}}",
	    "{'_id': 1, 'a': 2, 'b': {'c': 2, 'd': [1, 20]}, 'f': 6, 'g': 7}");
}

static void
test_arrays(void)
{
	apply_ok("u<idx> inside the array", "{'arr': [1, 2, 3]}", "{'sarr': {'a': true, 'u1': 'x'}}",
	    "{'arr': [1, 'x', 3]}");
	apply_ok("u<idx> just past the end appends", "{'arr': [1]}", "{'sarr': {'a': true, 'u1': 2}}",
	    "{'arr': [1, 2]}");
	apply_ok("u<idx> far past the end pads with null", "{'arr': []}",
	    "{'sarr': {'a': true, 'u2': 'x'}}", "{'arr': [null, null, 'x']}");
	apply_ok("l truncates", "{'arr': [1, 2, 3, 4]}", "{'sarr': {'a': true, 'l': 2}}",
	    "{'arr': [1, 2]}");
	apply_ok("l: 0 empties", "{'arr': [1, 2, 3]}", "{'sarr': {'a': true, 'l': 0}}", "{'arr': []}");
	apply_ok("l grows with null", "{'arr': [1]}", "{'sarr': {'a': true, 'l': 4}}",
	    "{'arr': [1, null, null, null]}");
	apply_ok("l grows around a u", "{'arr': [1]}", "{'sarr': {'a': true, 'l': 4, 'u2': 'x'}}",
	    "{'arr': [1, null, 'x', null]}");
	apply_ok("l truncates after a u", "{'arr': [1, 2, 3, 4]}",
	    "{'sarr': {'a': true, 'l': 2, 'u0': 9}}", "{'arr': [9, 2]}");
	apply_ok("s<idx> of an object element", "{'arr': [{'a': 1, 'b': 2}, 5]}",
	    "{'sarr': {'a': true, 's0': {'d': {'a': false}, 'i': {'c': 3}}}}",
	    "{'arr': [{'b': 2, 'c': 3}, 5]}");
	apply_ok("s<idx> of an array element", "{'arr': [[1, 2], [3]]}",
	    "{'sarr': {'a': true, 's1': {'a': true, 'u1': 4}}}", "{'arr': [[1, 2], [3, 4]]}");
	apply_ok("s<idx> past the end writes null", "{'arr': []}",
	    "{'sarr': {'a': true, 's2': {'u': {'x': 1}}}}", "{'arr': [null, null, null]}");
	apply_ok("s<idx> on a scalar element writes null", "{'arr': [1, 2]}",
	    "{'sarr': {'a': true, 's1': {'u': {'x': 1}}}}", "{'arr': [1, null]}");
	apply_ok("an index with leading zeros is its number", "{'arr': [1, 2]}",
	    "{'sarr': {'a': true, 'u01': 'x'}}", "{'arr': [1, 'x']}");
	apply_ok("a: true alone leaves the array", "{'arr': [1, 2]}", "{'sarr': {'a': true}}",
	    "{'arr': [1, 2]}");
}

/* Pre-images libbson's JSON parser would not write. */
static void
test_odd_documents(void)
{
	bson_t *doc = bson_new(), *diff = from_json("{'sarr': {'a': true, 'u1': 'z'}}");
	bson_t *expect = from_json("{'arr': ['x', 'z']}");
	bson_t arr, out;
	char err[256];

	/* mongod rebuilds arrays with keys 0, 1, ... whatever the pre-image said. */
	bson_append_array_begin(doc, "arr", -1, &arr);
	BSON_APPEND_UTF8(&arr, "5", "x");
	BSON_APPEND_UTF8(&arr, "9", "y");
	bson_append_array_end(doc, &arr);
	CHECK(diff_apply(doc, diff, &out, err, sizeof(err)) && same_bytes(&out, expect));
	bson_destroy(&out);
	bson_destroy(doc);
	bson_destroy(diff);
	bson_destroy(expect);

	/* A field named twice meets its change at each place it appears. */
	apply_ok("u of a field present twice", "{'a': 1, 'b': 2, 'a': 3}", "{'u': {'a': 9}}",
	    "{'a': 9, 'b': 2, 'a': 9}");
	apply_ok("d of a field present twice", "{'a': 1, 'b': 2, 'a': 3}", "{'d': {'a': false}}",
	    "{'b': 2}");
}

static void
test_odd_names(void)
{
	apply_ok("field names with '.' and '$'", "{'a.b': 1, '@x': 2, 'c': 3}",
	    "{'d': {'@x': false}, 'u': {'a.b': 5}, 'i': {'@y': 1}}", "{'a.b': 5, 'c': 3, '@y': 1}");
	apply_ok("sub-diff of a dotted field", "{'x.y': {'k': 1}, 'x': {'y': {'k': 1}}}",
	    "{'sx.y': {'u': {'k': 2}}}", "{'x.y': {'k': 2}, 'x': {'y': {'k': 1}}}");
	apply_ok("sub-diff of a $ field", "{'@k': {'v': 1}}", "{'s@k': {'u': {'@w': 2}}}",
	    "{'@k': {'v': 1, '@w': 2}}");
}

static void
test_malformed(void)
{
	apply_bad("unknown section", "{}", "{'x': {}}", "unexpected section \"x\"");
	apply_bad("sections out of order", "{}", "{'u': {'a': 1}, 'd': {'b': false}}",
	    "unexpected section \"d\"");
	apply_bad("a section twice", "{}", "{'u': {'a': 1}, 'u': {'b': 1}}", "unexpected section \"u\"");
	apply_bad("a section that is not a document", "{}", "{'u': 1}", "not a document");
	apply_bad("a section after the sub-diffs", "{}", "{'sa': {'u': {'x': 1}}, 'u': {'b': 1}}",
	    "after the sub-diffs");
	apply_bad("an empty section name", "{}", "{'': {}}", "empty section name");
	apply_bad("a sub-diff that is not a document", "{'a': {}}", "{'sa': 5}", "not a document");
	apply_bad("an empty sub-diff", "{'a': {}}", "{'sa': {}}", "diff at sa: empty diff");
	apply_bad("an empty sub-diff of a missing field", "{}", "{'sa': {}}", "empty diff");
	apply_bad("a deep error names its path", "{}", "{'sa': {'sb': {'sc': {'q': {}}}}}",
	    "diff at sa.sb.sc: unexpected section \"q\"");
	apply_bad("array header false", "{'arr': []}", "{'sarr': {'a': false}}", "is not true");
	apply_bad("array header not a bool", "{'arr': []}", "{'sarr': {'a': 1}}", "is not true");
	apply_bad("negative l", "{'arr': []}", "{'sarr': {'a': true, 'l': -1}}", "out of range");
	apply_bad("l as int64", "{'arr': []}", "{'sarr': {'a': true, 'l': {'$numberLong': '3'}}}",
	    "not an int32");
	apply_bad("l too large", "{'arr': []}", "{'sarr': {'a': true, 'l': 2000000000}}",
	    "out of range");
	apply_bad("l twice", "{'arr': []}", "{'sarr': {'a': true, 'l': 1, 'l': 2}}",
	    "is not u<index> or s<index>");
	apply_bad("indexes out of order", "{'arr': []}", "{'sarr': {'a': true, 'u2': 1, 'u1': 1}}",
	    "not increasing");
	apply_bad("an index twice", "{'arr': [{}, {}]}",
	    "{'sarr': {'a': true, 'u1': 1, 's1': {'u': {'x': 1}}}}", "not increasing");
	apply_bad("an index at l", "{'arr': []}", "{'sarr': {'a': true, 'l': 2, 'u2': 1}}",
	    "not below l");
	apply_bad("an entry that is neither u nor s", "{'arr': []}", "{'sarr': {'a': true, 'x1': 1}}",
	    "not u<index> or s<index>");
	apply_bad("an entry without an index", "{'arr': []}", "{'sarr': {'a': true, 'u': 1}}",
	    "not u<index> or s<index>");
	apply_bad("an index that is not a number", "{'arr': []}", "{'sarr': {'a': true, 'u1x': 1}}",
	    "not a number");
	apply_bad("a negative index", "{'arr': []}", "{'sarr': {'a': true, 'u-1': 1}}",
	    "not a number");
	apply_bad("a huge index", "{'arr': []}", "{'sarr': {'a': true, 'u99999999999999999999': 1}}",
	    "not a number");
	apply_bad("an element sub-diff that is not a document", "{'arr': [{}]}",
	    "{'sarr': {'a': true, 's0': 5}}", "not a document");
	apply_bad("a malformed diff is refused even where nothing applies", "{}",
	    "{'smissing': {'sdeeper': {'u': 1}}}", "not a document");
}

/* Bounds: nothing a diff says may make the applier allocate past 16 MiB. */
static void
test_bounds(void)
{
	clock_t start = clock();
	bson_t *doc, *diff;
	char json[256];
	int depth;

	apply_bad("padding past 16 MiB", "{'arr': []}", "{'sarr': {'a': true, 'u5000000': 1}}",
	    "larger than");
	apply_bad("l past 16 MiB", "{'arr': []}", "{'sarr': {'a': true, 'l': 5000000}}", "larger than");
	snprintf(json, sizeof(json), "{'sarr': {'a': true, 'u%u': 1}}", (unsigned)(DIFF_MAX_DOCUMENT / 3 + 1));
	apply_bad("an index no document can hold", "{'arr': []}", json, "not a number up to");
	CHECK((double)(clock() - start) / CLOCKS_PER_SEC < 10.0);

	/* A diff nested past DIFF_MAX_DEPTH: s0 inside s0 inside ... */
	diff = bson_new();
	BSON_APPEND_BOOL(diff, "x", true);
	for (depth = 0; depth < DIFF_MAX_DEPTH + 5; depth++) {
		bson_t *outer = bson_new();

		BSON_APPEND_DOCUMENT(outer, depth == 0 ? "u" : "sa", diff);
		bson_destroy(diff);
		diff = outer;
	}
	doc = bson_new();
	apply_bad_bson("a diff nested too deep", doc, diff, "nested deeper");
	bson_destroy(doc);
	bson_destroy(diff);
}

/* Bytes that are not BSON, in either argument: an error, never a crash. */
static void
test_corrupt(void)
{
	/* {a: {b: 1}} with the inner length claiming more than there is. */
	static const uint8_t bad_inner[] = {
		0x14, 0, 0, 0, 0x03, 'a', 0, 0x40, 0, 0, 0, 0x10, 'b', 0, 1, 0, 0, 0, 0, 0
	};
	bson_t bad, *good = from_json("{'u': {'a': 1}}"), *doc = from_json("{'a': 1}");

	/* {a: {b: 1}} whose inner document ends with 5, not NUL: libbson's checks miss it. */
	static const uint8_t no_nul[] = {
		0x14, 0, 0, 0, 0x03, 'a', 0, 0x0c, 0, 0, 0, 0x10, 'b', 0, 1, 0, 0, 0, 5, 0
	};
	bson_t unterminated;

	CHECK(bson_init_static(&bad, bad_inner, sizeof(bad_inner)));
	apply_bad_bson("corrupt diff", doc, &bad, "diff: corrupt");
	apply_bad_bson("corrupt document", &bad, good, "document: corrupt");
	CHECK(bson_init_static(&unterminated, no_nul, sizeof(no_nul)));
	apply_bad_bson("an embedded document without its NUL", &unterminated, good,
	    "document: corrupt (an embedded document without its NUL?)");
	bson_destroy(good);
	bson_destroy(doc);
}

static void
test_validate(void)
{
	bson_t *good = from_json("{'d': {'x': false}, 'sarr': {'a': true, 'l': 3, 's1': {'u': {'y': 1}}}}");
	bson_t *bad = from_json("{'sarr': {'a': true, 's1': {'u': 1}}}");
	char err[256];

	CHECK(diff_validate(good, err, sizeof(err)) && err[0] == '\0');
	CHECK(!diff_validate(bad, err, sizeof(err)) &&
	    strcmp(err, "diff at sarr.s1: section \"u\" is not a document") == 0);
	CHECK(!diff_validate(bad, NULL, 0));
	bson_destroy(good);
	bson_destroy(bad);
}

static void
test_from_oplog(void)
{
	bson_t *o = from_json("{'@v': 2, 'diff': {'u': {'a': 1}}}");
	bson_t *v1 = from_json("{'@v': 1, '@set': {'a': 1}}");
	bson_t *replacement = from_json("{'_id': 1, 'a': 1}");
	bson_t *expect = from_json("{'u': {'a': 1}}");
	bson_t diff;

	CHECK(diff_from_oplog(o, &diff) && same_bytes(&diff, expect));
	CHECK(!diff_from_oplog(v1, &diff));
	CHECK(!diff_from_oplog(replacement, &diff));
	bson_destroy(o);
	o = from_json("{'@v': 2.5, 'diff': {'u': {'a': 1}}}");
	CHECK(!diff_from_oplog(o, &diff));
	bson_destroy(o);
	bson_destroy(v1);
	bson_destroy(replacement);
	bson_destroy(expect);
}

/* diff_to_update must give exactly this update and filter. */
static void
update_ok(const char *name, const char *diff_json, const char *update_json, const char *filter_json)
{
	bson_t *diff = from_json(diff_json), *expect_update = from_json(update_json);
	bson_t *expect_filter = from_json(filter_json);
	bson_t update, filter;
	bson_error_t error;

	checks++;
	if (!diff_to_update(diff, &update, &filter, &error)) {
		fprintf(stderr, "FAIL %s: diff_to_update refused: %s\n", name, error.message);
		failures++;
	} else if (!same_bytes(&update, expect_update) || !same_bytes(&filter, expect_filter)) {
		fprintf(stderr, "FAIL %s: wrong translation\n", name);
		show("update:  ", &update);
		show("expected:", expect_update);
		show("filter:  ", &filter);
		show("expected:", expect_filter);
		failures++;
	}
	bson_destroy(&update);
	bson_destroy(&filter);
	bson_destroy(diff);
	bson_destroy(expect_update);
	bson_destroy(expect_filter);
}

/* diff_to_update must refuse with this code and a message holding why. */
static void
update_refused(const char *name, const char *diff_json, bool with_filter, uint32_t code,
    const char *why)
{
	bson_t *diff = from_json(diff_json);
	bson_t update, filter;
	bson_error_t error;

	checks++;
	if (diff_to_update(diff, &update, with_filter ? &filter : NULL, &error)) {
		fprintf(stderr, "FAIL %s: diff_to_update translated it\n", name);
		show("update:", &update);
		failures++;
	} else if (error.domain != DIFF_ERROR_DOMAIN || error.code != code ||
	    strstr(error.message, why) == NULL) {
		fprintf(stderr, "FAIL %s: code %u \"%s\", expected code %u with \"%s\"\n", name,
		    error.code, error.message, code, why);
		failures++;
	} else if (!bson_empty(&update) || (with_filter && !bson_empty(&filter))) {
		fprintf(stderr, "FAIL %s: output not empty after a refusal\n", name);
		failures++;
	}
	bson_destroy(&update);
	if (with_filter)
		bson_destroy(&filter);
	bson_destroy(diff);
}

static void
test_to_update(void)
{
	bson_t *diff = from_json("{'d': {'a': false}, 'u': {'b': 1}}");
	bson_t *expect = from_json("{'@set': {'b': 1}, '@unset': {'a': ''}}");
	bson_t update;

	update_ok("d is $unset", "{'d': {'a': false, 'b': false}}", "{'@unset': {'a': '', 'b': ''}}",
	    "{}");
	update_ok("u in sorted order is $set", "{'u': {'a': 1, 'b': {'c': [1]}}}",
	    "{'@set': {'a': 1, 'b': {'c': [1]}}}", "{}");
	update_ok("u then i in sorted order, i asserted absent", "{'u': {'a': 1}, 'i': {'b': 2, 'c': 3}}",
	    "{'@set': {'a': 1, 'b': 2, 'c': 3}}",
	    "{'b': {'@exists': false}, 'c': {'@exists': false}}");
	update_ok("numeric names ordered alike both ways", "{'u': {'2': 1, '3': 2}}",
	    "{'@set': {'2': 1, '3': 2}}", "{}");
	update_ok("nested s asserts an object",
	    "{'sb': {'d': {'x': false}, 'u': {'c': 2}, 'sd': {'u': {'e': 1}}}}",
	    "{'@set': {'b.c': 2, 'b.d.e': 1}, '@unset': {'b.x': ''}}",
	    "{'b': {'@type': 'object', '@not': {'@type': 'array'}}, "
	    "'b.d': {'@type': 'object', '@not': {'@type': 'array'}}}");
	update_ok("array u<idx> is $set of the index, array asserted",
	    "{'sarr': {'a': true, 'u1': 5, 'u10': 6}}", "{'@set': {'arr.1': 5, 'arr.10': 6}}",
	    "{'arr': {'@type': 'array'}}");
	update_ok("an index with leading zeros becomes its number", "{'sarr': {'a': true, 'u007': 5}}",
	    "{'@set': {'arr.7': 5}}", "{'arr': {'@type': 'array'}}");
	update_ok("a '$' not leading a name inside a value", "{'u': {'a': {'x@': 2}}}",
	    "{'@set': {'a': {'x@': 2}}}", "{}");

	/* Without a filter, only what needs no condition. */
	CHECK(diff_to_update(diff, &update, NULL, NULL) && same_bytes(&update, expect));
	bson_destroy(&update);
	bson_destroy(diff);
	bson_destroy(expect);
	update_refused("i without a filter", "{'i': {'a': 1}}", false, DIFF_ERROR_INEXACT,
	    "under a filter");
	update_refused("s without a filter", "{'sa': {'u': {'b': 1}}}", false, DIFF_ERROR_INEXACT,
	    "under a filter");

	update_refused("u out of sorted order", "{'u': {'b': 1, 'a': 2}}", true, DIFF_ERROR_INEXACT,
	    "sorted order");
	update_refused("i out of sorted order", "{'i': {'b': 1, 'a': 1}}", true, DIFF_ERROR_INEXACT,
	    "sorted order");
	update_refused("u after i in the order mongod appends", "{'u': {'z': 1}, 'i': {'a': 1}}", true,
	    DIFF_ERROR_INEXACT, "sorted order");
	update_refused("numbers: bytes say 10 < 9, mongod 4.4+ says 9 < 10", "{'u': {'10': 1, '9': 2}}",
	    true, DIFF_ERROR_INEXACT, "sorted order");
	update_refused("numbers: 9 < 10 only as numbers", "{'u': {'9': 1, '10': 2}}", true,
	    DIFF_ERROR_INEXACT, "sorted order");
	update_refused("nested new fields out of order", "{'sa': {'i': {'y': 1, 'x': 1}}}", true,
	    DIFF_ERROR_INEXACT, "at a.x");
	update_refused("l truncates", "{'sarr': {'a': true, 'l': 1}}", true, DIFF_ERROR_INEXACT,
	    "l resizes");
	update_refused("l grows", "{'sarr': {'a': true, 'l': 5, 'u0': 1}}", true, DIFF_ERROR_INEXACT,
	    "l resizes");
	update_refused("s<idx>", "{'sarr': {'a': true, 's0': {'u': {'x': 1}}}}", true,
	    DIFF_ERROR_INEXACT, "diffs an array element");
	update_refused("index past what $set pads", "{'sarr': {'a': true, 'u2000000': 1}}", true,
	    DIFF_ERROR_INEXACT, "past what $set pads");
	update_refused("a dotted name", "{'u': {'a.b': 1}}", true, DIFF_ERROR_INEXACT, "\"a.b\"");
	update_refused("a $ name", "{'d': {'@a': false}}", true, DIFF_ERROR_INEXACT, "\"$a\"");
	update_refused("a dotted name deeper", "{'sa': {'u': {'b.c': 1}}}", true, DIFF_ERROR_INEXACT,
	    "\"b.c\"");
	update_refused("the empty name", "{'u': {'': 1}}", true, DIFF_ERROR_INEXACT, "update path");
	update_refused("a $ name inside a value", "{'u': {'a': {'b': {'@ref': 'c'}}}}", true,
	    DIFF_ERROR_INEXACT, "leading '$'");
	update_refused("a dotted name inside an array value", "{'u': {'a': [{'x.y': 1}]}}", true,
	    DIFF_ERROR_INEXACT, "leading '$'");
	update_refused("the empty name inside a value", "{'u': {'a': {'': 1}}}", true,
	    DIFF_ERROR_INEXACT, "leading '$'");
	update_refused("_id", "{'u': {'_id': 2}}", true, DIFF_ERROR_INEXACT, "_id");
	update_refused("a no-op", "{'sarr': {'a': true}}", true, DIFF_ERROR_INEXACT, "nothing");
	update_refused("b", "{'b': {'data': {'o': 0, 'd': " BIN("AA==", "00") "}}}", true,
	    DIFF_ERROR_INEXACT, "at data: a b entry patches bytes");
	update_refused("b beside what would translate",
	    "{'u': {'a': 1}, 'b': {'x': {'o': 1, 'd': " BIN("AA==", "00") "}}}", true,
	    DIFF_ERROR_INEXACT, "at x: a b entry patches bytes");
	update_refused("b deeper", "{'sdata': {'b': {'x': {'o': 1, 'd': " BIN("AA==", "00") "}}}}",
	    true, DIFF_ERROR_INEXACT, "at data.x: a b entry");
	update_refused("b malformed", "{'b': {'data': {'o': 0}}}", true, DIFF_ERROR_MALFORMED,
	    "no data d");
	update_refused("b of subtype 2", "{'b': {'data': {'o': 0, 'd': " BIN("AAAAAA==", "02") "}}}",
	    true, DIFF_ERROR_UNSUPPORTED, "subtype 2");
	update_refused("malformed", "{'u': {'a': 1}, 'u': {}}", true, DIFF_ERROR_MALFORMED,
	    "unexpected section");
	update_refused("malformed deeper", "{'sarr': {'a': true, 'u3': 1, 'u2': 1}}", true,
	    DIFF_ERROR_MALFORMED, "not increasing");
}

int
main(int argc, char **argv)
{
	die_init(argv[0]);
	test_mongod_cases();
	test_mongod_binary_cases();
	test_binary();
	test_binary_bounds();
	test_sections();
	test_arrays();
	test_odd_names();
	test_odd_documents();
	test_malformed();
	test_bounds();
	test_corrupt();
	test_validate();
	test_from_oplog();
	test_to_update();
	if (failures > 0) {
		fprintf(stderr, "test_diff: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("test_diff: %d checks passed\n", checks);
	return 0;
}
