/*
 * pushdown.h - whether a server answers a query by _id from its index,
 * from FerretDB's explain (its "filterPushdown" field), and what that
 * makes the cheaper way to read n documents by _id: n finds by
 * {_id: X} or one {_id: {$in: [...]}}.
 *
 * FerretDB 1.24 pushes down _id equality on ObjectIds and strings on
 * both backends, on numbers too on PostgreSQL, and never a $in: there a
 * $in is a scan of the collection. MongoDB's explain has no such field.
 */
#ifndef OPLOGKIT_PUSHDOWN_H
#define OPLOGKIT_PUSHDOWN_H

#include <stdbool.h>
#include <bson/bson.h>

/*
 * An explain reply's filterPushdown: 1 true, 0 false, -1 absent (not
 * FerretDB), -2 not known yet: an empty queryPlanner, FerretDB's answer
 * for a collection that does not exist (filterPushdown false whatever
 * the filter).
 */
int pushdown_of_reply(const bson_t *reply);

/*
 * Whether to read documents with _ids of this type one by one, given the
 * pushdown of {_id: X} (eq) and of {_id: {$in: [X]}} (in), each as
 * pushdown_of_reply says (-1 or -2: unknown): yes when the equality is pushed down and the
 * $in is not. When either is unknown: ObjectIds and strings one by one,
 * others with one $in (what FerretDB's SQLite backend, the default,
 * pushes down).
 */
bool pushdown_one_by_one(int eq, int in, bson_type_t type);

#endif
