/*
 * test_order - MongoDB's BSON comparison order (common/order.c): a list of
 * values in the order mongod sorts them, checked pair by pair, so every
 * type boundary and every numeric cross-type case is seen both ways.
 */
#include <stdio.h>
#include <string.h>

#include "die.h"
#include "order.h"

static int failures;

/*
 * Each line one value {"v": ...}, strictly ascending except where a line
 * starts with '=' (equal to the line before).
 */
static const char *const ascending[] = {
	"{\"v\": {\"$minKey\": 1}}",
	"{\"v\": null}",
	"{\"v\": {\"$numberDouble\": \"NaN\"}}",
	"={\"v\": {\"$numberDecimal\": \"NaN\"}}",
	"{\"v\": {\"$numberDouble\": \"-Infinity\"}}",
	"{\"v\": {\"$numberLong\": \"-9223372036854775808\"}}",
	"{\"v\": -1e18}",
	"={\"v\": {\"$numberLong\": \"-1000000000000000000\"}}",
	"{\"v\": -2.5}",
	"{\"v\": {\"$numberInt\": \"-2\"}}",
	"{\"v\": 0}",
	"={\"v\": -0.0}",
	"={\"v\": {\"$numberLong\": \"0\"}}",
	"{\"v\": 1e-300}",
	"{\"v\": {\"$numberInt\": \"1\"}}",
	"={\"v\": 1.0}",
	"={\"v\": {\"$numberDecimal\": \"1.00\"}}",
	"{\"v\": 1.5}",
	"={\"v\": {\"$numberDecimal\": \"1.5\"}}",
	"{\"v\": {\"$numberLong\": \"2\"}}",
	"{\"v\": {\"$numberLong\": \"9007199254740993\"}}",
	"{\"v\": 9007199254740994.0}",
	"{\"v\": {\"$numberLong\": \"9223372036854775807\"}}",
	"{\"v\": 9223372036854775808.0}",
	"{\"v\": {\"$numberDouble\": \"Infinity\"}}",
	"{\"v\": \"\"}",
	"{\"v\": \"A\"}",
	"{\"v\": \"a\"}",
	"={\"v\": {\"$symbol\": \"a\"}}",
	"{\"v\": \"ab\"}",
	"{\"v\": \"b\"}",
	"{\"v\": {}}",
	"{\"v\": {\"a\": null}}",
	"{\"v\": {\"a\": 1}}",
	"={\"v\": {\"a\": 1.0}}",
	"{\"v\": {\"a\": 1, \"b\": 1}}",
	"{\"v\": {\"b\": 0}}",
	"{\"v\": {\"a\": \"x\"}}",	/* the type counts before the name */
	"{\"v\": []}",
	"{\"v\": [1]}",
	"{\"v\": [1, 2]}",
	"{\"v\": [2]}",
	"{\"v\": {\"$binary\": {\"base64\": \"/w==\", \"subType\": \"05\"}}}",
	"{\"v\": {\"$binary\": {\"base64\": \"AAA=\", \"subType\": \"00\"}}}",
	"{\"v\": {\"$binary\": {\"base64\": \"AAE=\", \"subType\": \"00\"}}}",
	"{\"v\": {\"$binary\": {\"base64\": \"AAA=\", \"subType\": \"04\"}}}",
	"{\"v\": {\"$oid\": \"000000000000000000000000\"}}",
	"{\"v\": {\"$oid\": \"5f0000000000000000000001\"}}",
	"{\"v\": {\"$oid\": \"ff0000000000000000000000\"}}",
	"{\"v\": false}",
	"{\"v\": true}",
	"{\"v\": {\"$date\": {\"$numberLong\": \"-1\"}}}",
	"{\"v\": {\"$date\": {\"$numberLong\": \"0\"}}}",
	"{\"v\": {\"$date\": \"2020-01-01T00:00:00Z\"}}",
	"{\"v\": {\"$timestamp\": {\"t\": 1, \"i\": 9}}}",
	"{\"v\": {\"$timestamp\": {\"t\": 2, \"i\": 0}}}",
	"{\"v\": {\"$timestamp\": {\"t\": 4000000000, \"i\": 0}}}",
	"{\"v\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}}",
	"{\"v\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"i\"}}}",
	"{\"v\": {\"$code\": \"f()\"}}",
	"{\"v\": {\"$code\": \"f()\", \"$scope\": {}}}",
	"{\"v\": {\"$maxKey\": 1}}",
};

static bson_t *
parse(const char *json)
{
	bson_error_t error;
	bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &error);

	if (doc == NULL)
		die(1, "test_order: bad test value %s: %s", json, error.message);
	return doc;
}

static int
compare(const bson_t *a, const bson_t *b)
{
	bson_iter_t x, y;

	if (!bson_iter_init_find(&x, a, "v") || !bson_iter_init_find(&y, b, "v"))
		die(1, "test_order: no v");
	return order_compare_values(&x, &y);
}

/* want: the sign of the comparison of value j against value k. */
static void
expect(size_t j, size_t k, int want)
{
	const char *a = ascending[j] + (ascending[j][0] == '='), *b = ascending[k] + (ascending[k][0] == '=');
	bson_t *x = parse(a), *y = parse(b);
	int got = compare(x, y);

	got = got < 0 ? -1 : got > 0;
	if (got != want) {
		fprintf(stderr, "test_order: %s vs %s: got %d, want %d\n", a, b, got, want);
		failures++;
	}
	bson_destroy(x);
	bson_destroy(y);
}

/* The rank (group of equal values) of each line. */
static size_t
rank_of(size_t index)
{
	size_t k, rank = 0;

	for (k = 1; k <= index; k++)
		if (ascending[k][0] != '=')
			rank++;
	return rank;
}

static void
test_every_pair(void)
{
	size_t count = sizeof(ascending) / sizeof(ascending[0]), j, k;

	for (j = 0; j < count; j++)
		for (k = 0; k < count; k++) {
			size_t rj = rank_of(j), rk = rank_of(k);

			expect(j, k, rj < rk ? -1 : rj > rk);
		}
}

static void
test_documents(void)
{
	bson_t *a = parse("{\"_id\": 1, \"x\": \"a\"}"), *b = parse("{\"_id\": 1.0, \"x\": \"a\"}");
	bson_t *c = parse("{\"x\": \"a\", \"_id\": 1}");

	if (order_compare_documents(a, b) != 0) {
		fprintf(stderr, "test_order: 1 and 1.0 documents differ\n");
		failures++;
	}
	/* Field names count: {_id..} vs {x..} */
	if (order_compare_documents(a, c) >= 0) {
		fprintf(stderr, "test_order: field order ignored\n");
		failures++;
	}
	bson_destroy(a);
	bson_destroy(b);
	bson_destroy(c);
}

int
main(int argc, char *argv[])
{
	die_init(argc > 0 ? argv[0] : "test_order");
	test_every_pair();
	test_documents();
	if (failures > 0) {
		fprintf(stderr, "test_order: %d failures\n", failures);
		return 1;
	}
	return 0;
}
