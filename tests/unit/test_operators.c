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

/* One case of operators_apply: doc and the update give expect. */
struct ok_case {
	const char *name, *doc, *update, *expect;
};

/* One refusal: doc and the update fail with a message holding why. */
struct bad_case {
	const char *name, *doc, *update, *why;
};

/* Apply update to doc: the result must be expect, byte for byte, twice over. */
static void
apply_ok(const struct ok_case *c)
{
	const char *name = c->name;
	bson_t *doc = from_json(c->doc), *update = from_json(c->update);
	bson_t *expect = from_json(c->expect);
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
apply_bad(const struct bad_case *c)
{
	const char *name = c->name, *why = c->why;
	bson_t *doc = from_json(c->doc), *update = from_json(c->update);
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
static const struct ok_case order_cases[] = {
	{ "numbers by value, before letters; nested levels sorted too",
	    "{'_id': 1, 'x': 1}",
	    "{'@v': 1, '@set': {'z': 1, 'a': 1, 'm.b': 1, 'm.a': 2, '10': 1, '9': 1}}",
	    "{'_id': 1, 'x': 1, '9': 1, '10': 1, 'a': 1, 'm': {'a': 2, 'b': 1}, 'z': 1}" },
	{ "digit-first names by length first", "{}", "{'@set': {'1a': 1, '9': 2, '100': 3}}",
	    "{'9': 2, '1a': 1, '100': 3}" },
	{ "zero-padded names as text", "{}", "{'@set': {'1': 1, '01': 2, '001': 3}}",
	    "{'001': 3, '01': 2, '1': 1}" },
	{ "existing fields stay in place, new ones after", "{'b': 1, 'a': [0, 1], 'c': 3}",
	    "{'@set': {'a.1': 5, '0': 1, 'c': 4}}", "{'b': 1, 'a': [0, 5], 'c': 4, '0': 1}" },
	{ "an upsert's {_id} takes the fields in that order", "{'_id': 7}",
	    "{'@set': {'b': 2, 'a.0': 1}}", "{'_id': 7, 'a': {'0': 1}, 'b': 2}" },
};

static const struct ok_case array_cases[] = {
	{ "$unset of an element sets it to null", "{'a': [0, 1, 2]}",
	    "{'@v': 1, '@unset': {'a.1': true}}", "{'a': [0, null, 2]}" },
	{ "$unset past the end, by a name, of a missing field: nothing",
	    "{'a': [0], 'b': 1}", "{'@unset': {'a.5': true, 'a.x': true, 'q': true, 'b.c': true}}",
	    "{'a': [0], 'b': 1}" },
	{ "$unset inside an element removes the field", "{'a': [0, {'b': 1, 'c': 2}]}",
	    "{'@unset': {'a.1.b': true}}", "{'a': [0, {'c': 2}]}" },
	{ "$set past the end pads with null", "{'a': [0]}", "{'@set': {'a.3': 9}}",
	    "{'a': [0, null, null, 9]}" },
	{ "indexes applied by value", "{'a': []}", "{'@set': {'a.10': 10, 'a.9': 9}}",
	    "{'a': [null, null, null, null, null, null, null, null, null, 9, 10]}" },
	{ "a path past the end creates an object there", "{'a': [{'x': 1}]}",
	    "{'@set': {'a.1.b': 2}}", "{'a': [{'x': 1}, {'b': 2}]}" },
	{ "$set into an element and $unset of another", "{'a': [{}, 5, 6]}",
	    "{'@set': {'a.0.x': 1}, '@unset': {'a.1': 1}}", "{'a': [{'x': 1}, null, 6]}" },
	{ "numeric parts of a missing field make objects", "{'_id': 3}",
	    "{'@set': {'a.1': 5, 'a.0': 4}}", "{'_id': 3, 'a': {'0': 4, '1': 5}}" },
	{ "a numeric part of an object is a field name", "{'a': {'x': 1}}",
	    "{'@set': {'a.2': 7}, '@unset': {'a.x': 1}}", "{'a': {'2': 7}}" },
	{ "an $unset inside the padding a $set makes", "{'a': [[0, 1], [2]]}",
	    "{'@set': {'a.4': 4}, '@unset': {'a.3.0': 1, 'a.2': 1}}", "{'a': [[0, 1], [2], null, null, 4]}" },
	{ "nested arrays", "{'a': [[0, 1], [2]]}", "{'@set': {'a.1.2': 4}, '@unset': {'a.0.0': 1}}",
	    "{'a': [[null, 1], [2, null, 4]]}" },
};

static const struct bad_case bad_cases[] = {
	{ "through a scalar element", "{'a': [{'b': 1}, 2]}",
	    "{'@set': {'a.1.c': 1, 'a.0.c': 2}}", "Cannot create field 'c'" },
	{ "through null", "{'a': null}", "{'@set': {'a.b': 1}}", "Cannot create field 'b'" },
	{ "an array by a name", "{'a': [1]}", "{'@set': {'a.b': 1}}", "Cannot create field 'b'" },
	{ "conflicting paths", "{}", "{'@set': {'a': 1, 'a.b': 2}}", "conflict" },
	{ "one path set and unset", "{}", "{'@set': {'a.0': 1}, '@unset': {'a.0': 1}}",
	    "conflict" },
	{ "another operator", "{}", "{'@inc': {'a.0': 1}}", "not $set or $unset" },
	{ "an empty part", "{}", "{'@set': {'a..0': 1}}", "empty part" },
	{ "a positional part", "{'a': [1]}", "{'@set': {'a.@': 1}}", "positional" },
	{ "padding past mongod's limit", "{'a': []}", "{'@set': {'a.2000000': 1}}",
	    "backfill" },
};

/* Updates operators_apply takes (here true) and those it leaves to the server. */
static const struct {
	const char *update;
	bool here;
} here_cases[] = {
	{ "{'@v': 1, '@set': {'a.0': 1}}", true },
	{ "{'@unset': {'b.1.c': 1}}", true },
	{ "{'@set': {'9': 1}}", true },
	{ "{'@v': 1, '@set': {'a.b': 1}}", false },
	{ "{'@inc': {'a.0': 1}}", false },
	{ "{'@set': {'a.0': 1}, '@inc': {'b': 1}}", false },
	{ "{'_id': 1, 'a': 1}", false },
	{ "{'@set': 1}", false },
};

static void
test_apply_here(void)
{
	size_t k;

	for (k = 0; k < sizeof(here_cases) / sizeof(here_cases[0]); k++) {
		bson_t *o = from_json(here_cases[k].update);

		checks++;
		if (operators_apply_here(o) != here_cases[k].here) {
			fprintf(stderr, "FAIL operators_apply_here(%s) is %s\n", here_cases[k].update,
			    here_cases[k].here ? "false" : "true");
			failures++;
		}
		bson_destroy(o);
	}
}

int
main(int argc, char **argv)
{
	size_t k;

	die_init(argv[0]);
	for (k = 0; k < sizeof(order_cases) / sizeof(order_cases[0]); k++)
		apply_ok(&order_cases[k]);
	for (k = 0; k < sizeof(array_cases) / sizeof(array_cases[0]); k++)
		apply_ok(&array_cases[k]);
	for (k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++)
		apply_bad(&bad_cases[k]);
	test_apply_here();
	if (failures > 0) {
		fprintf(stderr, "test_operators: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("test_operators: %d checks passed\n", checks);
	return 0;
}
