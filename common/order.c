/*
 * order.c - MongoDB's BSON comparison order (BSONElement::woCompare).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"

/* mongod's canonicalizeBSONType: the rank of each type in sort order. */
static int
type_rank(bson_type_t type)
{
	switch (type) {
	case BSON_TYPE_MINKEY: return -1;
	case BSON_TYPE_EOD: case BSON_TYPE_UNDEFINED: return 0;
	case BSON_TYPE_NULL: return 5;
	case BSON_TYPE_DOUBLE: case BSON_TYPE_INT32: case BSON_TYPE_INT64:
	case BSON_TYPE_DECIMAL128: return 10;
	case BSON_TYPE_UTF8: case BSON_TYPE_SYMBOL: return 15;
	case BSON_TYPE_DOCUMENT: return 20;
	case BSON_TYPE_ARRAY: return 25;
	case BSON_TYPE_BINARY: return 30;
	case BSON_TYPE_OID: return 35;
	case BSON_TYPE_BOOL: return 40;
	case BSON_TYPE_DATE_TIME: return 45;
	case BSON_TYPE_TIMESTAMP: return 47;
	case BSON_TYPE_REGEX: return 50;
	case BSON_TYPE_DBPOINTER: return 55;
	case BSON_TYPE_CODE: return 60;
	case BSON_TYPE_CODEWSCOPE: return 65;
	case BSON_TYPE_MAXKEY: return 127;
	}
	return 126;	/* unknown types: just before MaxKey */
}

static int
sign_of(long double difference)
{
	return difference < 0 ? -1 : difference > 0;
}

/* An int64 against a double, exactly (mongod's compareLongToDouble). */
static int
compare_long_double(int64_t l, double d)
{
	int64_t whole;
	double fraction;

	if (isnan(d))
		return 1;	/* NaN sorts before every other number */
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	whole = (int64_t)d;	/* truncates; exact in this range */
	if (l != whole)
		return l < whole ? -1 : 1;
	fraction = d - (double)whole;
	return fraction > 0 ? -1 : fraction < 0;
}

static long double
decimal_value(const bson_iter_t *iter)
{
	char text[BSON_DECIMAL128_STRING];
	bson_decimal128_t value;

	bson_iter_decimal128(iter, &value);
	bson_decimal128_to_string(&value, text);
	if (strcmp(text, "NaN") == 0)
		return NAN;
	return strtold(text, NULL);	/* "Infinity" and "-Infinity" parse too */
}

static int
compare_numbers(const bson_iter_t *a, const bson_iter_t *b)
{
	bson_type_t ta = bson_iter_type(a), tb = bson_iter_type(b);
	long double x, y;

	if (ta != BSON_TYPE_DOUBLE && ta != BSON_TYPE_DECIMAL128 &&
	    tb != BSON_TYPE_DOUBLE && tb != BSON_TYPE_DECIMAL128) {
		int64_t l = bson_iter_as_int64(a), m = bson_iter_as_int64(b);

		return l < m ? -1 : l > m;
	}
	if (ta == BSON_TYPE_DOUBLE && tb != BSON_TYPE_DOUBLE && tb != BSON_TYPE_DECIMAL128)
		return -compare_long_double(bson_iter_as_int64(b), bson_iter_double(a));
	if (tb == BSON_TYPE_DOUBLE && ta != BSON_TYPE_DOUBLE && ta != BSON_TYPE_DECIMAL128)
		return compare_long_double(bson_iter_as_int64(a), bson_iter_double(b));
	x = ta == BSON_TYPE_DECIMAL128 ? decimal_value(a)
	    : ta == BSON_TYPE_DOUBLE ? (long double)bson_iter_double(a) : (long double)bson_iter_as_int64(a);
	y = tb == BSON_TYPE_DECIMAL128 ? decimal_value(b)
	    : tb == BSON_TYPE_DOUBLE ? (long double)bson_iter_double(b) : (long double)bson_iter_as_int64(b);
	if (isnan(x) || isnan(y))
		return isnan(x) && isnan(y) ? 0 : isnan(x) ? -1 : 1;
	return sign_of(x - y);
}

/* Byte-wise, then the shorter first: mongod's simple string comparison. */
static int
compare_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c < 0 ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

static int
compare_strings(const bson_iter_t *a, const bson_iter_t *b)
{
	uint32_t alen = 0, blen = 0;
	const char *x, *y;

	x = bson_iter_type(a) == BSON_TYPE_SYMBOL ? bson_iter_symbol(a, &alen) : bson_iter_utf8(a, &alen);
	y = bson_iter_type(b) == BSON_TYPE_SYMBOL ? bson_iter_symbol(b, &blen) : bson_iter_utf8(b, &blen);
	return compare_bytes(x, alen, y, blen);
}

static int
compare_raw_documents(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	bson_iter_t x, y;
	bool more_x, more_y;
	int c;

	if (!bson_iter_init_from_data(&x, a, alen) || !bson_iter_init_from_data(&y, b, blen))
		return compare_bytes(a, alen, b, blen);
	for (;;) {
		more_x = bson_iter_next(&x);
		more_y = bson_iter_next(&y);
		if (!more_x || !more_y)
			return more_x - more_y;
		c = type_rank(bson_iter_type(&x)) - type_rank(bson_iter_type(&y));
		if (c != 0)
			return c < 0 ? -1 : 1;
		c = strcmp(bson_iter_key(&x), bson_iter_key(&y));
		if (c != 0)
			return c < 0 ? -1 : 1;
		c = order_compare_values(&x, &y);
		if (c != 0)
			return c;
	}
}

static int
compare_containers(const bson_iter_t *a, const bson_iter_t *b)
{
	const uint8_t *x, *y;
	uint32_t alen, blen;

	if (BSON_ITER_HOLDS_ARRAY(a)) {
		bson_iter_array(a, &alen, &x);
		bson_iter_array(b, &blen, &y);
	} else {
		bson_iter_document(a, &alen, &x);
		bson_iter_document(b, &blen, &y);
	}
	return compare_raw_documents(x, alen, y, blen);
}

static int
compare_binary(const bson_iter_t *a, const bson_iter_t *b)
{
	bson_subtype_t sa, sb;
	const uint8_t *x, *y;
	uint32_t alen, blen;

	bson_iter_binary(a, &sa, &alen, &x);
	bson_iter_binary(b, &sb, &blen, &y);
	/* mongod: length first, then subtype, then bytes. */
	if (alen != blen)
		return alen < blen ? -1 : 1;
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return compare_bytes(x, alen, y, blen);
}

static int
compare_regex(const bson_iter_t *a, const bson_iter_t *b)
{
	const char *flags_a, *flags_b;
	const char *x = bson_iter_regex(a, &flags_a), *y = bson_iter_regex(b, &flags_b);
	int c = strcmp(x, y);

	if (c == 0)
		c = strcmp(flags_a, flags_b);
	return c < 0 ? -1 : c > 0;
}

static int
compare_code(const bson_iter_t *a, const bson_iter_t *b)
{
	const uint8_t *sx, *sy;
	uint32_t alen, blen, slen_a, slen_b;
	const char *x, *y;
	int c;

	if (bson_iter_type(a) == BSON_TYPE_CODE) {
		x = bson_iter_code(a, &alen);
		y = bson_iter_code(b, &blen);
		return compare_bytes(x, alen, y, blen);
	}
	x = bson_iter_codewscope(a, &alen, &slen_a, &sx);
	y = bson_iter_codewscope(b, &blen, &slen_b, &sy);
	c = compare_bytes(x, alen, y, blen);
	return c != 0 ? c : compare_raw_documents(sx, slen_a, sy, slen_b);
}

static int
compare_dbpointer(const bson_iter_t *a, const bson_iter_t *b)
{
	const bson_oid_t *oid_a, *oid_b;
	const char *x, *y;
	uint32_t alen, blen;
	int c;

	bson_iter_dbpointer(a, &alen, &x, &oid_a);
	bson_iter_dbpointer(b, &blen, &y, &oid_b);
	c = compare_bytes(x, alen, y, blen);
	return c != 0 ? c : compare_bytes(oid_a, 12, oid_b, 12);
}

static int
compare_same_rank(const bson_iter_t *a, const bson_iter_t *b)
{
	uint32_t ta, ia, tb, ib;
	int64_t da, db;

	switch (bson_iter_type(a)) {
	case BSON_TYPE_DOUBLE: case BSON_TYPE_INT32: case BSON_TYPE_INT64: case BSON_TYPE_DECIMAL128:
		return compare_numbers(a, b);
	case BSON_TYPE_UTF8: case BSON_TYPE_SYMBOL:
		return compare_strings(a, b);
	case BSON_TYPE_DOCUMENT: case BSON_TYPE_ARRAY:
		return compare_containers(a, b);
	case BSON_TYPE_BINARY:
		return compare_binary(a, b);
	case BSON_TYPE_OID:
		return compare_bytes(bson_iter_oid(a), 12, bson_iter_oid(b), 12);
	case BSON_TYPE_BOOL:
		return (int)bson_iter_bool(a) - (int)bson_iter_bool(b);
	case BSON_TYPE_DATE_TIME:
		da = bson_iter_date_time(a);
		db = bson_iter_date_time(b);
		return da < db ? -1 : da > db;
	case BSON_TYPE_TIMESTAMP:
		bson_iter_timestamp(a, &ta, &ia);
		bson_iter_timestamp(b, &tb, &ib);
		if (ta != tb)
			return ta < tb ? -1 : 1;
		return ia < ib ? -1 : ia > ib;
	case BSON_TYPE_REGEX:
		return compare_regex(a, b);
	case BSON_TYPE_CODE: case BSON_TYPE_CODEWSCOPE:
		return compare_code(a, b);
	case BSON_TYPE_DBPOINTER:
		return compare_dbpointer(a, b);
	default:
		return 0;	/* null, undefined, MinKey, MaxKey: one value each */
	}
}

int
order_compare_values(const bson_iter_t *a, const bson_iter_t *b)
{
	int ra = type_rank(bson_iter_type(a)), rb = type_rank(bson_iter_type(b));

	if (ra != rb)
		return ra < rb ? -1 : 1;
	/* Equal ranks: one type, or numbers, or strings and symbols, or undefined. */
	if (ra == 0)
		return 0;
	return compare_same_rank(a, b);
}

int
order_compare_documents(const bson_t *a, const bson_t *b)
{
	return compare_raw_documents(bson_get_data(a), a->len, bson_get_data(b), b->len);
}
