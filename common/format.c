/*
 * format.c - see format.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "format.h"

void
format_append(char *out, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + (*used < size ? *used : size), *used < size ? size - *used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}
