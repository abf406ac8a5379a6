/*
 * member.c - snap-export's one member: every read, T0 and the lock go to
 * the member --read-preference picks, so they describe one copy of the data.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "mongo-errors.h"
#include "ns.h"
#include "queue.h"
#include "stream.h"
#include "export.h"

static mongoc_read_mode_t
read_mode(const char *name)
{
	static const struct {
		const char *name;
		mongoc_read_mode_t mode;
	} modes[] = {
		{ "primary", MONGOC_READ_PRIMARY },
		{ "primaryPreferred", MONGOC_READ_PRIMARY_PREFERRED },
		{ "secondary", MONGOC_READ_SECONDARY },
		{ "secondaryPreferred", MONGOC_READ_SECONDARY_PREFERRED },
		{ "nearest", MONGOC_READ_NEAREST },
	};
	size_t k;

	for (k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
		if (strcmp(name, modes[k].name) == 0)
			return modes[k].mode;
	die(EXIT_USAGE, "--read-preference: unknown mode '%s'", name);
}

/*
 * Pin every read to one member: T0 comes from its oplog, so its data must
 * be what the workers read; a lagging secondary mixed with T0 from another
 * member would lose the changes in between.
 */
void
pick_member(struct export *x, mongoc_client_t *client)
{
	mongoc_server_description_t *server;
	bson_error_t error;

	x->read_prefs = mongoc_read_prefs_new(read_mode(x->config->read_preference));
	server = mongoc_client_select_server(client, false, x->read_prefs, &error);
	if (server == NULL)
		die(EXIT_SERVER, "%s: no member for read preference %s: %s", x->source,
		    x->config->read_preference, error.message);
	x->server_id = mongoc_server_description_id(server);
	snprintf(x->member, sizeof(x->member), "%s",
	    mongoc_server_description_host(server)->host_and_port);
	mongoc_server_description_destroy(server);
}

/* Options that send a cursor or command to the pinned member. */
bson_t *
member_opts(struct export *x)
{
	return BCON_NEW("serverId", BCON_INT32((int32_t)x->server_id));
}

/* atexit takes no argument: the export whose member is locked. */
static struct export *locked_export;

static void
lock_at_exit(void)
{
	if (locked_export != NULL)
		unlock_member(locked_export);
}

void
lock_member(struct export *x)
{
	bson_t *command = BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true));
	bson_error_t error;
	bson_iter_t iter;
	bson_t reply;

	x->lock_client = mongoc_client_pool_pop(x->pool);
	if (!mongoc_client_command_simple_with_server_id(x->lock_client, "admin", command,
	    x->read_prefs, x->server_id, &reply, &error)) {
		if (error.code == MONGO_COMMAND_NOT_FOUND)
			die(EXIT_SERVER, "--consistency=lock: %s cannot lock writes: it has no "
			    "fsync command (%s); use --consistency=fuzzy", x->member, error.message);
		die(EXIT_SERVER, "--consistency=lock: fsync lock on %s failed: %s", x->member,
		    error.message);
	}
	atomic_store(&x->locked, true);
	locked_export = x;
	if (atexit(lock_at_exit) != 0) {
		unlock_member(x);
		die(EXIT_LOCAL, "atexit failed");
	}
	/* A server that answers ok without a lock count did not lock. */
	if (!bson_iter_init_find(&iter, &reply, "lockCount") || !BSON_ITER_HOLDS_NUMBER(&iter) ||
	    bson_iter_as_int64(&iter) < 1)
		die(EXIT_SERVER, "--consistency=lock: %s did not confirm the lock", x->member);
	bson_destroy(&reply);
	bson_destroy(command);
}

void
unlock_member(struct export *x)
{
	bson_t *command;
	bson_error_t error;
	bson_t reply;

	if (x == locked_export)
		locked_export = NULL;	/* x may be freed before exit */
	if (!atomic_exchange(&x->locked, false))
		return;
	command = BCON_NEW("fsyncUnlock", BCON_INT32(1));
	if (!mongoc_client_command_simple_with_server_id(x->lock_client, "admin", command,
	    x->read_prefs, x->server_id, &reply, &error))
		warnmsg("%s: fsyncUnlock failed: %s: UNLOCK IT BY HAND (db.fsyncUnlock())",
		    x->member, error.message);
	bson_destroy(&reply);
	bson_destroy(command);
}

static bool
newest_ts(struct export *x, mongoc_client_t *client, timestamp_t *out, bson_error_t *error)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("sort", "{", "$natural", BCON_INT32(-1), "}",
	    "limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}",
	    "serverId", BCON_INT32((int32_t)x->server_id));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, &filter, opts, x->read_prefs);
	const bson_t *doc;
	bool found = false;

	if (mongoc_cursor_next(cursor, &doc)) {
		*out = entry_ts(doc);
		found = out->t != 0 || out->i != 0;
	}
	if (!found && !mongoc_cursor_error(cursor, error))
		bson_set_error(error, MONGOC_ERROR_QUERY, MONGO_NAMESPACE_NOT_FOUND,
		    "local.oplog.rs is empty or missing");
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	mongoc_collection_destroy(oplog);
	return found;
}

/* The caller's T0 is taken as given: looking up the newest entry can cost a scan. */
void
choose_t0(struct export *x, mongoc_client_t *client)
{
	bson_error_t error;

	if (x->config->have_t0) {
		x->t0 = x->config->t0;
		return;
	}
	if (!newest_ts(x, client, &x->t0, &error))
		die(EXIT_SERVER, "%s: no oplog to take T0 from (%s): give --t0", x->member,
		    error.message);
}
