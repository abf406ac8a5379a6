/*
 * test_operators.c - the $set/$unset of update entries applied as mongod
 * does (common/operators.h).
 *
 * Every expected document is written down from mongod's rules (its
 * update_object_node order, path_support's creation and padding,
 * unset_node's null in arrays), not from this code's output, and compared
 * byte for byte, field order included; each update is applied a second
 * time to its own result, which must not change it (a replay).
 *
 * Test JSON uses single quotes, and '@' for '$' in a key: libbson's
 * parser would take '$set' for Extended JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "lib/test-json.h"
#include "operators.h"

static int failures;
static int checks;

/* Apply update to doc: the result must be expect, byte for byte, twice over. */
static void
apply_ok(const char *name, const char *doc_json, const char *update_json, const char *expect_json)
{
	bson_t *doc = from_json(doc_json), *update = from_json(update_json);
	bson_t *expect = from_json(expect_json);
	bson_t out, again;
	char err[512];

	checks++;
	if (!operators_apply(doc, update, &out, err, sizeof(err))) {
		fprintf(stderr, "FAIL %s: operators_apply failed: %s\n", name, err);
		failures++;
	} else if (!same_bytes(&out, expect)) {
		fprintf(stderr, "FAIL %s: wrong result\n", name);
		show("got:     ", &out);
		show("expected:", expect);
		failures++;
	} else if (!operators_apply(&out, update, &again, err, sizeof(err)) ||
	    !same_bytes(&again, expect)) {
		fprintf(stderr, "FAIL %s: applying it again changed the result\n", name);
		show("again:   ", &again);
		failures++;
		bson_destroy(&again);
	} else {
		bson_destroy(&again);
	}
	bson_destroy(&out);
	bson_destroy(doc);
	bson_destroy(update);
	bson_destroy(expect);
}

/* operators_apply must refuse, saying why, and leave out empty. */
static void
apply_bad(const char *name, const char *doc_json, const char *update_json, const char *why)
{
	bson_t *doc = from_json(doc_json), *update = from_json(update_json);
	bson_t out;
	char err[512];

	checks++;
	if (operators_apply(doc, update, &out, err, sizeof(err))) {
		fprintf(stderr, "FAIL %s: operators_apply accepted it\n", name);
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
	bson_destroy(doc);
	bson_destroy(update);
}

/* New fields: each level in cmpPathsAndArrayIndexes order, after the fields already there. */
static void
test_order(void)
{
	apply_ok("numbers by value, before letters; nested levels sorted too",
	    "{'_id': 1, 'x': 1}",
	    "{'@v': 1, '@set': {'z': 1, 'a': 1, 'm.b': 1, 'm.a': 2, '10': 1, '9': 1}}",
	    "{'_id': 1, 'x': 1, '9': 1, '10': 1, 'a': 1, 'm': {'a': 2, 'b': 1}, 'z': 1}");
	apply_ok("digit-first names by length first", "{}", "{'@set': {'1a': 1, '9': 2, '100': 3}}",
	    "{'9': 2, '1a': 1, '100': 3}");
	apply_ok("zero-padded names as text", "{}", "{'@set': {'1': 1, '01': 2, '001': 3}}",
	    "{'001': 3, '01': 2, '1': 1}");
	apply_ok("existing fields stay in place, new ones after", "{'b': 1, 'a': [0, 1], 'c': 3}",
	    "{'@set': {'a.1': 5, '0': 1, 'c': 4}}", "{'b': 1, 'a': [0, 5], 'c': 4, '0': 1}");
	apply_ok("an upsert's {_id} takes the fields in that order", "{'_id': 7}",
	    "{'@set': {'b': 2, 'a.0': 1}}", "{'_id': 7, 'a': {'0': 1}, 'b': 2}");
}

static void
test_arrays(void)
{
	apply_ok("$unset of an element sets it to null", "{'a': [0, 1, 2]}",
	    "{'@v': 1, '@unset': {'a.1': true}}", "{'a': [0, null, 2]}");
	apply_ok("$unset past the end, by a name, of a missing field: nothing",
	    "{'a': [0], 'b': 1}", "{'@unset': {'a.5': true, 'a.x': true, 'q': true, 'b.c': true}}",
	    "{'a': [0], 'b': 1}");
	apply_ok("$unset inside an element removes the field", "{'a': [0, {'b': 1, 'c': 2}]}",
	    "{'@unset': {'a.1.b': true}}", "{'a': [0, {'c': 2}]}");
	apply_ok("$set past the end pads with null", "{'a': [0]}", "{'@set': {'a.3': 9}}",
	    "{'a': [0, null, null, 9]}");
	apply_ok("indexes applied by value", "{'a': []}", "{'@set': {'a.10': 10, 'a.9': 9}}",
	    "{'a': [null, null, null, null, null, null, null, null, null, 9, 10]}");
	apply_ok("a path past the end creates an object there", "{'a': [{'x': 1}]}",
	    "{'@set': {'a.1.b': 2}}", "{'a': [{'x': 1}, {'b': 2}]}");
	apply_ok("$set into an element and $unset of another", "{'a': [{}, 5, 6]}",
	    "{'@set': {'a.0.x': 1}, '@unset': {'a.1': 1}}", "{'a': [{'x': 1}, null, 6]}");
	apply_ok("numeric parts of a missing field make objects", "{'_id': 3}",
	    "{'@set': {'a.1': 5, 'a.0': 4}}", "{'_id': 3, 'a': {'0': 4, '1': 5}}");
	apply_ok("a numeric part of an object is a field name", "{'a': {'x': 1}}",
	    "{'@set': {'a.2': 7}, '@unset': {'a.x': 1}}", "{'a': {'2': 7}}");
	apply_ok("an $unset inside the padding a $set makes", "{'a': [[0, 1], [2]]}",
	    "{'@set': {'a.4': 4}, '@unset': {'a.3.0': 1, 'a.2': 1}}", "{'a': [[0, 1], [2], null, null, 4]}");
	apply_ok("nested arrays", "{'a': [[0, 1], [2]]}", "{'@set': {'a.1.2': 4}, '@unset': {'a.0.0': 1}}",
	    "{'a': [[null, 1], [2, null, 4]]}");
}

static void
test_failures(void)
{
	apply_bad("through a scalar element", "{'a': [{'b': 1}, 2]}",
	    "{'@set': {'a.1.c': 1, 'a.0.c': 2}}", "Cannot create field 'c'");
	apply_bad("through null", "{'a': null}", "{'@set': {'a.b': 1}}", "Cannot create field 'b'");
	apply_bad("an array by a name", "{'a': [1]}", "{'@set': {'a.b': 1}}", "Cannot create field 'b'");
	apply_bad("conflicting paths", "{}", "{'@set': {'a': 1, 'a.b': 2}}", "conflict");
	apply_bad("one path set and unset", "{}", "{'@set': {'a.0': 1}, '@unset': {'a.0': 1}}",
	    "conflict");
	apply_bad("another operator", "{}", "{'@inc': {'a.0': 1}}", "not $set or $unset");
	apply_bad("an empty part", "{}", "{'@set': {'a..0': 1}}", "empty part");
	apply_bad("a positional part", "{'a': [1]}", "{'@set': {'a.@': 1}}", "positional");
	apply_bad("padding past mongod's limit", "{'a': []}", "{'@set': {'a.2000000': 1}}",
	    "backfill");
}

static void
test_apply_here(void)
{
	const char *yes[] = { "{'@v': 1, '@set': {'a.0': 1}}", "{'@unset': {'b.1.c': 1}}",
	    "{'@set': {'9': 1}}", NULL };
	const char *no[] = { "{'@v': 1, '@set': {'a.b': 1}}", "{'@inc': {'a.0': 1}}",
	    "{'@set': {'a.0': 1}, '@inc': {'b': 1}}", "{'_id': 1, 'a': 1}", "{'@set': 1}", NULL };
	size_t k;

	for (k = 0; yes[k] != NULL; k++) {
		bson_t *o = from_json(yes[k]);

		checks++;
		if (!operators_apply_here(o)) {
			fprintf(stderr, "FAIL operators_apply_here(%s) is false\n", yes[k]);
			failures++;
		}
		bson_destroy(o);
	}
	for (k = 0; no[k] != NULL; k++) {
		bson_t *o = from_json(no[k]);

		checks++;
		if (operators_apply_here(o)) {
			fprintf(stderr, "FAIL operators_apply_here(%s) is true\n", no[k]);
			failures++;
		}
		bson_destroy(o);
	}
}

int
main(int argc, char **argv)
{
	die_init(argv[0]);
	test_order();
	test_arrays();
	test_failures();
	test_apply_here();
	if (failures > 0) {
		fprintf(stderr, "test_operators: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("test_operators: %d checks passed\n", checks);
	return 0;
}
