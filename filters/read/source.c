/*
 * source.c - what oplog-read asks the source about its oplog, apart from
 * tailing it: that there is one, whether the server waits for new
 * entries, its newest entry (the default start), and whether it still
 * reaches back to where the reading stands (else history is lost, exit 5).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "reach.h"
#include "read.h"

/* Exit 4 naming what failed, unless the error is transient and the budget lasts. */
static void
retry_or_die(retry_policy *policy, const bson_error_t *error, mongoc_client_t *client, const char *what)
{
	char failure[512], waited[32];

	if (retry_again(policy, error))
		return;
	if (cli_stop)
		exit(EXIT_DONE);	/* nothing written yet: a stop needs no trailer */
	conn_describe(error, client, failure, sizeof(failure));
	reach_duration(policy->waited_ms, waited, sizeof(waited));
	die(EXIT_SERVER, "%s; gave up after %s (%s)", failure, waited, what);
}

void
source_require_oplog(mongoc_client_t *client, long retry_for_ms)
{
	mongoc_database_t *local = mongoc_client_get_database(client, "local");
	bson_t *opts = BCON_NEW("filter", "{", "name", BCON_UTF8("oplog.rs"), "}");
	retry_policy policy;
	bson_error_t error;
	char **names;

	retry_init(&policy, retry_for_ms);
	while ((names = mongoc_database_get_collection_names_with_opts(local, opts, &error)) == NULL)
		retry_or_die(&policy, &error, client, "listing the collections of local");
	if (names[0] == NULL)
		die(EXIT_SERVER, "%s: has no local.oplog.rs to read (not a replica set member?)",
		    conn_masked(client));
	bson_strfreev(names);
	bson_destroy(opts);
	mongoc_database_destroy(local);
}

/*
 * Whether to let the server wait for new entries (awaitData). FerretDB
 * implements that wait by re-running the whole query every 10 ms, and as
 * its oplog has no index each run reads the whole oplog: a reader waiting
 * there keeps a core busy. With FerretDB we poll instead, backing off
 * from 50 ms to --poll while the oplog is idle, and after a busy poll
 * waiting as long as it took, so reading takes at most half the server.
 */
bool
source_awaits(mongoc_client_t *client)
{
	bson_t *command = BCON_NEW("buildInfo", BCON_INT32(1));
	bson_error_t error;
	bson_iter_t iter;
	bson_t reply;
	bool ferretdb;

	if (!conn_command(client, "admin", command, &reply, &error))
		die(EXIT_SERVER, "%s: buildInfo: %s", conn_masked(client), error.message);
	ferretdb = bson_iter_init_find(&iter, &reply, "ferretdbVersion");
	bson_destroy(&reply);
	bson_destroy(command);
	return !ferretdb;
}

timestamp_t
source_newest(mongoc_client_t *client, long retry_for_ms)
{
	timestamp_t newest = { 0, 0 };
	retry_policy policy;
	bson_error_t error;

	retry_init(&policy, retry_for_ms);
	while (!conn_newest_ts(client, &newest.t, &newest.i, &error)) {
		if (error.domain == MONGOC_ERROR_QUERY && error.code == 26)
			return (timestamp_t){ 0, 0 };	/* empty: everything is after 0,0 */
		retry_or_die(&policy, &error, client, "reading the newest oplog entry");
	}
	return newest;
}

/*
 * Asked after a find answered: if the oldest entry is not after s->last
 * then, the entries the find saw followed s->last directly, with no gap.
 */
bool
source_history_check(struct session *s, bson_error_t *error)
{
	timestamp_t oldest;
	char a[32], b[32];

	if (s->last.t == 0 && s->last.i == 0)
		return true;	/* from the beginning: nothing to lose */
	if (!conn_oldest_ts(s->client, &oldest.t, &oldest.i, error))
		return error->domain == MONGOC_ERROR_QUERY && error->code == 26;	/* empty */
	if (ts_compare(oldest, s->last) <= 0)
		return true;
	stream_finish(s->out);
	if (s->written == 0 && strcmp(s->start_name, "--since") == 0)
		die(EXIT_HISTORY_LOST, "history lost: oldest entry %s is after --since %s",
		    ts_format(oldest, a, sizeof(a)), ts_format(s->last, b, sizeof(b)));
	die(EXIT_HISTORY_LOST, "history lost: oldest entry %s is after the last entry %s of %s",
	    ts_format(oldest, a, sizeof(a)), ts_format(s->last, b, sizeof(b)),
	    s->written == 0 ? s->start_name : s->out_name);
}
