/*
 * gen-values - write BSON documents full of values whose text is easy to
 * get wrong, for comparing oplog-show --format=bsondump with bsondump.
 *
 *   gen-values [SCALE] > values.bson
 *
 * Every double that is a power of two (where the shortest digits are
 * hardest to find), edge doubles, random bit patterns and random short
 * decimals; decimal128 edges and random bits; int32/int64 edges; strings
 * and keys with every control byte, invalid and edge UTF-8, U+2028 (not
 * NUL inside a string: libbson's validation, so every reader here, refuses
 * it);
 * regexes with unsorted options; every binary subtype; dates out of the
 * ISO range; code with scope; and documents nested around bsondump's 200
 * object limit. The random part is SCALE times 1000 values of each kind
 * (default 1) from a fixed seed: the same bytes on every machine.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

static uint64_t state = 0x6f706c6f676b6974ULL;	/* "oplogkit" */

/* splitmix64: fixed, portable, good enough to spread bits. */
static uint64_t
next_random(void)
{
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
emit(bson_t *doc)
{
	if (fwrite(bson_get_data(doc), 1, doc->len, stdout) != doc->len) {
		perror("gen-values: stdout");
		exit(1);
	}
	bson_destroy(doc);
}

static double
from_bits(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* One document {kind: name, v: [values...]} per batch of doubles. */
static void
emit_doubles(const char *name, const double *values, size_t count)
{
	size_t at = 0, k;

	while (at < count) {
		bson_t *doc = bson_new(), arr;
		char key[16];

		BSON_APPEND_UTF8(doc, "kind", name);
		BSON_APPEND_ARRAY_BEGIN(doc, "v", &arr);
		for (k = 0; k < 500 && at < count; k++, at++) {
			snprintf(key, sizeof(key), "%zu", k);
			BSON_APPEND_DOUBLE(&arr, key, values[at]);
		}
		bson_append_array_end(doc, &arr);
		emit(doc);
	}
}

static void
gen_doubles(int scale)
{
	static const double edges[] = {
		0.0, 1.0, -1.0, 17.0, 17.76, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 100000.0, 123456.0,
		999999.0, 1000000.0, 1234567.0, 1e21, 1e22, 1e23, 1e-4, 1e-5, 0.0001234, 0.00001234,
		1e-7, 1.5e-7, 1e100, 1e-100, 1.7976931348623157e308, 2.2250738585072014e-308,
		4.9406564584124654e-324, 9007199254740992.0, 9007199254740993.0, 1e15, 1e16, 1e17,
		123456789012345680.0, 5e-324, 0.5, 2.5, 1e300 * 10, 3.14159265358979,
	};
	size_t count = 2 * 2098 + sizeof(edges) / sizeof(edges[0]) * 2 + 8, n = 0, k;
	double *values = calloc(count, sizeof(*values));
	int e;

	if (values == NULL)
		exit(1);
	for (k = 0; k < sizeof(edges) / sizeof(edges[0]); k++) {
		values[n++] = edges[k];
		values[n++] = -edges[k];
	}
	values[n++] = -0.0;
	values[n++] = INFINITY;
	values[n++] = -INFINITY;
	values[n++] = NAN;
	values[n++] = from_bits(0x7ff0000000000001ULL);	/* a signalling NaN */
	values[n++] = from_bits(0xfff8000000000000ULL);	/* a negative NaN */
	values[n++] = from_bits(0x000fffffffffffffULL);	/* the largest subnormal */
	values[n++] = from_bits(0x0010000000000000ULL);	/* the least normal */
	for (e = -1074; e <= 1023; e++) {
		values[n++] = ldexp(1.0, e);
		values[n++] = nextafter(ldexp(1.0, e), 0.0);
	}
	emit_doubles("double edges", values, n);
	free(values);

	count = (size_t)scale * 1000;
	values = calloc(count, sizeof(*values));
	if (values == NULL)
		exit(1);
	for (k = 0; k < count; k++) {
		double d = from_bits(next_random());

		values[k] = isnan(d) ? 1.0 : d;
	}
	emit_doubles("double bits", values, count);
	for (k = 0; k < count; k++) {
		char text[64];
		/* One call per statement: C leaves the order within an expression open. */
		uint64_t digits = next_random() % 100000000;
		int scale10 = (int)(next_random() % 60) - 30;

		/* a few digits at a random scale: what applications store */
		snprintf(text, sizeof(text), "%" PRIu64 "e%d", digits, scale10);
		values[k] = strtod(text, NULL);
	}
	emit_doubles("double decimals", values, count);
	free(values);
}

static void
gen_decimals(int scale)
{
	static const char *edges[] = {
		"0", "-0", "0E+3", "0E-3", "1", "-1", "1.0", "1.2E+10", "12345678901234567890123456789012345",
		"1E+6144", "1E-6176", "9.999999999999999999999999999999999E+6144", "0.000001", "0.0000001",
		"1E-7", "123.456", "1.23456E+3", "NaN", "Infinity", "-Infinity", "1E+2", "100",
		"0.1", "-0.0001", "5E-8", "0.00000000000000000000012345",
	};
	bson_t *doc = bson_new(), arr;
	bson_decimal128_t dec;
	char key[16];
	size_t k, count = (size_t)scale * 1000;

	BSON_APPEND_UTF8(doc, "kind", "decimal edges");
	BSON_APPEND_ARRAY_BEGIN(doc, "v", &arr);
	for (k = 0; k < sizeof(edges) / sizeof(edges[0]); k++) {
		snprintf(key, sizeof(key), "%zu", k);
		bson_decimal128_from_string(edges[k], &dec);
		BSON_APPEND_DECIMAL128(&arr, key, &dec);
	}
	bson_append_array_end(doc, &arr);
	emit(doc);

	doc = bson_new();
	BSON_APPEND_UTF8(doc, "kind", "decimal bits");
	BSON_APPEND_ARRAY_BEGIN(doc, "v", &arr);
	for (k = 0; k < count; k++) {
		/*
		 * A sign, an exponent within 40 of 0 and a significand below 2^112
		 * (under 10^34: canonical). Values bsondump cannot read back, it
		 * does not print (it leaves out the whole document).
		 */
		uint64_t sign = next_random() & 0x8000000000000000ULL;
		uint64_t exponent = (uint64_t)(6176 + (int)(next_random() % 80) - 40);
		uint64_t high = next_random() & 0x0000ffffffffffffULL;
		uint64_t high_shift = next_random() % 49;
		uint64_t low = next_random();
		uint64_t low_shift = next_random() % 64;

		dec.high = sign | exponent << 49 | high >> high_shift;
		dec.low = low >> low_shift;
		snprintf(key, sizeof(key), "%zu", k);
		BSON_APPEND_DECIMAL128(&arr, key, &dec);
	}
	bson_append_array_end(doc, &arr);
	emit(doc);
}

static void
gen_integers(void)
{
	static const int64_t longs[] = {
		0, 1, -1, INT64_MAX, INT64_MIN, 9007199254740991LL, 9007199254740992LL,
		9007199254740993LL, -9007199254740993LL, 4294967296LL,
	};
	bson_t *doc = bson_new(), arr;
	char key[16];
	size_t k;

	BSON_APPEND_UTF8(doc, "kind", "integers");
	BSON_APPEND_INT32(doc, "max", INT32_MAX);
	BSON_APPEND_INT32(doc, "min", INT32_MIN);
	BSON_APPEND_ARRAY_BEGIN(doc, "v", &arr);
	for (k = 0; k < sizeof(longs) / sizeof(longs[0]); k++) {
		snprintf(key, sizeof(key), "%zu", k);
		BSON_APPEND_INT64(&arr, key, longs[k]);
	}
	bson_append_array_end(doc, &arr);
	emit(doc);
}

static void
gen_strings(void)
{
	static const char *const odd[] = {
		"\xc0\x80", "\xed\xa0\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xe2\x80\xa8",
		"\xe2\x80\xa9", "\xef\xbf\xbd", "\xe2\x82", "a\xe2\x82z", "\xf0\x9f\x98\x80", "\xc3\xa9",
		"<&>", "\\\"/", "\xe0\x80\xaf", "\xf8\x88\x80\x80\x80", "\x7f",
	};
	bson_t *doc = bson_new(), arr;
	char key[16], one[2];
	int b;
	size_t k;

	BSON_APPEND_UTF8(doc, "kind", "strings");
	BSON_APPEND_ARRAY_BEGIN(doc, "bytes", &arr);
	for (b = 1; b < 256; b++) {
		one[0] = (char)b;
		snprintf(key, sizeof(key), "%d", b - 1);
		bson_append_utf8(&arr, key, -1, one, 1);
	}
	bson_append_array_end(doc, &arr);
	BSON_APPEND_ARRAY_BEGIN(doc, "odd", &arr);
	for (k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
		snprintf(key, sizeof(key), "%zu", k);
		bson_append_utf8(&arr, key, -1, odd[k], -1);
	}
	bson_append_array_end(doc, &arr);
	/* As keys, those libbson's validation (every reader here) lets through. */
	for (k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
		bson_t probe = BSON_INITIALIZER;
		size_t offset;

		bson_append_int32(&probe, odd[k], -1, (int32_t)k);
		if (bson_validate(&probe, BSON_VALIDATE_NONE, &offset))
			bson_append_int32(doc, odd[k], -1, (int32_t)k);
		bson_destroy(&probe);
	}
	bson_append_int32(doc, "", 0, 0);
	bson_append_int32(doc, "tab\there", -1, 1);
	emit(doc);
}

static void
gen_others(void)
{
	static const uint8_t bytes[] = { 0, 1, 2, 0xfb, 0xff };
	static const uint8_t uuid[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x80, 1, 2, 3, 4, 5, 6, 7 };
	static const int64_t dates[] = {
		0, -1, 253402300799999LL, 253402300800000LL, -62135596800000LL, INT64_MAX, INT64_MIN,
	};
	bson_t *doc = bson_new(), arr, scope;
	bson_oid_t oid;
	char key[16];
	size_t k, n = 0;
	int subtype;

	BSON_APPEND_UTF8(doc, "kind", "others");
	BSON_APPEND_ARRAY_BEGIN(doc, "binary", &arr);
	for (subtype = 0; subtype <= 9; subtype++)
		for (k = 0; k <= sizeof(bytes); k += 2) {
			snprintf(key, sizeof(key), "%zu", n++);
			/* a UUID is 16 bytes, or the reader bsondump checks with refuses it */
			if (subtype == BSON_SUBTYPE_UUID)
				bson_append_binary(&arr, key, -1, BSON_SUBTYPE_UUID, uuid, sizeof(uuid));
			else
				bson_append_binary(&arr, key, -1, (bson_subtype_t)subtype, bytes, (uint32_t)k);
		}
	snprintf(key, sizeof(key), "%zu", n++);
	bson_append_binary(&arr, key, -1, (bson_subtype_t)0x80, bytes, 3);
	bson_append_array_end(doc, &arr);
	BSON_APPEND_ARRAY_BEGIN(doc, "dates", &arr);
	for (k = 0; k < sizeof(dates) / sizeof(dates[0]); k++) {
		snprintf(key, sizeof(key), "%zu", k);
		BSON_APPEND_DATE_TIME(&arr, key, dates[k]);
	}
	bson_append_array_end(doc, &arr);
	BSON_APPEND_REGEX(doc, "regex", "^a.*\"b\\", "xsmi");
	BSON_APPEND_REGEX(doc, "regex unicode", "x", "z\xc3\xa9" "a");
	BSON_APPEND_TIMESTAMP(doc, "ts max", UINT32_MAX, UINT32_MAX);
	BSON_APPEND_TIMESTAMP(doc, "ts zero", 0, 0);
	BSON_APPEND_CODE(doc, "code", "function () { return \"\n\"; }");
	BSON_APPEND_SYMBOL(doc, "symbol", "sym\tbol");
	bson_init(&scope);
	BSON_APPEND_INT32(&scope, "x", 1);
	BSON_APPEND_DOUBLE(&scope, "y", 0.1);
	BSON_APPEND_CODE_WITH_SCOPE(doc, "code with scope", "x + y", &scope);
	bson_reinit(&scope);
	BSON_APPEND_CODE_WITH_SCOPE(doc, "code with empty scope", "1", &scope);
	bson_destroy(&scope);
	bson_oid_init_from_string(&oid, "507f1f77bcf86cd799439011");
	BSON_APPEND_DBPOINTER(doc, "dbpointer", "db.coll", &oid);
	BSON_APPEND_OID(doc, "oid", &oid);
	BSON_APPEND_MINKEY(doc, "min");
	BSON_APPEND_MAXKEY(doc, "max");
	BSON_APPEND_UNDEFINED(doc, "undefined");
	BSON_APPEND_NULL(doc, "null");
	BSON_APPEND_BOOL(doc, "true", true);
	BSON_APPEND_BOOL(doc, "false", false);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "empty doc", &arr);
	bson_append_document_end(doc, &arr);
	BSON_APPEND_ARRAY_BEGIN(doc, "empty array", &arr);
	bson_append_array_end(doc, &arr);
	emit(doc);
}

/* {_id: depth, a: {a: ... {leaf} ...}}: depth objects around a leaf value. */
static void
gen_nested(int depth, const char *leaf)
{
	bson_t *inner = bson_new();

	if (strcmp(leaf, "int32") == 0)
		BSON_APPEND_INT32(inner, "leaf", 1);
	else if (strcmp(leaf, "date") == 0)
		BSON_APPEND_DATE_TIME(inner, "leaf", 1);
	else if (strcmp(leaf, "array") == 0) {
		bson_t arr;

		BSON_APPEND_ARRAY_BEGIN(inner, "leaf", &arr);
		BSON_APPEND_BOOL(&arr, "0", true);
		bson_append_array_end(inner, &arr);
	} else {
		BSON_APPEND_NULL(inner, "leaf");
	}
	while (--depth > 1) {
		bson_t *outer = bson_new();

		BSON_APPEND_DOCUMENT(outer, "a", inner);
		bson_destroy(inner);
		inner = outer;
	}
	{
		bson_t *doc = bson_new();

		BSON_APPEND_UTF8(doc, "kind", leaf);
		BSON_APPEND_DOCUMENT(doc, "a", inner);
		bson_destroy(inner);
		emit(doc);
	}
}

int
main(int argc, char **argv)
{
	int scale = argc > 1 ? atoi(argv[1]) : 1;
	int depth;

	if (scale < 1) {
		fprintf(stderr, "usage: gen-values [SCALE]\n");
		return 2;
	}
	gen_doubles(scale);
	gen_decimals(scale);
	gen_integers();
	gen_strings();
	gen_others();
	for (depth = 197; depth <= 202; depth++) {
		gen_nested(depth, "null");
		gen_nested(depth, "int32");
		gen_nested(depth, "date");
		gen_nested(depth, "array");
	}
	return 0;
}
