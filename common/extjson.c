/*
 * extjson.c - bsondump's Extended JSON, and relaxed JSON with exact int64.
 *
 * The bsondump text is written from what mongo-tools' bsondump does (it
 * calls the Go driver's MarshalExtJSON, canonical, without HTML escapes):
 * no spaces; {"$numberDouble": G-formatted shortest digits, ".0" added to
 * a whole number}; strings with \" \\ \n \r \t \b \f, other control bytes
 * as \u00XX, U+2028 and U+2029 escaped, each byte of invalid UTF-8 as
 * \ufffd; regex options sorted; a DBPointer's namespace as it is; an
 * array's own keys ignored. Nothing here comes from libbson's writer,
 * whose doubles carry 17 digits and whose spacing differs.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "extjson.h"

/* Beyond this, an int64 read as a double (jq, JavaScript) may round. */
#define SAFE_INTEGER	9007199254740991LL	/* 2^53 - 1 */

struct out {
	char *data;
	size_t len, cap;
	bool unreadable;	/* bsondump could not read this text back */
};

static void
out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->data = bson_realloc(o->data, o->cap);	/* aborts when memory is gone */
	}
	memcpy(o->data + o->len, s, n);
	o->len += n;
	o->data[o->len] = '\0';
}

static void
out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void
out_char(struct out *o, char c)
{
	out_put(o, &c, 1);
}

/* Replace the trailing ',' of the last element, as Go's writer closes a container. */
static void
out_close(struct out *o, char close)
{
	if (o->len > 0 && o->data[o->len - 1] == ',')
		o->data[o->len - 1] = close;
	else
		out_char(o, close);
}

/*
 * The code point at s (n bytes left) and its length, or -1 with length 1
 * for bytes that are not UTF-8 (overlong, surrogate, past U+10FFFF, cut
 * short): Go's utf8.DecodeRuneInString, which bsondump's escaper uses.
 */
static int32_t
decode_rune(const uint8_t *s, size_t n, size_t *size)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xBF;
	size_t need, k;
	int32_t rune;

	*size = 1;
	if (b < 0x80)
		return b;
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
		rune = b & 0x1F;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		rune = b & 0x0F;
		lo = b == 0xE0 ? 0xA0 : 0x80;
		hi = b == 0xED ? 0x9F : 0xBF;
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		rune = b & 0x07;
		lo = b == 0xF0 ? 0x90 : 0x80;
		hi = b == 0xF4 ? 0x8F : 0xBF;
	} else {
		return -1;
	}
	if (n < need + 1)
		return -1;
	for (k = 1; k <= need; k++) {
		uint8_t c = s[k];

		if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF))
			return -1;
		rune = rune << 6 | (c & 0x3F);
	}
	*size = need + 1;
	return rune;
}

/* A JSON string as Go's writeStringWithEscapes writes it (no HTML escapes). */
static void
out_string(struct out *o, const char *text, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = (const uint8_t *)text;
	size_t i = 0, start = 0, size;
	int32_t rune;
	char esc[8];

	out_char(o, '"');
	while (i < n) {
		uint8_t b = s[i];

		if (b < 0x80) {
			if (b >= 0x20 && b != '"' && b != '\\') {
				i++;
				continue;
			}
			out_put(o, text + start, i - start);
			switch (b) {
			case '"': out_str(o, "\\\""); break;
			case '\\': out_str(o, "\\\\"); break;
			case '\n': out_str(o, "\\n"); break;
			case '\r': out_str(o, "\\r"); break;
			case '\t': out_str(o, "\\t"); break;
			case '\b': out_str(o, "\\b"); break;
			case '\f': out_str(o, "\\f"); break;
			default:
				snprintf(esc, sizeof(esc), "\\u00%c%c", hex[b >> 4], hex[b & 0xF]);
				out_str(o, esc);
			}
			start = ++i;
			continue;
		}
		rune = decode_rune(s + i, n - i, &size);
		if (rune < 0 || rune == 0x2028 || rune == 0x2029) {
			out_put(o, text + start, i - start);
			out_str(o, rune < 0 ? "\\ufffd" : rune == 0x2028 ? "\\u2028" : "\\u2029");
			start = i + size;
		}
		i += size;
	}
	out_put(o, text + start, n - start);
	out_char(o, '"');
}

/* Write value under a key, then a ','; the closers take the last one back. */
static void out_document(struct out *, bson_iter_t *, bool *);
static void out_array(struct out *, bson_iter_t *, bool *);

/* Regex options sorted by code point, as Go sorts []rune(options). */
static void
out_regex_options(struct out *o, const char *options)
{
	size_t n = strlen(options), count = 0, i, j, size;
	int32_t *runes = xcalloc(n + 1, sizeof(*runes)), swap;
	char utf8[4];
	struct out sorted = { NULL, 0, 0, false };

	for (i = 0; i < n; i += size) {
		int32_t rune = decode_rune((const uint8_t *)options + i, n - i, &size);

		runes[count++] = rune < 0 ? 0xFFFD : rune;
	}
	for (i = 1; i < count; i++)
		for (j = i; j > 0 && runes[j - 1] > runes[j]; j--) {
			swap = runes[j];
			runes[j] = runes[j - 1];
			runes[j - 1] = swap;
		}
	out_put(&sorted, "", 0);
	for (i = 0; i < count; i++) {
		uint32_t r = (uint32_t)runes[i];

		if (r < 0x80) {
			utf8[0] = (char)r;
			out_put(&sorted, utf8, 1);
		} else if (r < 0x800) {
			utf8[0] = (char)(0xC0 | r >> 6);
			utf8[1] = (char)(0x80 | (r & 0x3F));
			out_put(&sorted, utf8, 2);
		} else if (r < 0x10000) {
			utf8[0] = (char)(0xE0 | r >> 12);
			utf8[1] = (char)(0x80 | (r >> 6 & 0x3F));
			utf8[2] = (char)(0x80 | (r & 0x3F));
			out_put(&sorted, utf8, 3);
		} else {
			utf8[0] = (char)(0xF0 | r >> 18);
			utf8[1] = (char)(0x80 | (r >> 12 & 0x3F));
			utf8[2] = (char)(0x80 | (r >> 6 & 0x3F));
			utf8[3] = (char)(0x80 | (r & 0x3F));
			out_put(&sorted, utf8, 4);
		}
	}
	out_string(o, sorted.data, sorted.len);
	bson_free(sorted.data);
	free(runes);
}

/*
 * Whether text, written between quotes without escapes, reads back as a
 * JSON string in Go's scanner: no bare quote, and each backslash starts
 * an escape it knows (\" \\ \/ \b \f \n \r \t \uXXXX) inside text. Control
 * bytes pass: that scanner takes them as they are.
 */
static bool
reads_back_raw(const char *text, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++) {
		if (text[i] == '"')
			return false;
		if (text[i] != '\\')
			continue;
		if (++i >= len || strchr("\"\\/bfnrtu", text[i]) == NULL || text[i] == '\0')
			return false;
		if (text[i] == 'u' && (i += 4) >= len)
			return false;
	}
	return true;
}

/* Standard base64 with padding, as Go's base64.StdEncoding. */
static void
out_base64(struct out *o, const uint8_t *data, uint32_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char quad[4];
	uint32_t i, v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		quad[0] = alphabet[v >> 18];
		quad[1] = alphabet[v >> 12 & 63];
		quad[2] = alphabet[v >> 6 & 63];
		quad[3] = alphabet[v & 63];
		out_put(o, quad, 4);
	}
	if (i < len) {
		v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		quad[0] = alphabet[v >> 18];
		quad[1] = alphabet[v >> 12 & 63];
		quad[2] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		quad[3] = '=';
		out_put(o, quad, 4);
	}
}

/* {"$name":"text"} with text written as it is. */
static void
out_wrapped(struct out *o, const char *name, const char *text)
{
	out_str(o, "{\"$");
	out_str(o, name);
	out_str(o, "\":\"");
	out_str(o, text);
	out_str(o, "\"}");
}

static void
out_value(struct out *o, bson_iter_t *iter, bool *ok)
{
	char buf[64];	/* past BSON_DECIMAL128_STRING and every number */
	const char *text, *options;
	const uint8_t *data;
	uint32_t len, scope_len, t, i;
	bson_subtype_t subtype;
	const bson_oid_t *oid;
	bson_decimal128_t dec;
	bson_iter_t child;
	bson_t scope;

	switch (bson_iter_type(iter)) {
	case BSON_TYPE_DOUBLE:
		extjson_double(bson_iter_double(iter), buf, sizeof(buf));
		out_wrapped(o, "numberDouble", buf);
		break;
	case BSON_TYPE_UTF8:
		text = bson_iter_utf8(iter, &len);
		out_string(o, text, len);
		break;
	case BSON_TYPE_DOCUMENT:
		if (!bson_iter_recurse(iter, &child)) {
			*ok = false;
			return;
		}
		out_document(o, &child, ok);
		break;
	case BSON_TYPE_ARRAY:
		if (!bson_iter_recurse(iter, &child)) {
			*ok = false;
			return;
		}
		out_array(o, &child, ok);
		break;
	case BSON_TYPE_BINARY:
		bson_iter_binary(iter, &subtype, &len, &data);
		/*
		 * Old binary (2) repeats its length inside; libbson strips it, Go
		 * only when something follows it: four bytes alone show as they are.
		 */
		if (subtype == BSON_SUBTYPE_BINARY_DEPRECATED && len == 0) {
			data -= 4;
			len = 4;
		}
		out_str(o, "{\"$binary\":{\"base64\":\"");
		out_base64(o, data, len);
		snprintf(buf, sizeof(buf), "\",\"subType\":\"%02x\"}}", (unsigned)subtype);
		out_str(o, buf);
		break;
	case BSON_TYPE_UNDEFINED:
		out_str(o, "{\"$undefined\":true}");
		break;
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(iter), buf);
		out_wrapped(o, "oid", buf);
		break;
	case BSON_TYPE_BOOL:
		out_str(o, bson_iter_bool(iter) ? "true" : "false");
		break;
	case BSON_TYPE_DATE_TIME:
		snprintf(buf, sizeof(buf), "{\"$date\":{\"$numberLong\":\"%" PRId64 "\"}}",
		    bson_iter_date_time(iter));
		out_str(o, buf);
		break;
	case BSON_TYPE_NULL:
		out_str(o, "null");
		break;
	case BSON_TYPE_REGEX:
		text = bson_iter_regex(iter, &options);
		out_str(o, "{\"$regularExpression\":{\"pattern\":");
		out_string(o, text, strlen(text));
		out_str(o, ",\"options\":");
		out_regex_options(o, options);
		out_str(o, "}}");
		break;
	case BSON_TYPE_DBPOINTER:
		bson_iter_dbpointer(iter, &len, &text, &oid);
		out_str(o, "{\"$dbPointer\":{\"$ref\":\"");
		out_put(o, text, len);	/* Go writes the namespace unescaped */
		if (!reads_back_raw(text, len))
			o->unreadable = true;
		bson_oid_to_string(oid, buf);
		out_str(o, "\",\"$id\":{\"$oid\":\"");
		out_str(o, buf);
		out_str(o, "\"}}}");
		break;
	case BSON_TYPE_CODE:
		text = bson_iter_code(iter, &len);
		out_str(o, "{\"$code\":");
		out_string(o, text, len);
		out_char(o, '}');
		break;
	case BSON_TYPE_SYMBOL:
		text = bson_iter_symbol(iter, &len);
		out_str(o, "{\"$symbol\":");
		out_string(o, text, len);
		out_char(o, '}');
		break;
	case BSON_TYPE_CODEWSCOPE:
		text = bson_iter_codewscope(iter, &len, &scope_len, &data);
		if (!bson_init_static(&scope, data, scope_len) || !bson_iter_init(&child, &scope)) {
			*ok = false;
			return;
		}
		out_str(o, "{\"$code\":");
		out_string(o, text, len);
		out_str(o, ",\"$scope\":");
		out_document(o, &child, ok);
		out_char(o, '}');
		break;
	case BSON_TYPE_INT32:
		snprintf(buf, sizeof(buf), "%" PRId32, bson_iter_int32(iter));
		out_wrapped(o, "numberInt", buf);
		break;
	case BSON_TYPE_TIMESTAMP:
		bson_iter_timestamp(iter, &t, &i);
		snprintf(buf, sizeof(buf), "{\"$timestamp\":{\"t\":%" PRIu32 ",\"i\":%" PRIu32 "}}", t, i);
		out_str(o, buf);
		break;
	case BSON_TYPE_INT64:
		snprintf(buf, sizeof(buf), "%" PRId64, bson_iter_int64(iter));
		out_wrapped(o, "numberLong", buf);
		break;
	case BSON_TYPE_DECIMAL128:
		if (!bson_iter_decimal128(iter, &dec)) {
			*ok = false;
			return;
		}
		bson_decimal128_to_string(&dec, buf);
		out_wrapped(o, "numberDecimal", buf);
		break;
	case BSON_TYPE_MAXKEY:
		out_str(o, "{\"$maxKey\":1}");
		break;
	case BSON_TYPE_MINKEY:
		out_str(o, "{\"$minKey\":1}");
		break;
	default:
		*ok = false;
		return;
	}
	out_char(o, ',');
}

static void
out_document(struct out *o, bson_iter_t *iter, bool *ok)
{
	out_char(o, '{');
	while (*ok && bson_iter_next(iter)) {
		out_string(o, bson_iter_key(iter), bson_iter_key_len(iter));
		out_char(o, ':');
		out_value(o, iter, ok);
	}
	if (iter->err_off != 0)
		*ok = false;
	out_close(o, '}');
}

static void
out_array(struct out *o, bson_iter_t *iter, bool *ok)
{
	out_char(o, '[');
	while (*ok && bson_iter_next(iter))
		out_value(o, iter, ok);
	if (iter->err_off != 0)
		*ok = false;
	out_close(o, ']');
}

char *
extjson_bsondump(const bson_t *doc, size_t *length, bool *left_out)
{
	struct out o = { NULL, 0, 0, false };
	bson_iter_t iter;
	bool ok = true;

	if (!bson_iter_init(&iter, doc))
		return NULL;
	out_document(&o, &iter, &ok);
	if (!ok) {
		bson_free(o.data);
		return NULL;
	}
	if (length != NULL)
		*length = o.len;
	if (left_out != NULL)
		*left_out = o.unreadable || extjson_depth(o.data, o.len) > EXTJSON_BSONDUMP_DEPTH;
	return o.data;
}

int
extjson_depth(const char *json, size_t len)
{
	bool in_string = false;
	int depth = 0, deepest = 0;
	const char *p, *end = json + len;

	for (p = json; p < end; p++) {
		if (in_string) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				in_string = false;
		} else if (*p == '"') {
			in_string = true;
		} else if (*p == '{' && ++depth > deepest) {
			deepest = depth;
		} else if (*p == '}') {
			depth--;
		}
	}
	return deepest;
}

static void
out_newline(struct out *o, int depth, const char *unit)
{
	out_char(o, '\n');
	while (depth-- > 0)
		out_str(o, unit);
}

char *
extjson_indent(const char *json, size_t len, size_t *length)
{
	return extjson_indent_by(json, len, length, "\t");
}

char *
extjson_indent_by(const char *json, size_t len, size_t *length, const char *unit)
{
	struct out o = { NULL, 0, 0, false };
	bool in_string = false, need_indent = false;
	int depth = 0;
	const char *p, *end = json + len;

	out_put(&o, "", 0);
	for (p = json; p < end; p++) {
		/* libbson's own writer spaces its JSON: that white space goes. */
		if (!in_string && *p == ' ')
			continue;
		if (need_indent && (in_string || (*p != '}' && *p != ']'))) {
			need_indent = false;
			out_newline(&o, ++depth, unit);
		}
		if (in_string) {
			out_char(&o, *p);
			if (*p == '\\' && p + 1 < end)
				out_char(&o, *++p);
			else if (*p == '"')
				in_string = false;
			continue;
		}
		switch (*p) {
		case '"':
			in_string = true;
			out_char(&o, '"');
			break;
		case '{': case '[':
			need_indent = true;	/* not yet: {} and [] stay whole */
			out_char(&o, *p);
			break;
		case ',':
			out_char(&o, ',');
			out_newline(&o, depth, unit);
			break;
		case ':':
			out_str(&o, ": ");
			break;
		case '}': case ']':
			if (need_indent)
				need_indent = false;
			else
				out_newline(&o, --depth, unit);
			out_char(&o, *p);
			break;
		default:
			out_char(&o, *p);
		}
	}
	if (length != NULL)
		*length = o.len;
	return o.data;
}

/*
 * Whether some n-digit decimal reads back as d (> 0, finite); if so, which:
 * *mantissa x 10^*exponent. The nearest one first; where d is a power of
 * two its interval is narrower below than above, so the nearest may fall
 * outside below while the next one up lies inside: that one is tried too,
 * as Go's shortest formatting (Ryu) finds it.
 */
static bool
digits_read_back(double d, int n, unsigned long long *mantissa, int *exponent)
{
	char text[40], candidate[48];
	double back;
	const char *p;

	snprintf(text, sizeof(text), "%.*e", n - 1, d);
	*mantissa = 0;
	for (p = text; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			*mantissa = *mantissa * 10 + (unsigned long long)(*p - '0');
	*exponent = atoi(p + 1) - (n - 1);
	back = strtod(text, NULL);
	if (back == d)
		return true;
	if (back > d)
		return false;	/* the one below would lie further, on the narrow side */
	snprintf(candidate, sizeof(candidate), "%llue%d", *mantissa + 1, *exponent);
	if (strtod(candidate, NULL) != d)
		return false;
	++*mantissa;
	return true;
}

/*
 * The shortest digits that read back as d (> 0, finite), without a point,
 * and *point, where the point goes: d = 0.DIGITS x 10^point. If n digits
 * can say d, so can n + 1: a binary search over 1..17 finds the least.
 */
static void
shortest_digits(double d, char *digits, int *point)
{
	unsigned long long mantissa, best_mantissa = 0;
	int low = 1, high = 17, n, exponent, best_exponent = 0;
	char text[32];

	while (low <= high) {
		n = (low + high) / 2;
		if (digits_read_back(d, n, &mantissa, &exponent)) {
			best_mantissa = mantissa;
			best_exponent = exponent;
			high = n - 1;
		} else {
			low = n + 1;
		}
	}
	snprintf(text, sizeof(text), "%llu", best_mantissa);
	n = (int)strlen(text);
	while (n > 1 && text[n - 1] == '0') {
		text[--n] = '\0';
		best_exponent++;
	}
	memcpy(digits, text, (size_t)n + 1);
	*point = best_exponent + n;
}

void
extjson_double(double d, char *buf, size_t size)
{
	char digits[40], body[400];
	int point, exponent, nd, k;
	size_t at = 0;

	if (isnan(d)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, size, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (d == 0) {
		snprintf(buf, size, signbit(d) ? "-0.0" : "0.0");
		return;
	}
	shortest_digits(fabs(d), digits, &point);
	nd = (int)strlen(digits);
	exponent = point - 1;
	if (signbit(d))
		body[at++] = '-';
	if (exponent < -4 || exponent >= 6) {
		/* %E: d.ddd then E, the sign and at least two digits */
		body[at++] = digits[0];
		if (nd > 1) {
			body[at++] = '.';
			memcpy(body + at, digits + 1, (size_t)nd - 1);
			at += (size_t)nd - 1;
		}
		snprintf(body + at, sizeof(body) - at, "E%c%02d", exponent < 0 ? '-' : '+',
		    exponent < 0 ? -exponent : exponent);
		snprintf(buf, size, "%s", body);
		return;
	}
	/* %F with just the digits it needs; a whole number gets ".0". */
	if (point <= 0) {
		body[at++] = '0';
	} else {
		for (k = 0; k < point; k++)
			body[at++] = k < nd ? digits[k] : '0';
	}
	body[at++] = '.';
	if (nd > point) {
		for (k = point; k < nd; k++)
			body[at++] = k < 0 ? '0' : digits[k];
	} else {
		body[at++] = '0';
	}
	body[at] = '\0';
	snprintf(buf, size, "%s", body);
}

static bool
unsafe_int64(const bson_iter_t *iter)
{
	int64_t v;

	if (!BSON_ITER_HOLDS_INT64(iter))
		return false;
	v = bson_iter_int64(iter);
	return v > SAFE_INTEGER || v < -SAFE_INTEGER;
}

/* Whether anything in iter's document is an int64 a double would round. */
static bool
has_unsafe_int64(bson_iter_t *iter, int depth)
{
	bson_iter_t child;

	while (bson_iter_next(iter)) {
		if (unsafe_int64(iter))
			return true;
		if ((BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter)) && depth < 200 &&
		    bson_iter_recurse(iter, &child) && has_unsafe_int64(&child, depth + 1))
			return true;
	}
	return false;
}

/*
 * Copy iter's elements into out, each unsafe int64 as the document
 * {"$numberLong": "..."}: libbson's relaxed writer then prints exactly the
 * canonical form. Deeper than libbson shows (200 levels), copied as is.
 */
static void
copy_marking(bson_iter_t *iter, bson_t *out, int depth)
{
	bson_iter_t child;
	bson_t sub;
	char number[32];

	while (bson_iter_next(iter)) {
		const char *key = bson_iter_key(iter);
		int keylen = (int)bson_iter_key_len(iter);

		if (unsafe_int64(iter)) {
			snprintf(number, sizeof(number), "%" PRId64, bson_iter_int64(iter));
			bson_append_document_begin(out, key, keylen, &sub);
			BSON_APPEND_UTF8(&sub, "$numberLong", number);
			bson_append_document_end(out, &sub);
		} else if (BSON_ITER_HOLDS_DOCUMENT(iter) && depth < 200 && bson_iter_recurse(iter, &child)) {
			bson_append_document_begin(out, key, keylen, &sub);
			copy_marking(&child, &sub, depth + 1);
			bson_append_document_end(out, &sub);
		} else if (BSON_ITER_HOLDS_ARRAY(iter) && depth < 200 && bson_iter_recurse(iter, &child)) {
			bson_append_array_begin(out, key, keylen, &sub);
			copy_marking(&child, &sub, depth + 1);
			bson_append_array_end(out, &sub);
		} else {
			bson_append_iter(out, key, keylen, iter);
		}
	}
}

char *
extjson_relaxed(const bson_t *doc, size_t *length)
{
	bson_iter_t iter;
	bson_t marked;
	char *json;

	if (!bson_iter_init(&iter, doc) || !has_unsafe_int64(&iter, 0))
		return bson_as_relaxed_extended_json(doc, length);
	bson_init(&marked);
	if (bson_iter_init(&iter, doc))
		copy_marking(&iter, &marked, 0);
	json = bson_as_relaxed_extended_json(&marked, length);
	bson_destroy(&marked);
	return json;
}
