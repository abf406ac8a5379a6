/*
 * field-order.h - the orders mongod's update system puts field names in:
 * where $set creates fields it appends them sorted, and the diff of a
 * $v:2 update lists them in plain byte order.
 */
#ifndef OPLOGKIT_FIELD_ORDER_H
#define OPLOGKIT_FIELD_ORDER_H

#include <stddef.h>

/* std::string's order: bytes as unsigned, a prefix first. <0, 0, >0. */
int field_bytes_compare(const char *a, size_t alen, const char *b, size_t blen);

/*
 * mongod's cmpPathsAndArrayIndexes (4.4 on): names that start with a
 * digit and are not zero-padded compare by length first, then byte by
 * byte while both read digits; everything else as field_bytes_compare.
 */
int field_name_compare(const char *a, size_t alen, const char *b, size_t blen);

#endif
