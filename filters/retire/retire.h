/*
 * retire.h - source-retire's parts: the plan (plan.c), the writes after
 * the switch (writes.c), the final sync-check (compare.c), the engine and
 * the drops (run.c). filters/source-retire.c is the command line.
 */
#ifndef OPLOGKIT_RETIRE_H
#define OPLOGKIT_RETIRE_H

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "entry.h"
#include "ns.h"
#include "options.h"

/* What the command line asks for. */
struct retire_config {
	struct conn_options conn;
	const char *reverse_name, *stop_cmd;
	timestamp_t since;
	bool has_since, yes, dry_run;
	long fresh_ms, rechecks;
	ns_filter *filter;
	struct ns_select select;	/* and its options as given, for sync-check */
};

/* One namespace to drop: its name, documents, writes after --since. */
struct victim {
	char *ns;
	int64_t documents;
	int64_t writes;
};

struct plan {
	struct victim *items;	/* sorted by ns */
	size_t count, size;
	int64_t documents, writes, other_writes;
};

/* The engine's state: the configuration (read only). */
struct retire {
	const struct retire_config *config;
};

/* run.c: the whole retirement; the exit status of die.h's rule. */
int retire_run(const struct retire_config *config, const char *source_uri,
    const char *target_uri);

/* plan.c */
void plan_list(struct retire *x, mongoc_client_t *source, struct plan *plan);
void plan_count(mongoc_client_t *source, struct plan *plan);
void plan_print(const struct plan *plan);
int compare_victims(const void *a, const void *b);	/* qsort/bsearch order of the plan */
int64_t count_documents(mongoc_client_t *client, const char *ns);

/* writes.c: false (said on stderr) when someone else wrote, or the reverse stream stopped */
bool writes_check(struct retire *x, mongoc_client_t *source, mongoc_client_t *target,
    struct plan *plan);

/* compare.c: false (said on stderr) when sync-check finds differences that stay */
bool compare(struct retire *x, const char *source_uri, const char *target_uri);

#endif
