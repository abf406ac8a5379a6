/*
 * plan.c - source-retire's plan: the selected namespaces of the source
 * that may be dropped, and their document counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "mongo-errors.h"
#include "ns.h"
#include "shell.h"
#include "retire.h"

/* ---- the plan: selected namespaces and their counts ---- */

int
compare_victims(const void *a, const void *b)
{
	return strcmp(((const struct victim *)a)->ns, ((const struct victim *)b)->ns);
}

int64_t
count_documents(mongoc_client_t *client, const char *ns)
{
	char db[256];
	const char *collection;
	mongoc_collection_t *coll;
	bson_t filter = BSON_INITIALIZER;
	bson_error_t error;
	int64_t count;

	if (!ns_split(ns, db, sizeof(db), &collection))
		die(EXIT_SERVER, "%s: count %s: not a namespace DB.COLLECTION", conn_masked(client), ns);
	coll = mongoc_client_get_collection(client, db, collection);
	count = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &error);
	if (count < 0)
		die(EXIT_SERVER, "%s: count %s: %s", conn_masked(client), ns, error.message);
	mongoc_collection_destroy(coll);
	return count;
}

/*
 * Views hold no data and system.* collections belong to the server:
 * neither is ours to drop.
 */
static bool
is_droppable(const bson_t *info, const char *name)
{
	bson_iter_t iter;

	if (strncmp(name, "system.", 7) == 0)
		return false;
	return !bson_iter_init_find(&iter, info, "type") || !BSON_ITER_HOLDS_UTF8(&iter) ||
	    strcmp(bson_iter_utf8(&iter, NULL), "view") != 0;
}

static void
plan_add(struct plan *plan, const char *ns)
{
	if (plan->count == plan->size) {
		plan->size = plan->size ? plan->size * 2 : 32;
		plan->items = xrealloc(plan->items, plan->size * sizeof(*plan->items));
	}
	plan->items[plan->count].ns = xstrdup(ns);
	plan->items[plan->count].documents = 0;
	plan->items[plan->count].writes = 0;
	plan->count++;
}

static void
plan_database(struct retire *x, mongoc_client_t *client, const char *db, struct plan *plan)
{
	mongoc_database_t *database = mongoc_client_get_database(client, db);
	mongoc_cursor_t *cursor = mongoc_database_find_collections_with_opts(database, NULL);
	const bson_t *info;
	bson_error_t error;
	bson_iter_t iter;
	char ns[512];

	while (mongoc_cursor_next(cursor, &info)) {
		if (!bson_iter_init_find(&iter, info, "name") || !BSON_ITER_HOLDS_UTF8(&iter))
			continue;
		if ((size_t)snprintf(ns, sizeof(ns), "%s.%s", db, bson_iter_utf8(&iter, NULL)) >=
		    sizeof(ns))
			continue;
		if (ns_match(x->config->filter, ns) && is_droppable(info, bson_iter_utf8(&iter, NULL)))
			plan_add(plan, ns);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: listCollections on %s: %s", conn_masked(client), db,
		    error.message);
	mongoc_cursor_destroy(cursor);
	mongoc_database_destroy(database);
}

void
plan_list(struct retire *x, mongoc_client_t *source, struct plan *plan)
{
	bson_t *command = BCON_NEW("listDatabases", BCON_INT32(1), "nameOnly", BCON_BOOL(true));
	bson_iter_t iter, databases, name;
	bson_error_t error;
	bson_t reply;

	if (!conn_command(source, "admin", command, &reply, &error))
		die(EXIT_SERVER, "%s: listDatabases: %s", conn_masked(source), error.message);
	if (!bson_iter_init_find(&iter, &reply, "databases") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &databases))
		die(EXIT_SERVER, "%s: listDatabases: no databases in the reply", conn_masked(source));
	while (bson_iter_next(&databases)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&databases) || !bson_iter_recurse(&databases, &name) ||
		    !bson_iter_find(&name, "name") || !BSON_ITER_HOLDS_UTF8(&name))
			continue;
		if (ns_match_database(x->config->filter, bson_iter_utf8(&name, NULL)))
			plan_database(x, source, bson_iter_utf8(&name, NULL), plan);
	}
	bson_destroy(&reply);
	bson_destroy(command);
	if (plan->count > 0)
		qsort(plan->items, plan->count, sizeof(*plan->items), compare_victims);
}

void
plan_count(mongoc_client_t *source, struct plan *plan)
{
	size_t k;

	plan->documents = 0;
	for (k = 0; k < plan->count; k++) {
		plan->items[k].documents = count_documents(source, plan->items[k].ns);
		plan->documents += plan->items[k].documents;
	}
}

void
plan_print(const struct plan *plan)
{
	size_t k;

	for (k = 0; k < plan->count; k++)
		printf("would drop %s %" PRId64 " documents\n", plan->items[k].ns,
		    plan->items[k].documents);
}

