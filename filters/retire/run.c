/*
 * run.c - source-retire's engine: list, check (writes after the switch,
 * then sync-check), and only then drop; a refusal drops nothing.
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

/* ---- the drops ---- */

static bool
drop_one(mongoc_client_t *source, const char *ns, bson_error_t *error)
{
	char db[256];
	const char *collection;
	mongoc_collection_t *coll;
	bool ok;

	if (!ns_split(ns, db, sizeof(db), &collection)) {
		bson_set_error(error, 0, 0, "not a namespace DB.COLLECTION");
		return false;
	}
	coll = mongoc_client_get_collection(source, db, collection);
	ok = mongoc_collection_drop_with_opts(coll, NULL, error);
	/* Gone already is what we wanted. */
	if (!ok && error->code == MONGO_NAMESPACE_NOT_FOUND)
		ok = true;
	mongoc_collection_destroy(coll);
	return ok;
}

static bool
drop_all(struct retire *x, mongoc_client_t *source, const struct plan *plan)
{
	int64_t documents, total = 0;
	bson_error_t error;
	size_t k;
	int status;

	if (x->config->stop_cmd != NULL && (status = shell_run("--stop-cmd", x->config->stop_cmd)) != 0) {
		warnmsg("--stop-cmd failed (status %d): refused; nothing dropped", status);
		return false;
	}
	for (k = 0; k < plan->count; k++) {
		if (cli_stop) {
			warnmsg("interrupted after %zu of %zu namespaces", k, plan->count);
			return false;
		}
		/* Counted again: the reverse stream may have added some since the plan. */
		documents = count_documents(source, plan->items[k].ns);
		if (!drop_one(source, plan->items[k].ns, &error))
			die(EXIT_SERVER, "%s: drop %s: %s (dropped %zu of %zu)", conn_masked(source),
			    plan->items[k].ns, error.message, k, plan->count);
		printf("dropped %s %" PRId64 " documents\n", plan->items[k].ns, documents);
		if (fflush(stdout) != 0)
			die(EXIT_LOCAL, "stdout: write failed");
		total += documents;
	}
	printf("retired %zu namespaces, %" PRId64 " documents\n", plan->count, total);
	return true;
}

/* Everything after the listing; a refusal returns EXIT_DIFFERENT, said on stderr. */
static int
retire(struct retire *x, mongoc_client_t *source, mongoc_client_t *target, struct plan *plan,
    const char *source_uri, const char *target_uri)
{
	if (plan->count == 0) {
		printf("nothing to retire: no selected namespace on the source\n");
		return EXIT_DONE;
	}
	if (!x->config->yes && !x->config->dry_run) {
		plan_count(source, plan);
		plan_print(plan);
		fflush(stdout);
		warnmsg("refused: give --yes to drop these %zu namespaces (%" PRId64 " documents), "
		    "--dry-run to check first; nothing dropped", plan->count, plan->documents);
		return EXIT_DIFFERENT;
	}
	if (!writes_check(x, source, target, plan) || !compare(x, source_uri, target_uri)) {
		warnmsg("refused; nothing dropped");
		return EXIT_DIFFERENT;
	}
	if (x->config->dry_run) {
		/* Counted after the checks: what they compared, not what was there before. */
		plan_count(source, plan);
		plan_print(plan);
		printf("dry run: %zu namespaces, %" PRId64 " documents; nothing dropped\n",
		    plan->count, plan->documents);
		return EXIT_DONE;
	}
	return drop_all(x, source, plan) ? EXIT_DONE : EXIT_DIFFERENT;
}

int
retire_run(const struct retire_config *config, const char *source_uri, const char *target_uri)
{
	struct retire retire_state = { .config = config };
	struct retire *x = &retire_state;
	struct plan plan = { NULL, 0, 0, 0, 0, 0 };
	mongoc_client_t *source, *target;
	size_t k;
	int status;

	source = conn_open(source_uri, config->conn.tls_ca_file);
	target = conn_open(target_uri, config->conn.tls_ca_file);
	cli_catch_signals();
	plan_list(x, source, &plan);
	status = retire(x, source, target, &plan, source_uri, target_uri);
	for (k = 0; k < plan.count; k++)
		free(plan.items[k].ns);
	free(plan.items);
	conn_close(source);
	conn_close(target);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_LOCAL, "stdout: write failed");
	return status;
}
