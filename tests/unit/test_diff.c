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
 * The cases are tables, one for each thing asked of the code (apply,
 * refuse to apply, translate, refuse to translate), each row one case;
 * what JSON cannot build is tested by hand after them.
 *
 * Test JSON uses single quotes, and '@' for '$' in a key: libbson's
 * parser would take '$x' for Extended JSON (which '$numberLong' still is).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "die.h"
#include "lib/test-json.h"
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

/* Count a failed case: "FAIL name: why". */
static void __attribute__((format(printf, 2, 3)))
failed(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
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

/* diff_apply(doc, diff) must give expect, byte for byte, and so must applying diff again. */
struct apply_case {
	const char *name, *doc, *diff, *expect;
};

/* diff_apply(doc, diff) must refuse, with a message holding why. */
struct apply_refusal {
	const char *name, *doc, *diff, *why;
};

/* diff_to_update(diff) must give exactly this update and filter. */
struct update_case {
	const char *name, *diff, *update, *filter;
};

/* diff_to_update(diff), with a filter or without, must refuse with code and a message holding why. */
struct update_refusal {
	const char *name, *diff;
	bool with_filter;
	uint32_t code;
	const char *why;
};

static void
apply_ok(const struct apply_case *c)
{
	bson_t *doc = from_json(c->doc), *diff = from_json(c->diff), *expect = from_json(c->expect);
	bson_t out, again;
	char err[512];

	save_seed(doc, diff);
	checks++;
	if (!diff_apply(doc, diff, &out, err, sizeof(err))) {
		failed(c->name, "diff_apply failed: %s", err);
	} else if (!same_bytes(&out, expect)) {
		failed(c->name, "wrong result");
		show("diff:    ", diff);
		show("got:     ", &out);
		show("expected:", expect);
	} else if (!diff_apply(&out, diff, &again, err, sizeof(err)) || !same_bytes(&again, expect)) {
		failed(c->name, "applying the diff again changed the result");
		show("again:   ", &again);
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
		failed(name, "diff_apply accepted it");
		show("got:", &out);
	} else if (strstr(err, why) == NULL) {
		failed(name, "message \"%s\" does not say \"%s\"", err, why);
	} else if (!bson_empty(&out)) {
		failed(name, "output not empty after a failure");
	}
	bson_destroy(&out);
}

static void
apply_bad(const struct apply_refusal *c)
{
	bson_t *doc = from_json(c->doc), *diff = from_json(c->diff);

	apply_bad_bson(c->name, doc, diff, c->why);
	bson_destroy(doc);
	bson_destroy(diff);
}

static void
update_ok(const struct update_case *c)
{
	bson_t *diff = from_json(c->diff), *expect_update = from_json(c->update);
	bson_t *expect_filter = from_json(c->filter);
	bson_t update, filter;
	bson_error_t error;

	checks++;
	if (!diff_to_update(diff, &update, &filter, &error)) {
		failed(c->name, "diff_to_update refused: %s", error.message);
	} else if (!same_bytes(&update, expect_update) || !same_bytes(&filter, expect_filter)) {
		failed(c->name, "wrong translation");
		show("update:  ", &update);
		show("expected:", expect_update);
		show("filter:  ", &filter);
		show("expected:", expect_filter);
	}
	bson_destroy(&update);
	bson_destroy(&filter);
	bson_destroy(diff);
	bson_destroy(expect_update);
	bson_destroy(expect_filter);
}

static void
update_refused(const struct update_refusal *c)
{
	bson_t *diff = from_json(c->diff);
	bson_t update, filter;
	bson_error_t error;

	checks++;
	if (diff_to_update(diff, &update, c->with_filter ? &filter : NULL, &error)) {
		failed(c->name, "diff_to_update translated it");
		show("update:", &update);
	} else if (error.domain != DIFF_ERROR_DOMAIN || error.code != c->code ||
	    strstr(error.message, c->why) == NULL) {
		failed(c->name, "code %u \"%s\", expected code %u with \"%s\"", error.code,
		    error.message, c->code, c->why);
	} else if (!bson_empty(&update) || (c->with_filter && !bson_empty(&filter))) {
		failed(c->name, "output not empty after a refusal");
	}
	bson_destroy(&update);
	if (c->with_filter)
		bson_destroy(&filter);
	bson_destroy(diff);
}

/* Extended JSON for BinData: BIN(base64, two hex digits of subtype). */
#define BIN(base64, subtype) "{'$binary': {'base64': '" base64 "', 'subType': '" subtype "'}}"
/* A b entry {o: offset, d: BinData(0, base64)}, as mongod writes one. */
#define PATCH(offset, base64) "{'o': " #offset ", 'd': " BIN(base64, "00") "}"

/* Diffs mongod's document_diff_applier_test.cpp applies to several pre-images. */
#define SUB_DIFF "{'ssubObj': {'ssubObj': {'u': {'a': 1}}}}"
#define OBJS_DIFF "{'d': {'dFieldA': false, 'dFieldB': false}, 'u': {'uField': 999}, " \
	"'sarr': {'a': true, 's1': {'u': {'a': 1}}, 's2': {'u': {'b': 2}}, " \
	"'s3': {'u': {'c': 3}}, 'u4': {'x': 1}}}"
#define NONCONTIG_DIFF "{'sarr': {'a': true, 'u1': 997, 'u2': {'newVal': 998}, 'u5': 999}}"

/*
 * mongod's DiffApplierTest Binary* cases (MongoDB 8.0's time-series
 * column patches): "abc" is YWJj, "def" ZGVm, "abcdef" YWJjZGVm,
 * "abdef" YWJkZWY=, "ax" YXg=, "x" eA==; subtype 07 is Column, 04 UUID.
 * checkDiff there applies each diff twice, as apply_ok does.
 */
#define APPEND_DIFF "{'b': {'b1': " PATCH(3, "ZGVm") "}}"
#define SHRINK_DIFF "{'b': {'b1': " PATCH(1, "eA==") "}}"

/* A time-series bucket as mongod 8.0 stores one. */
#define BUCKET "{'_id': 1, 'control': {'version': 2, 'count': 2}, " \
	"'data': {'time': " BIN("YWJj", "07") ", 'x': " BIN("eHl6", "07") "}, 'meta': 'm'}"

static const struct apply_case apply_cases[] = {
	/* mongod's document_diff_applier_test.cpp, case by case. */
	{ "mongod: DeleteSimple", "{'f1': 1, 'foo': 2, 'f2': 3}",
	    "{'d': {'f1': false, 'f2': false, 'f3': false}}", "{'foo': 2}" },
	{ "mongod: InsertSimple", "{'f1': 1, 'foo': 2, 'f2': 3}",
	    "{'i': {'f1': 1, 'newField': 2}}", "{'foo': 2, 'f2': 3, 'f1': 1, 'newField': 2}" },
	{ "mongod: UpdateSimple", "{'f1': 0, 'foo': 2, 'f2': 3}",
	    "{'u': {'f1': 1, 'newField': 2}}", "{'f1': 1, 'foo': 2, 'f2': 3, 'newField': 2}" },
	{ "mongod: SubObjDiffSimple",
	    "{'obj': {'dField': 0, 'iField': 0, 'uField': 0}, 'otherField': 0}",
	    "{'sobj': {'d': {'dField': false}, 'u': {'uField': 2}, 'i': {'iField': 1}}}",
	    "{'obj': {'uField': 2, 'iField': 1}, 'otherField': 0}" },
	{ "mongod: SubArrayDiffSimpleWithAppend", "{'arr': [999, 999, 999, 999]}",
	    "{'sarr': {'a': true, 'u1': 1, 'u4': 2}}", "{'arr': [999, 1, 999, 999, 2]}" },
	{ "mongod: SubArrayDiffSimpleWithTruncate", "{'arr': [999, 999, 999, 999]}",
	    "{'sarr': {'a': true, 'l': 3, 'u1': 1}}", "{'arr': [999, 1, 999]}" },
	{ "mongod: SubArrayDiffSimpleWithNullPadding", "{'arr': [0]}",
	    "{'sarr': {'a': true, 'u3': 1}}", "{'arr': [0, null, null, 1]}" },

	{ "mongod: NestedSubObjUpdateScalar, matching", "{'subObj': {'subObj': {'a': 0}}}", SUB_DIFF,
	    "{'subObj': {'subObj': {'a': 1}}}" },
	{ "mongod: NestedSubObjUpdateScalar, field missing", "{'someOtherField': 1}", SUB_DIFF,
	    "{'someOtherField': 1}" },
	{ "mongod: NestedSubObjUpdateScalar, scalar",
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': 'scalar!', 'dummyC': 3, 'dummyD': 4}", SUB_DIFF,
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': null, 'dummyC': 3, 'dummyD': 4}" },
	{ "mongod: NestedSubObjUpdateScalar, inner scalar",
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': {'subDummyA': 1, 'subObj': 'scalar!', "
	    "'subDummyB': 2}, 'dummyC': 3}", SUB_DIFF,
	    "{'dummyA': 1, 'dummyB': 2, 'subObj': {'subDummyA': 1, 'subObj': null, "
	    "'subDummyB': 2}, 'dummyC': 3}" },

	{ "mongod: UpdateArrayOfObjectsSubDiff, matching",
	    "{'uField': 1, 'dFieldA': 1, 'arr': [null, {'a': 0}, {'b': 0}, {'c': 0}], 'dFieldB': 1}",
	    OBJS_DIFF, "{'uField': 999, 'arr': [null, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}]}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, other objects",
	    "{'uField': 1, 'dFieldA': 1, 'arr': [{'a': 0}, {'b': 0}, {'c': 0}, {}], 'dFieldB': 1}",
	    OBJS_DIFF, "{'uField': 999, 'arr': [{'a': 0}, {'b': 0, 'a': 1}, {'c': 0, 'b': 2}, {'c': 3}, "
	    "{'x': 1}]}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, no-op",
	    "{'arr': [null, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}], 'uField': 999}", OBJS_DIFF,
	    "{'arr': [null, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}], 'uField': 999}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, scalars",
	    "{'arr': [0, 0, 0, 0, {'x': 2}], 'uField': 1}", OBJS_DIFF,
	    "{'arr': [0, null, null, null, {'x': 1}], 'uField': 999}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, too short", "{'arr': [], 'uField': 1}", OBJS_DIFF,
	    "{'arr': [null, null, null, null, {'x': 1}], 'uField': 999}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, longer",
	    "{'arr': [0, {}, {}, {}, 4, 5, 6], 'uField': 1}", OBJS_DIFF,
	    "{'arr': [0, {'a': 1}, {'b': 2}, {'c': 3}, {'x': 1}, 5, 6], 'uField': 999}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, object",
	    "{'dummyA': 1, 'arr': {'foo': 1}, 'dummyB': 1}", OBJS_DIFF,
	    "{'dummyA': 1, 'arr': null, 'dummyB': 1, 'uField': 999}" },
	{ "mongod: UpdateArrayOfObjectsSubDiff, scalar", "{'dummyA': 1, 'arr': 1, 'dummyB': 1}",
	    OBJS_DIFF, "{'dummyA': 1, 'arr': null, 'dummyB': 1, 'uField': 999}" },

	{ "mongod: NonContiguous, matching", "{'arr': [null, {}, {}, {}, {}, {}]}", NONCONTIG_DIFF,
	    "{'arr': [null, 997, {'newVal': 998}, {}, {}, 999]}" },
	{ "mongod: NonContiguous, padding", "{'arr': [{}, {}, {}, {}]}", NONCONTIG_DIFF,
	    "{'arr': [{}, 997, {'newVal': 998}, {}, null, 999]}" },
	{ "mongod: NonContiguous, longer", "{'arr': [0, 1, 2, 3, 4, 5, 6]}", NONCONTIG_DIFF,
	    "{'arr': [0, 997, {'newVal': 998}, 3, 4, 999, 6]}" },
	{ "mongod: NonContiguous, sub-arrays", "{'arr': [0, 1, [], [], ['a', 'b'], 5, 6]}",
	    NONCONTIG_DIFF, "{'arr': [0, 997, {'newVal': 998}, [], ['a', 'b'], 999, 6]}" },
	{ "mongod: NonContiguous, object", "{'arr': {'x': 1}}", NONCONTIG_DIFF, "{'arr': null}" },
	{ "mongod: NonContiguous, scalar", "{'arr': 'scalar!'}", NONCONTIG_DIFF, "{'arr': null}" },

	/* mongod's DiffApplierTest Binary* cases (see APPEND_DIFF). */
	{ "mongod: BinaryAppendSimple", "{'b1': " BIN("YWJj", "07") "}", APPEND_DIFF,
	    "{'b1': " BIN("YWJjZGVm", "07") "}" },
	{ "mongod: BinaryOverwriteSimple", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': " PATCH(2, "ZGVm") "}}", "{'b1': " BIN("YWJkZWY=", "07") "}" },
	/* BinaryIsIdempotent applies its diff to the diff itself: the append again. */
	{ "mongod: BinaryIsIdempotent", "{'b1': " BIN("YWJj", "07") "}", APPEND_DIFF,
	    "{'b1': " BIN("YWJjZGVm", "07") "}" },
	{ "mongod: BinaryIsIdempotentMultipleWithShrink, append",
	    "{'b1': " BIN("YWJj", "07") "}", APPEND_DIFF, "{'b1': " BIN("YWJjZGVm", "07") "}" },
	{ "mongod: BinaryIsIdempotentMultipleWithShrink, shrink",
	    "{'b1': " BIN("YWJjZGVm", "07") "}", SHRINK_DIFF, "{'b1': " BIN("YXg=", "07") "}" },
	{ "mongod: BinaryIsIdempotentMultipleWithShrink, append replayed past the end",
	    "{'b1': " BIN("YXg=", "07") "}", APPEND_DIFF, "{'b1': " BIN("YXg=", "07") "}" },
	{ "mongod: BinaryIsIdempotentMultipleWithShrink, shrink replayed",
	    "{'b1': " BIN("YXg=", "07") "}", SHRINK_DIFF, "{'b1': " BIN("YXg=", "07") "}" },
	{ "mongod: BinaryAppendNonColumnSubtype", "{'b1': " BIN("YWJj", "00") "}", APPEND_DIFF,
	    "{'b1': " BIN("YWJjZGVm", "00") "}" },
	{ "mongod: BinaryOverwriteNonColumnSubtype", "{'b1': " BIN("YWJj", "04") "}",
	    "{'b': {'b1': " PATCH(2, "ZGVm") "}}", "{'b1': " BIN("YWJkZWY=", "04") "}" },
	{ "mongod: BinaryIsIdempotentNonColumnSubtype", "{'b1': " BIN("YWJj", "00") "}", APPEND_DIFF,
	    "{'b1': " BIN("YWJjZGVm", "00") "}" },

	/* b entries beyond mongod's own cases, by the rules of diff.h. */
	/* The shape mongod 8.0 logs for an insert into a compressed bucket. */
	{ "a time-series bucket update", BUCKET,
	    "{'scontrol': {'u': {'count': 3}}, 'sdata': {'i': {'y': " BIN("AQI=", "07") "}, "
	    "'b': {'time': " PATCH(2, "ZGVm") ", 'x': " PATCH(3, "AA==") "}}}",
	    "{'_id': 1, 'control': {'version': 2, 'count': 3}, "
	    "'data': {'time': " BIN("YWJkZWY=", "07") ", 'x': " BIN("eHl6AA==", "07") ", "
	    "'y': " BIN("AQI=", "07") "}, 'meta': 'm'}" },
	{ "b keeps the field's place", "{'a': 1, 'c': " BIN("YWJj", "07") ", 'z': 2}",
	    "{'b': {'c': " PATCH(0, "eA==") "}}", "{'a': 1, 'c': " BIN("eA==", "07") ", 'z': 2}" },
	{ "o at the end appends", "{'c': " BIN("YWJj", "07") "}", "{'b': {'c': " PATCH(3, "eA==") "}}",
	    "{'c': " BIN("YWJjeA==", "07") "}" },
	{ "empty d cuts at o", "{'c': " BIN("YWJj", "07") "}", "{'b': {'c': " PATCH(1, "") "}}",
	    "{'c': " BIN("YQ==", "07") "}" },
	{ "o: 0 with empty d empties", "{'c': " BIN("YWJj", "05") "}",
	    "{'b': {'c': " PATCH(0, "") "}}", "{'c': " BIN("", "05") "}" },
	{ "o one past the end changes nothing", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': " PATCH(4, "eA==") "}}", "{'c': " BIN("YWJj", "07") "}" },
	{ "b of a missing field does nothing", "{'a': 1}", "{'b': {'c': " PATCH(0, "eA==") "}}",
	    "{'a': 1}" },
	{ "d's subtype does not matter", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'd': " BIN("eA==", "80") "}}}", "{'c': " BIN("YXg=", "07") "}" },
	{ "o as int64", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': {'$numberLong': '1'}, 'd': " BIN("eA==", "00") "}}}",
	    "{'c': " BIN("YXg=", "07") "}" },
	{ "o as a whole double", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1.0, 'd': " BIN("eA==", "00") "}}}", "{'c': " BIN("YXg=", "07") "}" },
	{ "d before o", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'d': " BIN("eA==", "00") ", 'o': 1}}}", "{'c': " BIN("YXg=", "07") "}" },
	{ "b beside every other section",
	    "{'a': 1, 'b': 2, 'c': " BIN("YWJj", "07") ", 's': {'t': 1}}",
	    "{'d': {'a': false}, 'u': {'b': 3}, 'i': {'n': 4}, 'b': {'c': " PATCH(3, "ZGVm") "}, "
	    "'ss': {'u': {'t': 2}}}",
	    "{'b': 3, 'c': " BIN("YWJjZGVm", "07") ", 's': {'t': 2}, 'n': 4}" },
	{ "a field present twice is patched at each place",
	    "{'c': " BIN("YWJj", "07") ", 'a': 1, 'c': " BIN("eA==", "00") "}",
	    "{'b': {'c': " PATCH(1, "eA==") "}}",
	    "{'c': " BIN("YXg=", "07") ", 'a': 1, 'c': " BIN("eHg=", "00") "}" },

	/* Each section alone, then together, by the rules of diff.h. */
	{ "d of a missing field", "{'a': 1}", "{'d': {'zz': false}}", "{'a': 1}" },
	{ "u of an existing field keeps its place", "{'a': 1, 'b': 2, 'c': 3}",
	    "{'u': {'b': {'x': [1]}}}", "{'a': 1, 'b': {'x': [1]}, 'c': 3}" },
	{ "u keeps the type it is given", "{'a': 1, 'b': 2}", "{'u': {'a': 1.0}}",
	    "{'a': 1.0, 'b': 2}" },
	{ "u of new fields appends them in listed order", "{'a': 1}", "{'u': {'z': 1, 'b': 2}}",
	    "{'a': 1, 'z': 1, 'b': 2}" },
	{ "i appends in listed order", "{'x': 1}", "{'i': {'c': 3, 'a': 1, 'b': 2}}",
	    "{'x': 1, 'c': 3, 'a': 1, 'b': 2}" },
	{ "i of an existing field moves it to the end", "{'a': 1, 'b': 2, 'c': 3}",
	    "{'i': {'a': 9}}", "{'b': 2, 'c': 3, 'a': 9}" },
	{ "new u fields come before i fields", "{'a': 1, 'b': 2}",
	    "{'u': {'b': 3, 'n1': 1}, 'i': {'n0': 0}}", "{'a': 1, 'b': 3, 'n1': 1, 'n0': 0}" },
	{ "an empty b section is harmless", "{'a': 1}", "{'u': {'a': 2}, 'b': {}}", "{'a': 2}" },
	{ "a section is known by its first letter", "{'a': 1, 'b': 2}", "{'dx': {'a': false}}",
	    "{'b': 2}" },
	{ "nested s", "{'a': {'b': {'c': 1, 'd': 2}, 'e': 3}, 'f': 4}",
	    "{'sa': {'u': {'e': 30}, 'sb': {'d': {'c': false}, 'i': {'g': 5}}}}",
	    "{'a': {'b': {'d': 2, 'g': 5}, 'e': 30}, 'f': 4}" },
	{ "s of a missing field does nothing", "{'a': 1}", "{'ssub': {'u': {'x': 1}}}",
	    "{'a': 1}" },
	{ "object sub-diff on an array writes null", "{'sub': [1], 'z': 0}",
	    "{'ssub': {'u': {'x': 1}}}", "{'sub': null, 'z': 0}" },
	{ "array sub-diff on an object writes null", "{'arr': {'0': 1}, 'z': 0}",
	    "{'sarr': {'a': true, 'u0': 5}}", "{'arr': null, 'z': 0}" },
	{ "s of the empty field name", "{'': {}}", "{'s': {'u': {'x': 1}}}",
	    "{'': {'x': 1}}" },
	{ "combination of every section",
	    "{'_id': 1, 'a': 1, 'b': {'c': 1, 'd': [1, 2, 3]}, 'e': 5}",
	    "{'d': {'e': false}, 'u': {'a': 2, 'f': 6}, 'i': {'g': 7}, "
	    "'sb': {'u': {'c': 2}, 'sd': {'a': true, 'l': 2, 'u1': 20}}}",
	    "{'_id': 1, 'a': 2, 'b': {'c': 2, 'd': [1, 20]}, 'f': 6, 'g': 7}" },

	/* Array diffs, by the rules of diff.h. */
	{ "u<idx> inside the array", "{'arr': [1, 2, 3]}", "{'sarr': {'a': true, 'u1': 'x'}}",
	    "{'arr': [1, 'x', 3]}" },
	{ "u<idx> just past the end appends", "{'arr': [1]}", "{'sarr': {'a': true, 'u1': 2}}",
	    "{'arr': [1, 2]}" },
	{ "u<idx> far past the end pads with null", "{'arr': []}",
	    "{'sarr': {'a': true, 'u2': 'x'}}", "{'arr': [null, null, 'x']}" },
	{ "l truncates", "{'arr': [1, 2, 3, 4]}", "{'sarr': {'a': true, 'l': 2}}",
	    "{'arr': [1, 2]}" },
	{ "l: 0 empties", "{'arr': [1, 2, 3]}", "{'sarr': {'a': true, 'l': 0}}", "{'arr': []}" },
	{ "l grows with null", "{'arr': [1]}", "{'sarr': {'a': true, 'l': 4}}",
	    "{'arr': [1, null, null, null]}" },
	{ "l grows around a u", "{'arr': [1]}", "{'sarr': {'a': true, 'l': 4, 'u2': 'x'}}",
	    "{'arr': [1, null, 'x', null]}" },
	{ "l truncates after a u", "{'arr': [1, 2, 3, 4]}",
	    "{'sarr': {'a': true, 'l': 2, 'u0': 9}}", "{'arr': [9, 2]}" },
	{ "s<idx> of an object element", "{'arr': [{'a': 1, 'b': 2}, 5]}",
	    "{'sarr': {'a': true, 's0': {'d': {'a': false}, 'i': {'c': 3}}}}",
	    "{'arr': [{'b': 2, 'c': 3}, 5]}" },
	{ "s<idx> of an array element", "{'arr': [[1, 2], [3]]}",
	    "{'sarr': {'a': true, 's1': {'a': true, 'u1': 4}}}", "{'arr': [[1, 2], [3, 4]]}" },
	{ "s<idx> past the end writes null", "{'arr': []}",
	    "{'sarr': {'a': true, 's2': {'u': {'x': 1}}}}", "{'arr': [null, null, null]}" },
	{ "s<idx> on a scalar element writes null", "{'arr': [1, 2]}",
	    "{'sarr': {'a': true, 's1': {'u': {'x': 1}}}}", "{'arr': [1, null]}" },
	{ "an index with leading zeros is its number", "{'arr': [1, 2]}",
	    "{'sarr': {'a': true, 'u01': 'x'}}", "{'arr': [1, 'x']}" },
	{ "a: true alone leaves the array", "{'arr': [1, 2]}", "{'sarr': {'a': true}}",
	    "{'arr': [1, 2]}" },

	/* A field named twice meets its change at each place it appears. */
	{ "u of a field present twice", "{'a': 1, 'b': 2, 'a': 3}", "{'u': {'a': 9}}",
	    "{'a': 9, 'b': 2, 'a': 9}" },
	{ "d of a field present twice", "{'a': 1, 'b': 2, 'a': 3}", "{'d': {'a': false}}",
	    "{'b': 2}" },

	/* Field names that cannot stand in an update path still apply. */
	{ "field names with '.' and '$'", "{'a.b': 1, '@x': 2, 'c': 3}",
	    "{'d': {'@x': false}, 'u': {'a.b': 5}, 'i': {'@y': 1}}", "{'a.b': 5, 'c': 3, '@y': 1}" },
	{ "sub-diff of a dotted field", "{'x.y': {'k': 1}, 'x': {'y': {'k': 1}}}",
	    "{'sx.y': {'u': {'k': 2}}}", "{'x.y': {'k': 2}, 'x': {'y': {'k': 1}}}" },
	{ "sub-diff of a $ field", "{'@k': {'v': 1}}", "{'s@k': {'u': {'@w': 2}}}",
	    "{'@k': {'v': 1, '@w': 2}}" },
};

static const struct apply_refusal apply_refusals[] = {
	/* mongod's document_diff_applier_test.cpp, case by case. */
	{ "mongod: DiffWithDuplicateFields", "{}",
	    "{'d': {'dupField': false}, 'u': {'dupField': 'new value'}}", "duplicate field name" },
	{ "mongod: EmptyDiff", "{}", "{}", "empty diff" },
	{ "mongod: ArrayDiffAtTop", "{}", "{'a': true, 'l': 5, 'd0': false}",
	    "unexpected section" },
	{ "mongod: duplicate in d", "{}", "{'d': {'a': false, 'b': false, 'a': false}}",
	    "duplicate field name \"a\"" },
	{ "mongod: duplicate in u", "{}", "{'u': {'f1': 3, 'f1': 4}}",
	    "duplicate field name \"f1\"" },
	{ "mongod: duplicate in i", "{}", "{'i': {'a': {}, 'a': null}}", "duplicate" },
	{ "mongod: duplicate across d and i", "{}", "{'d': {'b': false}, 'i': {'a': {}, 'b': null}}",
	    "duplicate field name \"b\"" },
	{ "mongod: duplicate across u and i", "{}", "{'u': {'b': false}, 'i': {'a': {}, 'b': null}}",
	    "duplicate field name \"b\"" },
	{ "mongod: duplicate across u and s", "{}", "{'u': {'a': {}}, 'sa': {'d': {'k': false}}}",
	    "duplicate field name \"a\"" },

	/* mongod's DiffApplierTest Binary* cases (see APPEND_DIFF). */
	{ "mongod: BinaryMalformedDiffNotObject", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': 'not_an_object'}}", "diff at b.b1: b entry is a string, not an object" },
	{ "mongod: BinaryNegativeDiffOffset", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': " PATCH(-1, "ZGVm") "}}", "diff at b.b1: b entry offset o: -1 is out of range" },
	{ "mongod: BinaryMalformedDiffFieldNotBinData", "{'b1': " BIN("YWJj", "07") "}",
	    "{'b': {'b1': {'o': 3, 'd': 'not_bindata'}}}",
	    "diff at b.b1: b entry data d is a string, not BinData" },

	/* b entries beyond mongod's own cases, by the rules of diff.h. */
	{ "b of a field that is not BinData", "{'c': 'abc'}", "{'b': {'c': " PATCH(0, "eA==") "}}",
	    "diff at c: the document holds a string here, not BinData" },
	{ "b deeper of a field that is not BinData names its path", "{'data': {'x': {}}}",
	    "{'sdata': {'b': {'x': " PATCH(0, "eA==") "}}}",
	    "diff at data.x: the document holds an object here, not BinData" },
	{ "b entry without o", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'d': " BIN("eA==", "00") "}}}", "diff at b.c: b entry has no offset o" },
	{ "b entry without d", "{'c': " BIN("YWJj", "07") "}", "{'b': {'c': {'o': 1}}}",
	    "diff at b.c: b entry has no data d" },
	{ "b entry with another field", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'd': " BIN("eA==", "00") ", 'l': 3}}}", "field \"l\" (only o and d)" },
	{ "b entry with o twice", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'o': 2, 'd': " BIN("eA==", "00") "}}}", "second or unknown field \"o\"" },
	{ "b entry with d twice", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1, 'd': " BIN("eA==", "00") ", 'd': " BIN("eA==", "00") "}}}",
	    "second or unknown field \"d\"" },
	{ "o as a fraction", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 1.5, 'd': " BIN("eA==", "00") "}}}", "1.5 is not a whole number" },
	{ "o as a string", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': '1', 'd': " BIN("eA==", "00") "}}}", "o is a string, not a number" },
	{ "o as decimal128", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': {'$numberDecimal': '1'}, 'd': " BIN("eA==", "00") "}}}",
	    "o is a decimal128, not a number" },
	{ "o past int32", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': {'$numberLong': '4294967296'}, 'd': " BIN("eA==", "00") "}}}",
	    "4294967296 is out of range" },
	{ "o past int32 as a double", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 4294967296.0, 'd': " BIN("eA==", "00") "}}}", "not a whole number from 0" },
	{ "d of subtype 2", "{'c': " BIN("YWJj", "07") "}",
	    "{'b': {'c': {'o': 0, 'd': " BIN("AQAAAHg=", "02") "}}}", "subtype 2 (old binary)" },
	{ "a field of subtype 2", "{'c': " BIN("AwAAAGFiYw==", "02") "}",
	    "{'b': {'c': " PATCH(0, "eA==") "}}", "diff at c: a b entry patching BinData of subtype 2" },
	{ "b after the sub-diffs", "{}", "{'sa': {'u': {'x': 1}}, 'b': {}}", "after the sub-diffs" },
	{ "b before i", "{}", "{'b': {}, 'i': {'x': 1}}", "unexpected section \"i\"" },
	{ "b twice", "{}", "{'b': {}, 'b': {}}", "unexpected section \"b\"" },
	{ "a field in b and in u", "{}",
	    "{'u': {'c': 1}, 'b': {'c': " PATCH(0, "eA==") "}}", "duplicate field name \"c\"" },
	{ "a field in b twice", "{}",
	    "{'b': {'c': " PATCH(0, "eA==") ", 'c': " PATCH(1, "eA==") "}}", "duplicate field name \"c\"" },
	{ "a malformed b entry is refused where nothing applies", "{}",
	    "{'smissing': {'b': {'c': {'o': -5, 'd': " BIN("eA==", "00") "}}}}",
	    "diff at smissing.b.c: b entry offset o: -5 is out of range" },

	/* Malformed diffs: each refused, its message saying why. */
	{ "unknown section", "{}", "{'x': {}}", "unexpected section \"x\"" },
	{ "sections out of order", "{}", "{'u': {'a': 1}, 'd': {'b': false}}",
	    "unexpected section \"d\"" },
	{ "a section twice", "{}", "{'u': {'a': 1}, 'u': {'b': 1}}", "unexpected section \"u\"" },
	{ "a section that is not a document", "{}", "{'u': 1}", "not a document" },
	{ "a section after the sub-diffs", "{}", "{'sa': {'u': {'x': 1}}, 'u': {'b': 1}}",
	    "after the sub-diffs" },
	{ "an empty section name", "{}", "{'': {}}", "empty section name" },
	{ "a sub-diff that is not a document", "{'a': {}}", "{'sa': 5}", "not a document" },
	{ "an empty sub-diff", "{'a': {}}", "{'sa': {}}", "diff at sa: empty diff" },
	{ "an empty sub-diff of a missing field", "{}", "{'sa': {}}", "empty diff" },
	{ "a deep error names its path", "{}", "{'sa': {'sb': {'sc': {'q': {}}}}}",
	    "diff at sa.sb.sc: unexpected section \"q\"" },
	{ "array header false", "{'arr': []}", "{'sarr': {'a': false}}", "is not true" },
	{ "array header not a bool", "{'arr': []}", "{'sarr': {'a': 1}}", "is not true" },
	{ "negative l", "{'arr': []}", "{'sarr': {'a': true, 'l': -1}}", "out of range" },
	{ "l as int64", "{'arr': []}", "{'sarr': {'a': true, 'l': {'$numberLong': '3'}}}",
	    "not an int32" },
	{ "l too large", "{'arr': []}", "{'sarr': {'a': true, 'l': 2000000000}}",
	    "out of range" },
	{ "l twice", "{'arr': []}", "{'sarr': {'a': true, 'l': 1, 'l': 2}}",
	    "is not u<index> or s<index>" },
	{ "indexes out of order", "{'arr': []}", "{'sarr': {'a': true, 'u2': 1, 'u1': 1}}",
	    "not increasing" },
	{ "an index twice", "{'arr': [{}, {}]}",
	    "{'sarr': {'a': true, 'u1': 1, 's1': {'u': {'x': 1}}}}", "not increasing" },
	{ "an index at l", "{'arr': []}", "{'sarr': {'a': true, 'l': 2, 'u2': 1}}",
	    "not below l" },
	{ "an entry that is neither u nor s", "{'arr': []}", "{'sarr': {'a': true, 'x1': 1}}",
	    "not u<index> or s<index>" },
	{ "an entry without an index", "{'arr': []}", "{'sarr': {'a': true, 'u': 1}}",
	    "not u<index> or s<index>" },
	{ "an index that is not a number", "{'arr': []}", "{'sarr': {'a': true, 'u1x': 1}}",
	    "not a number" },
	{ "a negative index", "{'arr': []}", "{'sarr': {'a': true, 'u-1': 1}}",
	    "not a number" },
	{ "a huge index", "{'arr': []}", "{'sarr': {'a': true, 'u99999999999999999999': 1}}",
	    "not a number" },
	{ "an element sub-diff that is not a document", "{'arr': [{}]}",
	    "{'sarr': {'a': true, 's0': 5}}", "not a document" },
	{ "a malformed diff is refused even where nothing applies", "{}",
	    "{'smissing': {'sdeeper': {'u': 1}}}", "not a document" },
};

static const struct update_case update_cases[] = {
	{ "d is $unset", "{'d': {'a': false, 'b': false}}", "{'@unset': {'a': '', 'b': ''}}",
	    "{}" },
	{ "u in sorted order is $set", "{'u': {'a': 1, 'b': {'c': [1]}}}",
	    "{'@set': {'a': 1, 'b': {'c': [1]}}}", "{}" },
	{ "u then i in sorted order, i asserted absent", "{'u': {'a': 1}, 'i': {'b': 2, 'c': 3}}",
	    "{'@set': {'a': 1, 'b': 2, 'c': 3}}",
	    "{'b': {'@exists': false}, 'c': {'@exists': false}}" },
	{ "numeric names ordered alike both ways", "{'u': {'2': 1, '3': 2}}",
	    "{'@set': {'2': 1, '3': 2}}", "{}" },
	{ "nested s asserts an object",
	    "{'sb': {'d': {'x': false}, 'u': {'c': 2}, 'sd': {'u': {'e': 1}}}}",
	    "{'@set': {'b.c': 2, 'b.d.e': 1}, '@unset': {'b.x': ''}}",
	    "{'b': {'@type': 'object', '@not': {'@type': 'array'}}, "
	    "'b.d': {'@type': 'object', '@not': {'@type': 'array'}}}" },
	{ "array u<idx> is $set of the index, array asserted",
	    "{'sarr': {'a': true, 'u1': 5, 'u10': 6}}", "{'@set': {'arr.1': 5, 'arr.10': 6}}",
	    "{'arr': {'@type': 'array'}}" },
	{ "an index with leading zeros becomes its number", "{'sarr': {'a': true, 'u007': 5}}",
	    "{'@set': {'arr.7': 5}}", "{'arr': {'@type': 'array'}}" },
	{ "a '$' not leading a name inside a value", "{'u': {'a': {'x@': 2}}}",
	    "{'@set': {'a': {'x@': 2}}}", "{}" },
};

static const struct update_refusal update_refusals[] = {
	/* Without a filter, only what needs no condition. */
	{ "i without a filter", "{'i': {'a': 1}}", false, DIFF_ERROR_INEXACT,
	    "under a filter" },
	{ "s without a filter", "{'sa': {'u': {'b': 1}}}", false, DIFF_ERROR_INEXACT,
	    "under a filter" },

	/* What $set/$unset cannot say exactly, and diffs that are not diffs. */
	{ "u out of sorted order", "{'u': {'b': 1, 'a': 2}}", true, DIFF_ERROR_INEXACT,
	    "sorted order" },
	{ "i out of sorted order", "{'i': {'b': 1, 'a': 1}}", true, DIFF_ERROR_INEXACT,
	    "sorted order" },
	{ "u after i in the order mongod appends", "{'u': {'z': 1}, 'i': {'a': 1}}", true,
	    DIFF_ERROR_INEXACT, "sorted order" },
	{ "numbers: bytes say 10 < 9, mongod 4.4+ says 9 < 10", "{'u': {'10': 1, '9': 2}}",
	    true, DIFF_ERROR_INEXACT, "sorted order" },
	{ "numbers: 9 < 10 only as numbers", "{'u': {'9': 1, '10': 2}}", true,
	    DIFF_ERROR_INEXACT, "sorted order" },
	{ "nested new fields out of order", "{'sa': {'i': {'y': 1, 'x': 1}}}", true,
	    DIFF_ERROR_INEXACT, "at a.x" },
	{ "l truncates", "{'sarr': {'a': true, 'l': 1}}", true, DIFF_ERROR_INEXACT,
	    "l resizes" },
	{ "l grows", "{'sarr': {'a': true, 'l': 5, 'u0': 1}}", true, DIFF_ERROR_INEXACT,
	    "l resizes" },
	{ "s<idx>", "{'sarr': {'a': true, 's0': {'u': {'x': 1}}}}", true,
	    DIFF_ERROR_INEXACT, "diffs an array element" },
	{ "index past what $set pads", "{'sarr': {'a': true, 'u2000000': 1}}", true,
	    DIFF_ERROR_INEXACT, "past what $set pads" },
	{ "a dotted name", "{'u': {'a.b': 1}}", true, DIFF_ERROR_INEXACT, "\"a.b\"" },
	{ "a $ name", "{'d': {'@a': false}}", true, DIFF_ERROR_INEXACT, "\"$a\"" },
	{ "a dotted name deeper", "{'sa': {'u': {'b.c': 1}}}", true, DIFF_ERROR_INEXACT,
	    "\"b.c\"" },
	{ "the empty name", "{'u': {'': 1}}", true, DIFF_ERROR_INEXACT, "update path" },
	{ "a $ name inside a value", "{'u': {'a': {'b': {'@ref': 'c'}}}}", true,
	    DIFF_ERROR_INEXACT, "leading '$'" },
	{ "a dotted name inside an array value", "{'u': {'a': [{'x.y': 1}]}}", true,
	    DIFF_ERROR_INEXACT, "leading '$'" },
	{ "the empty name inside a value", "{'u': {'a': {'': 1}}}", true,
	    DIFF_ERROR_INEXACT, "leading '$'" },
	{ "_id", "{'u': {'_id': 2}}", true, DIFF_ERROR_INEXACT, "_id" },
	{ "a no-op", "{'sarr': {'a': true}}", true, DIFF_ERROR_INEXACT, "nothing" },
	{ "b", "{'b': {'data': {'o': 0, 'd': " BIN("AA==", "00") "}}}", true,
	    DIFF_ERROR_INEXACT, "at data: a b entry patches bytes" },
	{ "b beside what would translate",
	    "{'u': {'a': 1}, 'b': {'x': {'o': 1, 'd': " BIN("AA==", "00") "}}}", true,
	    DIFF_ERROR_INEXACT, "at x: a b entry patches bytes" },
	{ "b deeper", "{'sdata': {'b': {'x': {'o': 1, 'd': " BIN("AA==", "00") "}}}}",
	    true, DIFF_ERROR_INEXACT, "at data.x: a b entry" },
	{ "b malformed", "{'b': {'data': {'o': 0}}}", true, DIFF_ERROR_MALFORMED,
	    "no data d" },
	{ "b of subtype 2", "{'b': {'data': {'o': 0, 'd': " BIN("AAAAAA==", "02") "}}}",
	    true, DIFF_ERROR_UNSUPPORTED, "subtype 2" },
	{ "malformed", "{'u': {'a': 1}, 'u': {}}", true, DIFF_ERROR_MALFORMED,
	    "unexpected section" },
	{ "malformed deeper", "{'sarr': {'a': true, 'u3': 1, 'u2': 1}}", true,
	    DIFF_ERROR_MALFORMED, "not increasing" },
};

#define COUNT(table) (sizeof(table) / sizeof((table)[0]))

static void
test_tables(void)
{
	size_t i;

	for (i = 0; i < COUNT(apply_cases); i++)
		apply_ok(&apply_cases[i]);
	for (i = 0; i < COUNT(apply_refusals); i++)
		apply_bad(&apply_refusals[i]);
	for (i = 0; i < COUNT(update_cases); i++)
		update_ok(&update_cases[i]);
	for (i = 0; i < COUNT(update_refusals); i++)
		update_refused(&update_refusals[i]);
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
}

/* Bounds: nothing a diff says may make the applier allocate past 16 MiB. */
static void
test_bounds(void)
{
	bson_t *doc, *diff;
	char json[256];
	const struct apply_refusal huge[] = {
		{ "padding past 16 MiB", "{'arr': []}", "{'sarr': {'a': true, 'u5000000': 1}}",
		    "larger than" },
		{ "l past 16 MiB", "{'arr': []}", "{'sarr': {'a': true, 'l': 5000000}}", "larger than" },
		{ "an index no document can hold", "{'arr': []}", json, "not a number up to" },
	};
	size_t i;
	int depth;

	snprintf(json, sizeof(json), "{'sarr': {'a': true, 'u%u': 1}}", (unsigned)(DIFF_MAX_DOCUMENT / 3 + 1));
	for (i = 0; i < COUNT(huge); i++)
		apply_bad(&huge[i]);

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
	/* An update's o, and the diff diff_from_oplog must find in it (NULL: none). */
	static const struct {
		const char *o, *diff;
	} cases[] = {
		{ "{'@v': 2, 'diff': {'u': {'a': 1}}}", "{'u': {'a': 1}}" },
		{ "{'@v': 1, '@set': {'a': 1}}", NULL },
		{ "{'_id': 1, 'a': 1}", NULL },
		{ "{'@v': 2.5, 'diff': {'u': {'a': 1}}}", NULL },
	};
	size_t i;

	for (i = 0; i < COUNT(cases); i++) {
		bson_t *o = from_json(cases[i].o), diff;
		bool found = diff_from_oplog(o, &diff);

		if (cases[i].diff != NULL) {
			bson_t *expect = from_json(cases[i].diff);

			CHECK(found && same_bytes(&diff, expect));
			bson_destroy(expect);
		} else {
			CHECK(!found);
		}
		bson_destroy(o);
	}
}

/* Without a filter, a diff that needs no condition still translates. */
static void
test_update_without_filter(void)
{
	bson_t *diff = from_json("{'d': {'a': false}, 'u': {'b': 1}}");
	bson_t *expect = from_json("{'@set': {'b': 1}, '@unset': {'a': ''}}");
	bson_t update;

	CHECK(diff_to_update(diff, &update, NULL, NULL) && same_bytes(&update, expect));
	bson_destroy(&update);
	bson_destroy(diff);
	bson_destroy(expect);
}

int
main(int argc, char **argv)
{
	die_init(argv[0]);
	test_tables();
	test_binary_bounds();
	test_odd_documents();
	test_bounds();
	test_corrupt();
	test_validate();
	test_from_oplog();
	test_update_without_filter();
	if (failures > 0) {
		fprintf(stderr, "test_diff: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("test_diff: %d checks passed\n", checks);
	return 0;
}
