/*
 * lease.c - one applier per checkpoint name.
 *
 * A name is held through a lease document in oplogkit.checkpoints:
 * {_id: {lease: NAME, n: G}, lease, n, holder: "host:pid:random", host,
 * pid, expires}. The lease of NAME is the one with the highest n. Taking
 * it (none yet, expired, or its holder no longer a running oplog-apply
 * of this host) is
 * inserting generation n + 1: the unique _id lets exactly one of two
 * racing appliers win, where a conditional update would not (FerretDB
 * 1.24 runs an update as a read, then a write by _id, so two "holder
 * or expired" updates racing could both match). Only the holder writes
 * its own generation: renewing is a plain update of it, releasing sets
 * its expiry to zero.
 *
 * A thread with its own connection renews every third of the lease, so
 * an applier blocked on an idle pipe keeps its name. Expiry is each
 * host's wall clock: hosts whose clocks differ by more than the lease
 * can take a lease early.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "lag.h"

#define TAKE_ATTEMPTS 5

static struct {
	mongoc_client_t *client;	/* the renewing thread's own */
	mongoc_collection_t *coll;
	char *name;
	char holder[320], host[256];
	int64_t n;			/* our generation */
	long lease_ms;
	pthread_t thread;
	pthread_mutex_t lock;		/* held while the lease is written */
	pthread_cond_t wake;
	bool started, stop, released;
	atomic_bool lost;
	atomic_llong renewed_ms;	/* monotonic ms of the last good renewal */
	char lost_to[320];		/* who took it, once lost */
} lease = { .lock = PTHREAD_MUTEX_INITIALIZER };

static long long
monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static const char *
field_utf8(const bson_t *doc, const char *field)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, doc, field) && BSON_ITER_HOLDS_UTF8(&iter))
		return bson_iter_utf8(&iter, NULL);
	return "";
}

static int64_t
field_int(const bson_t *doc, const char *field)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, doc, field) && BSON_ITER_HOLDS_NUMBER(&iter))
		return bson_iter_as_int64(&iter);
	if (bson_iter_init_find(&iter, doc, field) && BSON_ITER_HOLDS_DATE_TIME(&iter))
		return bson_iter_date_time(&iter);
	return 0;
}

/* The current lease of the name (the highest generation) into *doc: 1, 0 when none, -1 on error. */
static int
lease_find(mongoc_collection_t *coll, bson_t *doc, bson_error_t *error)
{
	bson_t *filter = BCON_NEW("lease", BCON_UTF8(lease.name));
	bson_t *opts = BCON_NEW("sort", "{", "n", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *next;
	int found = 0;

	if (mongoc_cursor_next(cursor, &next)) {
		bson_copy_to(next, doc);
		found = 1;
	}
	if (mongoc_cursor_error(cursor, error)) {
		if (found)
			bson_destroy(doc);
		found = -1;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(filter);
	return found;
}

/* lease_find, retried; exits EXIT_SERVER when the server stays away. */
static bool
lease_current(mongoc_collection_t *coll, bson_t *doc)
{
	retry_policy policy;
	bson_error_t error;
	int found;

	retry_init(&policy, conn_retry_for());
	while ((found = lease_find(coll, doc, &error)) < 0)
		if (!retry_again(&policy, &error))
			die(EXIT_SERVER, "cannot read the lease of checkpoint '%s': %s", lease.name,
			    error.message);
	return found == 1;
}

/*
 * Whether pid, on this host, is not a running oplog-apply: gone, a zombie
 * (killed, not yet reaped: a container's init may never reap it), or its
 * number reused by another program. Without /proc only "gone" is known.
 */
static bool
process_gone(pid_t pid)
{
	char path[64], stat[512], comm[64];
	const char *state;
	FILE *file;
	size_t length;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((file = fopen(path, "r")) == NULL)
		return false;
	length = fread(stat, 1, sizeof(stat) - 1, file);
	fclose(file);
	stat[length] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'. */
	if ((state = strrchr(stat, ')')) != NULL && state[1] == ' ' && state[2] == 'Z')
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((file = fopen(path, "r")) == NULL)
		return false;
	length = fread(comm, 1, sizeof(comm) - 1, file);
	fclose(file);
	comm[length] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return length > 0 && strcmp(comm, "oplog-apply") != 0;
}

/* Whether the holder was a process of this host that is gone: it cannot renew. */
static bool
holder_dead_here(const bson_t *doc)
{
	int64_t pid = field_int(doc, "pid");

	if (strcmp(field_utf8(doc, "host"), lease.host) != 0 || pid <= 0 || pid > INT32_MAX)
		return false;
	return process_gone((pid_t)pid);
}

/* Insert our generation n; false when another applier inserted it first. */
static bool
lease_insert(mongoc_collection_t *coll, int64_t n)
{
	bson_t *doc = BCON_NEW("_id", "{", "lease", BCON_UTF8(lease.name), "n", BCON_INT64(n), "}",
	    "lease", BCON_UTF8(lease.name), "n", BCON_INT64(n), "holder", BCON_UTF8(lease.holder),
	    "host", BCON_UTF8(lease.host), "pid", BCON_INT64((int64_t)getpid()),
	    "expires", BCON_DATE_TIME(wall_ms() + lease.lease_ms));
	retry_policy policy;
	bson_error_t error;
	bool won;

	retry_init(&policy, conn_retry_for());
	while (!(won = mongoc_collection_insert_one(coll, doc, NULL, NULL, &error)))
		if (error.code == 11000 || !retry_again(&policy, &error))
			break;
	bson_destroy(doc);
	if (!won && error.code != 11000)
		die(EXIT_SERVER, "cannot take the lease of checkpoint '%s': %s", lease.name,
		    error.message);
	return won;
}

/* Exit naming the holder of doc, which is destroyed first. */
static void
refuse(bson_t *doc)
{
	char until[64], holder[320];
	time_t expires = (time_t)(field_int(doc, "expires") / 1000);
	struct tm tm;

	snprintf(holder, sizeof(holder), "%s", field_utf8(doc, "holder"));
	bson_destroy(doc);
	gmtime_r(&expires, &tm);
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	die(EXIT_LEASE_HELD, "checkpoint '%s' is held by %s until %s: another oplog-apply "
	    "--name %s is running (stop it, or wait for its lease to expire)", lease.name,
	    holder, until, lease.name);
}

/* Generations before ours are history: drop them so the collection stays small. */
static void
lease_forget_older(mongoc_collection_t *coll)
{
	bson_t *filter = BCON_NEW("lease", BCON_UTF8(lease.name), "n", "{", "$lt",
	    BCON_INT64(lease.n), "}");
	bson_error_t error;

	if (!mongoc_collection_delete_many(coll, filter, NULL, NULL, &error))
		warnmsg("checkpoint '%s': old leases left in place: %s", lease.name, error.message);
	bson_destroy(filter);
}

/* Renew our generation; then make sure no later one exists. Holding lease.lock. */
static void
lease_renew(void)
{
	bson_t *selector = BCON_NEW("_id", "{", "lease", BCON_UTF8(lease.name), "n",
	    BCON_INT64(lease.n), "}");
	bson_t *update = BCON_NEW("$set", "{", "expires",
	    BCON_DATE_TIME(wall_ms() + lease.lease_ms), "}");
	long long started = monotonic_ms();
	bson_error_t error;
	bson_t current;

	if (!mongoc_collection_update_one(lease.coll, selector, update, NULL, NULL, &error))
		goto done;	/* the next tick tries again; lease_check sees the age */
	if (lease_find(lease.coll, &current, &error) != 1)
		goto done;	/* never die here: this is not the main thread */
	if (field_int(&current, "n") != lease.n) {
		snprintf(lease.lost_to, sizeof(lease.lost_to), "%s", field_utf8(&current, "holder"));
		atomic_store(&lease.lost, true);
	} else {
		atomic_store(&lease.renewed_ms, started);
	}
	bson_destroy(&current);
done:
	bson_destroy(update);
	bson_destroy(selector);
}

static void *
renew_loop(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&lease.lock);
	while (!lease.stop && !atomic_load(&lease.lost)) {
		long long due = monotonic_ms() + lease.lease_ms / 3;
		struct timespec at = { (time_t)(due / 1000), (long)(due % 1000) * 1000000 };

		while (!lease.stop && monotonic_ms() < due)
			pthread_cond_timedwait(&lease.wake, &lease.lock, &at);
		if (!lease.stop)
			lease_renew();
	}
	pthread_mutex_unlock(&lease.lock);
	return NULL;
}

static void
release_at_exit(void)
{
	lease_release();
}

void
lease_take(const char *uri, const char *tls_ca_file, const char *name, long lease_ms)
{
	pthread_condattr_t attr;
	unsigned char random[8];
	bson_t current;
	int attempt;

	lease.name = xstrdup(name);
	lease.lease_ms = lease_ms;
	if (gethostname(lease.host, sizeof(lease.host)) != 0)
		snprintf(lease.host, sizeof(lease.host), "unknown");
	lease.host[sizeof(lease.host) - 1] = '\0';
	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
		die(EXIT_DIFFERENT, "getrandom: %s", strerror(errno));
	snprintf(lease.holder, sizeof(lease.holder), "%s:%ld:%02x%02x%02x%02x%02x%02x%02x%02x",
	    lease.host, (long)getpid(), random[0], random[1], random[2], random[3], random[4],
	    random[5], random[6], random[7]);
	lease.client = conn_open(uri, tls_ca_file);
	lease.coll = mongoc_client_get_collection(lease.client, LAG_CHECKPOINT_DB,
	    LAG_CHECKPOINT_COLLECTION);
	for (attempt = 0;; attempt++) {
		int64_t n = 0;

		if (lease_current(lease.coll, &current)) {
			if (field_int(&current, "expires") > wall_ms() && !holder_dead_here(&current))
				refuse(&current);
			n = field_int(&current, "n");
			bson_destroy(&current);
		}
		if (lease_insert(lease.coll, n + 1)) {
			lease.n = n + 1;
			break;
		}
		if (attempt == TAKE_ATTEMPTS)
			die(EXIT_LEASE_HELD, "checkpoint '%s': lost %d races for its lease", name,
			    TAKE_ATTEMPTS + 1);
	}
	atomic_store(&lease.renewed_ms, monotonic_ms());
	lease_forget_older(lease.coll);
	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&lease.wake, &attr) != 0)
		die(EXIT_DIFFERENT, "cannot set up the lease renewal");
	pthread_condattr_destroy(&attr);
	if (pthread_create(&lease.thread, NULL, renew_loop, NULL) != 0)
		die(EXIT_DIFFERENT, "cannot start the lease renewal");
	lease.started = true;
	if (atexit(release_at_exit) != 0)
		die(EXIT_DIFFERENT, "atexit failed");
}

void
lease_check(void)
{
	if (!lease.started || lease.released)
		return;
	if (atomic_load(&lease.lost))
		die(EXIT_LEASE_HELD, "checkpoint '%s': lost the lease to %s; stopping before "
		    "writing anything more", lease.name, lease.lost_to);
	if (monotonic_ms() - atomic_load(&lease.renewed_ms) >= lease.lease_ms)
		die(EXIT_LEASE_HELD, "checkpoint '%s': the lease was not renewed for %ld ms: another "
		    "applier may hold it now; stopping before writing anything more", lease.name,
		    lease.lease_ms);
}

/*
 * Stop renewing and give the name up. At exit after die() the renewing
 * thread may be stuck on a server that is gone: wait a second for it,
 * then leave the lease to expire (or to the dead-holder rule).
 */
void
lease_release(void)
{
	struct timespec deadline;
	bson_t *selector, *update;
	bson_error_t error;

	if (!lease.started || lease.released)
		return;
	lease.released = true;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	if (pthread_mutex_timedlock(&lease.lock, &deadline) != 0)
		return;
	lease.stop = true;
	pthread_cond_signal(&lease.wake);
	if (!atomic_load(&lease.lost)) {
		selector = BCON_NEW("_id", "{", "lease", BCON_UTF8(lease.name), "n",
		    BCON_INT64(lease.n), "}");
		update = BCON_NEW("$set", "{", "expires", BCON_DATE_TIME(0), "}");
		if (!mongoc_collection_update_one(lease.coll, selector, update, NULL, NULL, &error))
			warnmsg("checkpoint '%s': lease not released (it expires in %ld ms): %s",
			    lease.name, lease.lease_ms, error.message);
		bson_destroy(update);
		bson_destroy(selector);
	}
	pthread_mutex_unlock(&lease.lock);
	pthread_join(lease.thread, NULL);
	pthread_cond_destroy(&lease.wake);
	mongoc_collection_destroy(lease.coll);
	conn_close(lease.client);
	free(lease.name);
}
