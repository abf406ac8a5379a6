/*
 * conn.h - the one connection setup: where a URI comes from, how it is
 * printed (password masked), and retrying with backoff.
 */
#ifndef OPLOGKIT_CONN_H
#define OPLOGKIT_CONN_H

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <stdbool.h>

/*
 * The URI to use: the argument if given, else the content of uri_file
 * (first line), else the environment variable env_name. Exits with
 * EXIT_USAGE when none is set. The result is owned by the caller.
 */
char *conn_uri_resolve(const char *arg, const char *uri_file, const char *env_name);

/* Copy uri into out with any password replaced by "****". */
void conn_mask(const char *uri, char *out, size_t size);

/*
 * Connect (mongoc_client_new_from_uri with the app name oplogkit-PROG),
 * TLS CA file optional. Exits with EXIT_USAGE on an unparsable URI; the
 * server is reached lazily by the first command.
 */
mongoc_client_t *conn_open(const char *uri, const char *tls_ca_file);

/*
 * The same as a pool of up to max_clients clients (0: the driver's
 * default), for programs that talk to one server from several threads.
 */
mongoc_client_pool_t *conn_open_pool(const char *uri, const char *tls_ca_file, int max_clients);

/*
 * Destroy a client quietly: the driver's warnings while it ends its
 * sessions ("Couldn't send endSessions" on FerretDB, which lacks the
 * command) are noise at exit.
 */
void conn_close(mongoc_client_t *client);

/* The same quiet destruction for a pool. */
void conn_close_pool(mongoc_client_pool_t *pool);

/* The URI's masked form, for messages and stream headers. */
const char *conn_masked(mongoc_client_t *client);

/*
 * Retrying: a policy says for how long (retry_for_ms) a failing call may
 * be retried, with exponential backoff from 100 ms up to 5 s.
 */
typedef struct {
	long retry_for_ms;	/* total time budget; 0: no retry */
	long waited_ms;		/* spent so far */
	long next_ms;		/* next sleep */
	long long failed_at_ms;	/* monotonic clock at the first failure; 0: none yet */
} retry_policy;

void retry_init(retry_policy *policy, long retry_for_ms);

/*
 * After a failure: whether the error is worth retrying (network, server
 * selection, not primary, shutdown) and the budget allows; if so sleeps
 * the backoff and returns true. Reset with retry_init after a success.
 * It says so on stderr, in one line per outage however many threads
 * retry: "cannot reach 127.0.0.1:1 (connection refused); retrying for 5m"
 * at the first failure, then "..., for 1m now; retrying for 4m more"
 * every fifth of the budget (1 s to 30 s).
 */
bool retry_again(retry_policy *policy, const bson_error_t *error);

/*
 * error in an operator's words (see reach.h): "cannot reach HOST
 * (REASON)" where the driver names the hosts; else with the hosts of
 * client, or (client NULL) of the one URI this program opened. True
 * when the driver named hosts and reasons.
 */
bool conn_describe(const bson_error_t *error, mongoc_client_t *client, char *out, size_t size);

/* Whether an error is a network / availability error (retryable). */
bool conn_error_transient(const bson_error_t *error);

/* The retry budget conn_command uses (--retry-for; default 60 s). */
void conn_set_retry_for(long retry_for_ms);
long conn_retry_for(void);

/*
 * Run a command on db, retrying transient errors within the budget; exits
 * EXIT_SERVER when they persist ("cannot reach H (R); gave up after 5m"). Other errors return false with error set.
 * reply is always initialized, as with mongoc_client_command_simple.
 */
bool conn_command(mongoc_client_t *client, const char *db, const bson_t *command,
    bson_t *reply, bson_error_t *error);

/* The newest / oldest ts in the server's local.oplog.rs (false with error set if none). */
bool conn_newest_ts(mongoc_client_t *client, uint32_t *t, uint32_t *i, bson_error_t *error);
bool conn_oldest_ts(mongoc_client_t *client, uint32_t *t, uint32_t *i, bson_error_t *error);

#endif
