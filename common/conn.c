/*
 * conn.c - the one connection setup: where a URI comes from, how it is
 * shown (password masked), and retrying with backoff.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "die.h"
#include "metrics.h"
#include "reach.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define DEFAULT_RETRY_FOR_MS 60000

/*
 * Retrying is said, not silent: the first failure of an outage at once,
 * then a line every REPORT_EVERY_MS (a fifth of the budget, so a short
 * budget says something too, but at most 30 s), whoever is retrying.
 */
#define REPORT_EVERY_MAX_MS 30000
#define REPORT_EVERY_MIN_MS 1000
#define REPORTS_KEPT 8

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static long default_retry_for_ms = DEFAULT_RETRY_FOR_MS;
static __thread bool closing;	/* conn_close is destroying a client */
static atomic_int pools_open;	/* pools whose monitor threads may run */

static void
log_handler(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)data;
	/* The driver's chatter (debug, info, trace) is not for users. */
	if (level <= MONGOC_LOG_LEVEL_WARNING && !closing)
		warnmsg("%s: %s", domain, message);
}

/* A pool's monitor threads outlive an exit() unless it was destroyed. */
static bool
pool_threads_may_run(void)
{
	return atomic_load(&pools_open) > 0;
}

static void
driver_init(void)
{
	mongoc_init();
	mongoc_log_set_handler(log_handler, NULL);
	die_guard_exit(pool_threads_may_run);
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

/*
 * A host that takes the connection and never answers (a firewall that
 * drops, a hung server) holds each attempt for connectTimeoutMS, 10 s by
 * default: oplog-read --now --retry-for 3s took 13 s. Unless the URI says
 * otherwise, an attempt gets at most half the budget (at least 1 s), so
 * a short budget sees two attempts and ends on time.
 */
static void
limit_connect(mongoc_uri_t *uri)
{
	long limit = conn_retry_for() / 2;

	if (mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS) || limit >= 10000)
		return;
	if (limit < 1000)
		limit = 1000;
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, (int32_t)limit);
}

/*
 * The hosts of the URIs opened, for a failure whose message names none
 * (a connection dropped mid-command): "" before any, NULL once two
 * different lists were opened (then "the server" is all we can say).
 */
static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;
static char opened_hosts[512];
static bool opened_several;

static void
hosts_of(const mongoc_uri_t *uri, char *out, size_t size)
{
	const mongoc_host_list_t *host;
	size_t used = 0;

	out[0] = '\0';
	for (host = mongoc_uri_get_hosts(uri); host != NULL && used < size; host = host->next) {
		int n = snprintf(out + used, size - used, "%s%s", used > 0 ? "," : "",
		    host->host_and_port);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static void
hosts_remember(const mongoc_uri_t *uri)
{
	char hosts[sizeof(opened_hosts)];

	hosts_of(uri, hosts, sizeof(hosts));
	pthread_mutex_lock(&hosts_lock);
	if (opened_hosts[0] == '\0')
		snprintf(opened_hosts, sizeof(opened_hosts), "%s", hosts);
	else if (strcmp(opened_hosts, hosts) != 0)
		opened_several = true;
	pthread_mutex_unlock(&hosts_lock);
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
	limit_connect(uri);
	hosts_remember(uri);
	return uri;
}

/* libmongoc refused the URI uri_prepare checked: a usage error, password masked. */
static void __attribute__((noreturn))
die_unusable(const char *uri_text, const bson_error_t *error)
{
	char masked[1024];

	conn_mask(uri_text, masked, sizeof(masked));
	die(EXIT_USAGE, "cannot use %s: %s", masked, error->message);
}

mongoc_client_t *
conn_open(const char *uri_text, const char *tls_ca_file)
{
	bson_error_t error;
	mongoc_uri_t *uri = uri_prepare(uri_text, tls_ca_file);
	mongoc_client_t *client;

	client = mongoc_client_new_from_uri_with_error(uri, &error);
	mongoc_uri_destroy(uri);
	if (client == NULL)
		die_unusable(uri_text, &error);
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
	atomic_fetch_sub(&pools_open, 1);
}

mongoc_client_pool_t *
conn_open_pool(const char *uri_text, const char *tls_ca_file, int max_clients)
{
	bson_error_t error;
	mongoc_uri_t *uri = uri_prepare(uri_text, tls_ca_file);
	mongoc_client_pool_t *pool;

	pool = mongoc_client_pool_new_with_error(uri, &error);
	mongoc_uri_destroy(uri);
	if (pool == NULL)
		die_unusable(uri_text, &error);
	atomic_fetch_add(&pools_open, 1);
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
conn_describe(const bson_error_t *error, mongoc_client_t *client, char *out, size_t size)
{
	char hosts[sizeof(opened_hosts)];

	if (client != NULL) {
		hosts_of(mongoc_client_get_uri(client), hosts, sizeof(hosts));
	} else {
		pthread_mutex_lock(&hosts_lock);
		snprintf(hosts, sizeof(hosts), "%s", opened_several ? "" : opened_hosts);
		pthread_mutex_unlock(&hosts_lock);
	}
	return reach_describe(error, hosts, out, size);
}

static long
report_every_ms(long budget_ms)
{
	long every = budget_ms / 5;

	if (every < REPORT_EVERY_MIN_MS)
		return REPORT_EVERY_MIN_MS;
	return every > REPORT_EVERY_MAX_MS ? REPORT_EVERY_MAX_MS : every;
}

/*
 * Whether a failure is due to be said now, and what to say. Shared by
 * every thread and retry loop: eight partitions losing one server make
 * one line, not eight. A failure is known by who failed (its text up to
 * the reason); between two lines its text is the last one that named a
 * reason, so a passing "No servers yet eligible for rescan" (the
 * driver's pause between two attempts) does not hide "connection refused".
 */
static bool
report_due(char *what, size_t size, bool named, long every_ms)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct {
		char who[256];
		char what[512];
		long long said_ms;
	} said[REPORTS_KEPT];
	static size_t next;
	long long now = clock_ms();
	size_t who_length = strcspn(what, "(");
	char who[256];
	bool due = true;
	size_t k;

	snprintf(who, sizeof(who), "%.*s", (int)who_length, what);
	pthread_mutex_lock(&lock);
	for (k = 0; k < REPORTS_KEPT; k++) {
		if (said[k].said_ms == 0 || strcmp(said[k].who, who) != 0)
			continue;
		if (named)
			snprintf(said[k].what, sizeof(said[k].what), "%.*s",
			    (int)sizeof(said[k].what) - 1, what);
		due = now - said[k].said_ms >= every_ms;
		if (due) {
			said[k].said_ms = now;
			snprintf(what, size, "%s", said[k].what);
		}
		break;
	}
	if (k == REPORTS_KEPT) {
		snprintf(said[next].who, sizeof(said[next].who), "%s", who);
		snprintf(said[next].what, sizeof(said[next].what), "%.*s",
		    (int)sizeof(said[next].what) - 1, what);
		said[next].said_ms = now;
		next = (next + 1) % REPORTS_KEPT;
	}
	pthread_mutex_unlock(&lock);
	return due;
}

/* Say the failure: at its first, then every so often while it lasts. */
static void
retry_report(const retry_policy *policy, const bson_error_t *error, bool first)
{
	char what[512], budget[32], waited[32], left[32];
	bool named = conn_describe(error, NULL, what, sizeof(what));

	if (!report_due(what, sizeof(what), named, report_every_ms(policy->retry_for_ms)))
		return;
	reach_duration(policy->retry_for_ms, budget, sizeof(budget));
	if (first) {
		warnmsg("%s; retrying for %s", what, budget);
		return;
	}
	reach_duration(policy->waited_ms, waited, sizeof(waited));
	reach_duration(policy->retry_for_ms - policy->waited_ms, left, sizeof(left));
	warnmsg("%s, for %s now; retrying for %s more", what, waited, left);
}

bool
retry_again(retry_policy *policy, const bson_error_t *error)
{
	struct timespec pause;
	bool first;

	if (!conn_error_transient(error) || cli_stop)
		return false;
	/*
	 * The budget is time since the first failure, attempts included: a
	 * failed attempt can itself take a server selection's timeout.
	 */
	first = policy->failed_at_ms == 0;
	if (first)
		policy->failed_at_ms = clock_ms();
	policy->waited_ms = (long)(clock_ms() - policy->failed_at_ms);
	if (policy->waited_ms >= policy->retry_for_ms)
		return false;
	retry_report(policy, error, first);
	metrics_count_retry();
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
	char what[512], waited[32];

	retry_init(&policy, default_retry_for_ms);
	for (;;) {
		if (mongoc_client_command_simple(client, db, command, NULL, reply, error)) {
			if (policy.failed_at_ms != 0) {
				reach_duration((long)(clock_ms() - policy.failed_at_ms), waited, sizeof(waited));
				warnmsg("%s: answering again after %s", conn_masked(client), waited);
			}
			return true;
		}
		if (!conn_error_transient(error))
			return false;
		if (!retry_again(&policy, error)) {
			conn_describe(error, client, what, sizeof(what));
			reach_duration(policy.waited_ms, waited, sizeof(waited));
			die(EXIT_SERVER, "%s; gave up after %s (--retry-for)", what, waited);
		}
		bson_destroy(reply);
	}
}

/*
 * The ts of the oplog's first (direction 1) or last (-1) entry. The first
 * is asked with no sort: a capped collection's natural order is oldest
 * first on every server, and a sort makes FerretDB read the whole oplog
 * where a plain find stops after one entry.
 */
static bool
oplog_edge_ts(mongoc_client_t *client, int direction, uint32_t *t, uint32_t *i, bson_error_t *error)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "ts", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bool found = false;
	bson_iter_t iter;

	if (direction < 0)
		BCON_APPEND(opts, "sort", "{", "$natural", BCON_INT32(direction), "}");
	cursor = mongoc_collection_find_with_opts(oplog, &filter, opts, NULL);
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
