/*
 * conn.c - the one connection setup: where a URI comes from, how it is
 * shown (password masked), and retrying with backoff.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "die.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define DEFAULT_RETRY_FOR_MS 60000

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static long default_retry_for_ms = DEFAULT_RETRY_FOR_MS;
static __thread bool closing;	/* conn_close is destroying a client */

static void
log_handler(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)data;
	/* The driver's chatter (debug, info, trace) is not for users. */
	if (level <= MONGOC_LOG_LEVEL_WARNING && !closing)
		warnmsg("%s: %s", domain, message);
}

static void
driver_init(void)
{
	mongoc_init();
	mongoc_log_set_handler(log_handler, NULL);
}

static char *
read_first_line(const char *path)
{
	char line[4096];
	FILE *file = fopen(path, "r");
	size_t length;

	if (file == NULL)
		die(EXIT_USAGE, "--uri-file %s: %s", path, strerror(errno));
	if (fgets(line, sizeof(line), file) == NULL) {
		fclose(file);
		die(EXIT_USAGE, "--uri-file %s: empty", path);
	}
	fclose(file);
	length = strcspn(line, "\r\n");
	line[length] = '\0';
	return xstrdup(line);
}

char *
conn_uri_resolve(const char *arg, const char *uri_file, const char *env_name)
{
	const char *env;

	if (arg != NULL)
		return xstrdup(arg);
	if (uri_file != NULL)
		return read_first_line(uri_file);
	env = env_name != NULL ? getenv(env_name) : NULL;
	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	die(EXIT_USAGE, "no server URI: give it as an argument, with --uri-file, or in $%s",
	    env_name != NULL ? env_name : "OPLOGKIT_URI");
}

void
conn_mask(const char *uri, char *out, size_t size)
{
	const char *scheme = strstr(uri, "://");
	const char *hosts = scheme != NULL ? scheme + 3 : uri;
	const char *at = NULL, *colon = NULL, *p;

	/* The userinfo ends at the last '@' before the path. */
	for (p = hosts; *p != '\0' && *p != '/' && *p != '?'; p++)
		if (*p == '@')
			at = p;
	if (at != NULL)
		colon = memchr(hosts, ':', (size_t)(at - hosts));
	if (colon == NULL) {
		snprintf(out, size, "%s", uri);
		return;
	}
	snprintf(out, size, "%.*s:****%s", (int)(colon - uri), uri, at);
}

/*
 * The driver takes a TLS file it cannot read for a failed handshake, so
 * every connection attempt fails and is retried, warning each time, until
 * the retry budget is gone (oplog-read: 5 minutes). A file named by
 * --tls-ca-file or the URI (tlsCAFile, tlsCertificateKeyFile) must be
 * readable now: a usage error otherwise, before any connection.
 */
static void
check_tls_files(const mongoc_uri_t *uri)
{
	static const char *const options[] = { MONGOC_URI_TLSCAFILE, MONGOC_URI_TLSCERTIFICATEKEYFILE };
	size_t k;

	for (k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
		const char *path = mongoc_uri_get_option_as_utf8(uri, options[k], NULL);
		FILE *file;

		if (path == NULL)
			continue;
		file = fopen(path, "r");
		if (file == NULL)
			die(EXIT_USAGE, "TLS file %s (%s): %s", path, options[k], strerror(errno));
		fclose(file);
	}
}

/*
 * One server selection blocks for serverSelectionTimeoutMS (30 s by
 * default) before the retry loop even sees an error, so a --retry-for
 * below that was not honoured: sync-check --retry-for 1s against a dead
 * server ran for minutes. Unless the URI says otherwise, a selection
 * waits no longer than the retry budget (at least 2 s, at most 30 s).
 */
static void
limit_server_selection(mongoc_uri_t *uri)
{
	long budget = conn_retry_for();

	if (mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS) || budget >= 30000)
		return;
	if (budget < 2000)
		budget = 2000;
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, (int32_t)budget);
}

/* Parse uri_text and add the app name and TLS options every connection gets. */
static mongoc_uri_t *
uri_prepare(const char *uri_text, const char *tls_ca_file)
{
	bson_error_t error;
	mongoc_uri_t *uri;
	char appname[64];
	char masked[1024];

	pthread_once(&init_once, driver_init);
	uri = mongoc_uri_new_with_error(uri_text, &error);
	if (uri == NULL) {
		conn_mask(uri_text, masked, sizeof(masked));
		die(EXIT_USAGE, "bad URI %s: %s", masked, error.message);
	}
	snprintf(appname, sizeof(appname), "oplogkit-%s", die_progname());
	mongoc_uri_set_appname(uri, appname);
	if (tls_ca_file != NULL) {
		mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLS, true);
		mongoc_uri_set_option_as_utf8(uri, MONGOC_URI_TLSCAFILE, tls_ca_file);
	}
	check_tls_files(uri);
	limit_server_selection(uri);
	return uri;
}

mongoc_client_t *
conn_open(const char *uri_text, const char *tls_ca_file)
{
	bson_error_t error;
	mongoc_uri_t *uri = uri_prepare(uri_text, tls_ca_file);
	mongoc_client_t *client;
	char masked[1024];

	client = mongoc_client_new_from_uri_with_error(uri, &error);
	mongoc_uri_destroy(uri);
	if (client == NULL) {
		conn_mask(uri_text, masked, sizeof(masked));
		die(EXIT_USAGE, "cannot use %s: %s", masked, error.message);
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	return client;
}

void
conn_close(mongoc_client_t *client)
{
	closing = true;
	mongoc_client_destroy(client);
	closing = false;
}

void
conn_close_pool(mongoc_client_pool_t *pool)
{
	closing = true;
	mongoc_client_pool_destroy(pool);
	closing = false;
}

mongoc_client_pool_t *
conn_open_pool(const char *uri_text, const char *tls_ca_file, int max_clients)
{
	bson_error_t error;
	mongoc_uri_t *uri = uri_prepare(uri_text, tls_ca_file);
	mongoc_client_pool_t *pool;
	char masked[1024];

	pool = mongoc_client_pool_new_with_error(uri, &error);
	mongoc_uri_destroy(uri);
	if (pool == NULL) {
		conn_mask(uri_text, masked, sizeof(masked));
		die(EXIT_USAGE, "cannot use %s: %s", masked, error.message);
	}
	mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
	if (max_clients > 0)
		mongoc_client_pool_max_size(pool, (uint32_t)max_clients);
	return pool;
}

const char *
conn_masked(mongoc_client_t *client)
{
	static __thread char masked[1024];

	conn_mask(mongoc_uri_get_string(mongoc_client_get_uri(client)), masked, sizeof(masked));
	return masked;
}

void
conn_set_retry_for(long retry_for_ms)
{
	default_retry_for_ms = retry_for_ms;
}

long
conn_retry_for(void)
{
	return default_retry_for_ms;
}

void
retry_init(retry_policy *policy, long retry_for_ms)
{
	policy->retry_for_ms = retry_for_ms;
	policy->waited_ms = 0;
	policy->next_ms = BACKOFF_FIRST_MS;
	policy->failed_at_ms = 0;
}

bool
conn_error_transient(const bson_error_t *error)
{
	static const uint32_t transient_codes[] = {
		6,	/* HostUnreachable */
		7,	/* HostNotFound */
		89,	/* NetworkTimeout */
		91,	/* ShutdownInProgress */
		189,	/* PrimarySteppedDown */
		9001,	/* SocketException */
		10107,	/* NotWritablePrimary */
		11600,	/* InterruptedAtShutdown */
		11602,	/* InterruptedDueToReplStateChange */
		13435,	/* NotPrimaryNoSecondaryOk */
		13436,	/* NotPrimaryOrSecondary */
	};
	size_t k;

	if (error->domain == MONGOC_ERROR_STREAM || error->domain == MONGOC_ERROR_SERVER_SELECTION)
		return true;
	for (k = 0; k < sizeof(transient_codes) / sizeof(transient_codes[0]); k++)
		if (error->code == transient_codes[k])
			return true;
	return false;
}

bool
retry_again(retry_policy *policy, const bson_error_t *error)
{
	struct timespec pause;

	if (!conn_error_transient(error) || cli_stop)
		return false;
	/*
	 * The budget is time since the first failure, attempts included: a
	 * failed attempt can itself take a server selection's timeout.
	 */
	if (policy->failed_at_ms == 0)
		policy->failed_at_ms = clock_ms();
	policy->waited_ms = (long)(clock_ms() - policy->failed_at_ms);
	if (policy->waited_ms >= policy->retry_for_ms)
		return false;
	pause.tv_sec = policy->next_ms / 1000;
	pause.tv_nsec = (policy->next_ms % 1000) * 1000000L;
	nanosleep(&pause, NULL);
	policy->waited_ms = (long)(clock_ms() - policy->failed_at_ms);
	policy->next_ms = policy->next_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : policy->next_ms * 2;
	return true;
}

bool
conn_command(mongoc_client_t *client, const char *db, const bson_t *command,
    bson_t *reply, bson_error_t *error)
{
	retry_policy policy;

	retry_init(&policy, default_retry_for_ms);
	for (;;) {
		if (mongoc_client_command_simple(client, db, command, NULL, reply, error))
			return true;
		if (!conn_error_transient(error))
			return false;
		if (!retry_again(&policy, error))
			die(EXIT_SERVER, "%s: %s (gave up after %ld ms)", conn_masked(client),
			    error->message, policy.waited_ms);
		bson_destroy(reply);
	}
}

static bool
oplog_edge_ts(mongoc_client_t *client, int direction, uint32_t *t, uint32_t *i, bson_error_t *error)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("sort", "{", "$natural", BCON_INT32(direction), "}",
	    "limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, &filter, opts, NULL);
	const bson_t *doc;
	bool found = false;
	bson_iter_t iter;

	if (mongoc_cursor_next(cursor, &doc) && bson_iter_init_find(&iter, doc, "ts") &&
	    BSON_ITER_HOLDS_TIMESTAMP(&iter)) {
		bson_iter_timestamp(&iter, t, i);
		found = true;
	} else if (!mongoc_cursor_error(cursor, error)) {
		bson_set_error(error, MONGOC_ERROR_QUERY, 26, "local.oplog.rs is empty or missing");
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	mongoc_collection_destroy(oplog);
	return found;
}

bool
conn_newest_ts(mongoc_client_t *client, uint32_t *t, uint32_t *i, bson_error_t *error)
{
	return oplog_edge_ts(client, -1, t, i, error);
}

bool
conn_oldest_ts(mongoc_client_t *client, uint32_t *t, uint32_t *i, bson_error_t *error)
{
	return oplog_edge_ts(client, 1, t, i, error);
}
