/*
 * pushdown.c - reading FerretDB's explain for an _id lookup; see pushdown.h.
 */
#include "pushdown.h"

int
pushdown_of_reply(const bson_t *reply)
{
	bson_iter_t it, plan;

	if (!bson_iter_init_find(&it, reply, "filterPushdown") || !BSON_ITER_HOLDS_BOOL(&it))
		return -1;
	if (!bson_iter_init_find(&plan, reply, "queryPlanner") ||
	    !BSON_ITER_HOLDS_DOCUMENT(&plan) || !bson_iter_recurse(&plan, &plan) ||
	    !bson_iter_next(&plan))
		return -2;
	return bson_iter_bool(&it) ? 1 : 0;
}

bool
pushdown_one_by_one(int eq, int in, bson_type_t type)
{
	if (eq < 0 || in < 0)
		return type == BSON_TYPE_OID || type == BSON_TYPE_UTF8;
	return eq == 1 && in == 0;
}
