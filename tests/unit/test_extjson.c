/*
 * test_extjson.c - bsondump's text and exact int64 in relaxed JSON.
 *
 * Expected texts follow the rules bsondump follows (mongo-tools calls the
 * Go driver's MarshalExtJSON: strconv.FormatFloat(d, 'G', -1, 64) with
 * ".0" for a whole number, Go's string escapes, json.Indent with a tab),
 * written down by hand; tests/oplog-show.bats compares whole files with
 * bsondump's own output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "extjson.h"

static int failures;
static int checks;

static void
expect_text(const char *name, const char *got, const char *expected)
{
	checks++;
	if (got == NULL || strcmp(got, expected) != 0) {
		fprintf(stderr, "FAIL %s:\n    got      %s\n    expected %s\n", name,
		    got != NULL ? got : "(null)", expected);
		failures++;
	}
}

static void
double_is(double d, const char *expected)
{
	char buf[64], name[96];

	extjson_double(d, buf, sizeof(buf));
	snprintf(name, sizeof(name), "double %.17g", d);
	expect_text(name, buf, expected);
}

/* Go's 'G' with the shortest digits: %E below 1e-4 and from 1e6 on (at least two exponent digits). */
static void
test_doubles(void)
{
	double_is(17.76, "17.76");
	double_is(17.0, "17.0");
	double_is(-17.0, "-17.0");
	double_is(0.1, "0.1");
	double_is(0.1 + 0.2, "0.30000000000000004");
	double_is(1.0 / 3, "0.3333333333333333");
	double_is(0.0, "0.0");
	double_is(-0.0, "-0.0");
	double_is(100000.0, "100000.0");
	double_is(123456.0, "123456.0");
	double_is(999999.0, "999999.0");
	double_is(123456.7, "123456.7");
	double_is(1000000.0, "1E+06");
	double_is(1234567.0, "1.234567E+06");
	double_is(1e21, "1E+21");
	double_is(1e100, "1E+100");
	double_is(1e-4, "0.0001");
	double_is(0.0001234, "0.0001234");
	double_is(1e-5, "1E-05");
	double_is(1.5e-7, "1.5E-07");
	double_is(9007199254740993.0, "9.007199254740992E+15");
	double_is(1.7976931348623157e308, "1.7976931348623157E+308");
	double_is(5e-324, "5E-324");
	double_is(2.2250738585072014e-308, "2.2250738585072014E-308");
	double_is(INFINITY, "Infinity");
	double_is(-INFINITY, "-Infinity");
	double_is(NAN, "NaN");
	/* Powers of two whose nearest 16-digit decimal lies outside their (narrow, lower) interval. */
	double_is(ldexp(1.0, -1017), "7.120236347223045E-307");
	double_is(ldexp(1.0, 89), "6.189700196426902E+26");
	double_is(ldexp(1.0, 132), "5.444517870735016E+39");
}

static void
bsondump_is(const char *name, const bson_t *doc, const char *expected)
{
	bool left_out = true;
	char *json = extjson_bsondump(doc, NULL, &left_out);

	expect_text(name, json, expected);
	checks++;
	if (left_out) {
		fprintf(stderr, "FAIL %s: said to be left out\n", name);
		failures++;
	}
	bson_free(json);
}

static void
test_values(void)
{
	bson_t *doc = bson_new(), sub, scope;
	bson_oid_t oid;
	bson_decimal128_t dec;
	static const uint8_t bytes[] = { 0xff, 0xff, 0x01 };

	BSON_APPEND_DOUBLE(doc, "d", 17.76);
	BSON_APPEND_INT32(doc, "i", -5);
	BSON_APPEND_INT64(doc, "l", 6);
	bson_decimal128_from_string("1.2E+10", &dec);
	BSON_APPEND_DECIMAL128(doc, "dec", &dec);
	BSON_APPEND_DATE_TIME(doc, "date", -1);
	BSON_APPEND_TIMESTAMP(doc, "ts", 1, 2);
	BSON_APPEND_BINARY(doc, "bin", BSON_SUBTYPE_COLUMN, bytes, 3);
	BSON_APPEND_REGEX(doc, "re", "^a", "xmi");
	bson_oid_init_from_string(&oid, "507f1f77bcf86cd799439011");
	BSON_APPEND_OID(doc, "oid", &oid);
	BSON_APPEND_DBPOINTER(doc, "ptr", "db.c", &oid);
	BSON_APPEND_CODE(doc, "code", "f()");
	bson_init(&scope);
	BSON_APPEND_INT32(&scope, "x", 1);
	BSON_APPEND_CODE_WITH_SCOPE(doc, "cws", "x", &scope);
	bson_destroy(&scope);
	BSON_APPEND_SYMBOL(doc, "sym", "s");
	BSON_APPEND_UNDEFINED(doc, "u");
	BSON_APPEND_NULL(doc, "n");
	BSON_APPEND_BOOL(doc, "t", true);
	BSON_APPEND_MINKEY(doc, "min");
	BSON_APPEND_MAXKEY(doc, "max");
	BSON_APPEND_DOCUMENT_BEGIN(doc, "empty", &sub);
	bson_append_document_end(doc, &sub);
	BSON_APPEND_ARRAY_BEGIN(doc, "arr", &sub);
	BSON_APPEND_INT32(&sub, "0", 1);
	BSON_APPEND_ARRAY_BEGIN(&sub, "1", &scope);
	bson_append_array_end(&sub, &scope);
	bson_append_array_end(doc, &sub);
	bsondump_is("every type", doc,
	    "{\"d\":{\"$numberDouble\":\"17.76\"},\"i\":{\"$numberInt\":\"-5\"},"
	    "\"l\":{\"$numberLong\":\"6\"},\"dec\":{\"$numberDecimal\":\"1.2E+10\"},"
	    "\"date\":{\"$date\":{\"$numberLong\":\"-1\"}},\"ts\":{\"$timestamp\":{\"t\":1,\"i\":2}},"
	    "\"bin\":{\"$binary\":{\"base64\":\"//8B\",\"subType\":\"07\"}},"
	    "\"re\":{\"$regularExpression\":{\"pattern\":\"^a\",\"options\":\"imx\"}},"
	    "\"oid\":{\"$oid\":\"507f1f77bcf86cd799439011\"},"
	    "\"ptr\":{\"$dbPointer\":{\"$ref\":\"db.c\",\"$id\":{\"$oid\":\"507f1f77bcf86cd799439011\"}}},"
	    "\"code\":{\"$code\":\"f()\"},\"cws\":{\"$code\":\"x\",\"$scope\":{\"x\":{\"$numberInt\":\"1\"}}},"
	    "\"sym\":{\"$symbol\":\"s\"},\"u\":{\"$undefined\":true},\"n\":null,\"t\":true,"
	    "\"min\":{\"$minKey\":1},\"max\":{\"$maxKey\":1},\"empty\":{},"
	    "\"arr\":[{\"$numberInt\":\"1\"},[]]}");
	bson_destroy(doc);
}

static void
test_strings(void)
{
	bson_t *doc = bson_new();

	bson_append_utf8(doc, "k\"\\", -1, "\x01\x1f\n\r\t\b\f<&>\x7f", -1);
	bson_append_utf8(doc, "u", -1, "\xe2\x80\xa8\xe2\x80\xa9\xc3\xa9\xef\xbf\xbd", -1);
	/* Each byte that is not UTF-8 is one U+FFFD: overlong, surrogate, cut short, stray. */
	bson_append_utf8(doc, "bad", -1, "\xc0\x80|\xed\xa0\x80|\xe2\x82|\x80|\xf4\x90\x80\x80", -1);
	bsondump_is("string escapes", doc,
	    "{\"k\\\"\\\\\":\"\\u0001\\u001f\\n\\r\\t\\b\\f<&>\x7f\","
	    "\"u\":\"\\u2028\\u2029\xc3\xa9\xef\xbf\xbd\","
	    "\"bad\":\"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd|"
	    "\\ufffd\\ufffd\\ufffd\\ufffd\"}");
	bson_destroy(doc);
}

static void
test_indent(void)
{
	char *out;

	const char *json = "{\"a\":{\"b\":[1,{}],\"c\":[]},\"s\":\"{,:[\\\"\"}";

	out = extjson_indent(json, strlen(json), NULL);
	expect_text("indent", out,
	    "{\n\t\"a\": {\n\t\t\"b\": [\n\t\t\t1,\n\t\t\t{}\n\t\t],\n\t\t\"c\": []\n\t},\n"
	    "\t\"s\": \"{,:[\\\"\"\n}");
	bson_free(out);
	out = extjson_indent("{}", 2, NULL);
	expect_text("indent of {}", out, "{}");
	bson_free(out);
	checks++;
	json = "{\"a\":[{\"b\":{\"$numberInt\":\"1\"}}],\"s\":\"{{{{\"}";
	if (extjson_depth(json, strlen(json)) != 3) {
		fprintf(stderr, "FAIL depth: arrays and strings do not count, wrappers do\n");
		failures++;
	}
}

/*
 * bsondump writes a DBPointer's namespace unescaped, then reads its line
 * back: what breaks that JSON string, it leaves out; the rest it prints.
 */
static void
pointer_left_out(const char *ns, size_t len, bool expected)
{
	static const uint8_t oid[12] = { 0x50, 0x7f, 0x1f, 0x77, 0xbc, 0xf8, 0x6c, 0xd7, 0x99, 0x43, 0x90, 0x11 };
	uint8_t raw[128];
	uint32_t total, string_len = (uint32_t)len + 1;
	size_t at = 4;
	bool left_out = !expected;
	bson_t *doc;
	char *json;

	/* {p: DBPointer(ns, oid)} by hand: libbson's append would stop at a NUL. */
	raw[at++] = BSON_TYPE_DBPOINTER;
	raw[at++] = 'p';
	raw[at++] = 0;
	memcpy(raw + at, &string_len, 4);
	at += 4;
	memcpy(raw + at, ns, len);
	at += len;
	raw[at++] = 0;
	memcpy(raw + at, oid, sizeof(oid));
	at += sizeof(oid);
	raw[at++] = 0;
	total = (uint32_t)at;
	memcpy(raw, &total, 4);
	doc = bson_new_from_data(raw, at);
	json = doc != NULL ? extjson_bsondump(doc, NULL, &left_out) : NULL;
	checks++;
	if (json == NULL || left_out != expected) {
		fprintf(stderr, "FAIL namespace %.*s: left out %d, expected %d\n", (int)len, ns,
		    (int)left_out, (int)expected);
		failures++;
	}
	bson_free(json);
	if (doc != NULL)
		bson_destroy(doc);
}

static void
test_pointers(void)
{
	pointer_left_out("db.c", 4, false);
	pointer_left_out("a\nb", 3, false);	/* a raw control byte: Go's scanner takes it */
	pointer_left_out("a\0b", 3, false);
	pointer_left_out("a\\nb", 4, false);	/* a known escape */
	pointer_left_out("a\\\"b", 4, false);
	pointer_left_out("a\"b", 3, true);
	pointer_left_out("a\\qb", 4, true);
	pointer_left_out("ab\\", 3, true);
	pointer_left_out("a\\u12", 5, true);
}

static void
test_relaxed(void)
{
	bson_t *doc = bson_new(), arr;
	char *json;

	BSON_APPEND_INT64(doc, "big", 9007199254740993LL);
	BSON_APPEND_INT64(doc, "safe", 9007199254740991LL);
	BSON_APPEND_INT64(doc, "low", -9007199254740992LL);
	BSON_APPEND_ARRAY_BEGIN(doc, "arr", &arr);
	BSON_APPEND_INT64(&arr, "0", INT64_MIN);
	bson_append_array_end(doc, &arr);
	json = extjson_relaxed(doc, NULL);
	expect_text("relaxed int64", json,
	    "{ \"big\" : { \"$numberLong\" : \"9007199254740993\" }, \"safe\" : 9007199254740991, "
	    "\"low\" : { \"$numberLong\" : \"-9007199254740992\" }, "
	    "\"arr\" : [ { \"$numberLong\" : \"-9223372036854775808\" } ] }");
	bson_free(json);
	bson_destroy(doc);
}

int
main(int argc, char **argv)
{
	die_init(argv[0]);
	test_doubles();
	test_values();
	test_strings();
	test_indent();
	test_pointers();
	test_relaxed();
	if (failures > 0) {
		fprintf(stderr, "test_extjson: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("test_extjson: %d checks passed\n", checks);
	return 0;
}
