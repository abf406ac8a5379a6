/*
 * order.h - MongoDB's comparison order for BSON values, the order in which
 * a server returns documents sorted by _id: first by type, in the server's
 * canonical type order (MinKey, null, numbers, strings, objects, arrays,
 * binary, ObjectId, booleans, dates, timestamps, regexes, DBPointer, code,
 * code with scope, MaxKey), then by value. Numbers compare by value across
 * int32, int64, double and decimal128 (decimal through long double, close
 * enough for keys); strings byte-wise (the simple collation); documents and
 * arrays element by element (type, then field name, then value).
 */
#ifndef OPLOGKIT_ORDER_H
#define OPLOGKIT_ORDER_H

#include <bson/bson.h>

/* <0, 0, >0 as the value at a sorts before, with, after the value at b. */
int order_compare_values(const bson_iter_t *a, const bson_iter_t *b);

/* The same for two whole documents. */
int order_compare_documents(const bson_t *a, const bson_t *b);

#endif
