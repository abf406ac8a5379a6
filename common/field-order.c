/*
 * field-order.c - mongod's orders of field names (field-order.h).
 */
#include <string.h>

#include "field-order.h"

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int
field_bytes_compare(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

int
field_name_compare(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t k;

	if (alen > 0 && blen > 0 && is_digit(a[0]) && is_digit(b[0]) &&
	    !(a[0] == '0' && alen > 1) && !(b[0] == '0' && blen > 1)) {
		if (alen != blen)
			return alen < blen ? -1 : 1;
		for (k = 0; k < alen && is_digit(a[k]) && is_digit(b[k]); k++)
			if (a[k] != b[k])
				return (unsigned char)a[k] < (unsigned char)b[k] ? -1 : 1;
	}
	return field_bytes_compare(a, alen, b, blen);
}
