/*
 * source-retire - drop the migrated namespaces from the old cluster, and
 * only those, once nothing can still need them.
 *
 * In order: list the selected namespaces of the source with their
 * document counts (the plan); without --yes or --dry-run stop there.
 * Then refuse, dropping nothing, when the source took writes on those
 * namespaces after the switch (--since: the source's own ts then, as its
 * oplog counts them; the target's switch-ts is another clock) and no
 * reverse stream accounts for them (a sign that an application still
 * writes there), or when sync-check, run as a child on the same
 * selection, finds the two sides different. Only then run --stop-cmd (what stops the reverse stream,
 * which would otherwise bring the dropped data back) and drop each
 * namespace, reporting its count.
 *
 * A reverse stream is the oplog-apply that keeps the source current from
 * the target; its checkpoint lives in oplogkit.checkpoints on the source.
 * Another host's process cannot be seen from here, so "running" is read
 * from what it leaves behind: a checkpoint written within --fresh, or one
 * that has reached the target's newest oplog entry (an idle applier
 * writes none, and then has nothing left to bring over).
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
#include "options.h"
#include "shell.h"


/* One namespace to drop: its name, documents, writes after --since. */
struct victim {
	char *ns;
	int64_t documents;
	int64_t writes;
};

struct plan {
	struct victim *items;
	size_t count, size;
	int64_t documents, writes, other_writes;
};

static struct {
	struct conn_options conn;
	const char *reverse_name, *stop_cmd;
	timestamp_t since;
	bool has_since, yes, dry_run;
	long fresh_ms, rechecks;
	ns_filter *filter;
	struct ns_select select;	/* and its options as given, for sync-check */
} opt = {
	.reverse_name = "default", .fresh_ms = 60 * 1000, .rechecks = 5,
};

static void read_command_line(int argc, char **argv, const char **source, const char **target);
static void plan_list(mongoc_client_t *source, struct plan *plan);
static void plan_count(mongoc_client_t *source, struct plan *plan);
static void plan_print(const struct plan *plan);
static bool writes_check(mongoc_client_t *source, mongoc_client_t *target, struct plan *plan);
static bool compare(const char *source_uri, const char *target_uri);
static bool drop_all(mongoc_client_t *source, const struct plan *plan);
static int retire(mongoc_client_t *source, mongoc_client_t *target, struct plan *plan,
    const char *source_uri, const char *target_uri);

int
main(int argc, char **argv)
{
	struct plan plan = { NULL, 0, 0, 0, 0, 0 };
	mongoc_client_t *source, *target;
	const char *source_arg, *target_arg;
	char *source_uri, *target_uri;
	size_t k;
	int status;

	die_init(argv[0]);
	opt.filter = ns_filter_new();
	ns_filter_use_defaults(opt.filter);
	opt.select.filter = opt.filter;
	read_command_line(argc, argv, &source_arg, &target_arg);
	source_uri = conn_uri_resolve(source_arg, opt.conn.source_file, "OPLOGKIT_SOURCE_URI");
	target_uri = conn_uri_resolve(target_arg, opt.conn.target_file, "OPLOGKIT_TARGET_URI");
	source = conn_open(source_uri, opt.conn.tls_ca_file);
	target = conn_open(target_uri, opt.conn.tls_ca_file);
	cli_catch_signals();

	plan_list(source, &plan);
	status = retire(source, target, &plan, source_uri, target_uri);
	for (k = 0; k < plan.count; k++)
		free(plan.items[k].ns);
	free(plan.items);
	conn_close(source);
	conn_close(target);
	ns_filter_free(opt.filter);
	free(opt.select.args);
	free(source_uri);
	free(target_uri);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_LOCAL, "stdout: write failed");
	return status;
}

/* Everything after the listing; a refusal returns EXIT_DIFFERENT, said on stderr. */
static int
retire(mongoc_client_t *source, mongoc_client_t *target, struct plan *plan,
    const char *source_uri, const char *target_uri)
{
	if (plan->count == 0) {
		printf("nothing to retire: no selected namespace on the source\n");
		return EXIT_DONE;
	}
	if (!opt.yes && !opt.dry_run) {
		plan_count(source, plan);
		plan_print(plan);
		fflush(stdout);
		warnmsg("refused: give --yes to drop these %zu namespaces (%" PRId64 " documents), "
		    "--dry-run to check first; nothing dropped", plan->count, plan->documents);
		return EXIT_DIFFERENT;
	}
	if (!writes_check(source, target, plan) || !compare(source_uri, target_uri)) {
		warnmsg("refused; nothing dropped");
		return EXIT_DIFFERENT;
	}
	if (opt.dry_run) {
		/* Counted after the checks: what they compared, not what was there before. */
		plan_count(source, plan);
		plan_print(plan);
		printf("dry run: %zu namespaces, %" PRId64 " documents; nothing dropped\n",
		    plan->count, plan->documents);
		return EXIT_DONE;
	}
	return drop_all(source, plan) ? EXIT_DONE : EXIT_DIFFERENT;
}

/* Remember a selection option to hand it on to sync-check. */
static void
parse_since(const char *name, const char *text, void *unused)
{
	(void)unused;
	if (!ts_parse(text, &opt.since))
		die(EXIT_USAGE, "%s: not a timestamp: %s", name, text);
	opt.has_since = true;
}

/* The SOURCE TARGET operands, or NULLs. */
static void
read_command_line(int argc, char **argv, const char **source, const char **target)
{
	static const struct program program = {
		.name = "source-retire",
		.synopsis = "--since TS [--yes | --dry-run] [options] [SOURCE TARGET]",
		.summary = "Drop the migrated namespaces from the old cluster (SOURCE) once it is safe:\n"
		    "no writes there after the switch but the reverse stream's, and a final\n"
		    "sync-check finds both sides equal. Without --yes only lists them.",
		.details = "SOURCE and TARGET default to --source-uri-file's and --target-uri-file's,\n"
		    "else $OPLOGKIT_SOURCE_URI and $OPLOGKIT_TARGET_URI.\n",
		.min_operands = 0, .max_operands = 2,
	};
	const struct option_def table[] = {
		OPT_CALL(0, "since", "TS", parse_since, NULL,
		    "the source's ts at the switch (entry-switch's drain line)"),
		OPT_BOOL(0, "yes", &opt.yes, "drop them"),
		OPT_BOOL(0, "dry-run", &opt.dry_run, "run every check, list what would go, drop nothing"),
		OPT_NS_SELECT(&opt.select),
		OPT_STRING(0, "reverse-name", "NAME", &opt.reverse_name,
		    "the reverse stream's checkpoint on SOURCE (default)"),
		OPT_DURATION(0, "fresh", "DUR", &opt.fresh_ms, "a checkpoint this recent means it runs (60s)"),
		OPT_NUMBER(0, "rechecks", "N", &opt.rechecks, 0, LONG_MAX,
		    "rechecks of differences still in flight (5)"),
		OPT_STRING(0, "stop-cmd", "CMD", &opt.stop_cmd,
		    "run before the first drop (sh -c), to stop the reverse stream"),
		OPT_CONNECTIONS(&opt.conn),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	if (argc - first == 1) {
		warnmsg("give both SOURCE and TARGET, or neither (then the files or environment)");
		options_usage_error(&program);
	}
	*source = first < argc ? argv[first] : NULL;
	*target = first < argc ? argv[first + 1] : NULL;
	if (opt.yes && opt.dry_run)
		die(EXIT_USAGE, "--yes and --dry-run: choose one");
	/* Without the switch ts there is no telling who wrote to the source. */
	if (!opt.has_since)
		die(EXIT_USAGE, "--since: the source's ts at the switch is required (entry-switch's "
		    "drain line)");
}

/* ---- the plan: selected namespaces and their counts ---- */

static int
compare_victims(const void *a, const void *b)
{
	return strcmp(((const struct victim *)a)->ns, ((const struct victim *)b)->ns);
}

static int64_t
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
plan_database(mongoc_client_t *client, const char *db, struct plan *plan)
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
		if (ns_match(opt.filter, ns) && is_droppable(info, bson_iter_utf8(&iter, NULL)))
			plan_add(plan, ns);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: listCollections on %s: %s", conn_masked(client), db,
		    error.message);
	mongoc_cursor_destroy(cursor);
	mongoc_database_destroy(database);
}

static void
plan_list(mongoc_client_t *source, struct plan *plan)
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
		if (ns_match_database(opt.filter, bson_iter_utf8(&name, NULL)))
			plan_database(source, bson_iter_utf8(&name, NULL), plan);
	}
	bson_destroy(&reply);
	bson_destroy(command);
	if (plan->count > 0)
		qsort(plan->items, plan->count, sizeof(*plan->items), compare_victims);
}

static void
plan_count(mongoc_client_t *source, struct plan *plan)
{
	size_t k;

	plan->documents = 0;
	for (k = 0; k < plan->count; k++) {
		plan->items[k].documents = count_documents(source, plan->items[k].ns);
		plan->documents += plan->items[k].documents;
	}
}

static void
plan_print(const struct plan *plan)
{
	size_t k;

	for (k = 0; k < plan->count; k++)
		printf("would drop %s %" PRId64 " documents\n", plan->items[k].ns,
		    plan->items[k].documents);
}

/* ---- check 1: writes on the source after the switch ---- */

static struct victim *
plan_find(struct plan *plan, const char *ns)
{
	struct victim key = { (char *)ns, 0, 0 };

	if (plan->count == 0)
		return NULL;
	return bsearch(&key, plan->items, plan->count, sizeof(*plan->items), compare_victims);
}

static void
count_write(struct plan *plan, const char *ns)
{
	struct victim *victim;
	char db[256];

	/* dropDatabase names "db.*": it touches whatever we would drop there. */
	if (strlen(ns) > 2 && strcmp(ns + strlen(ns) - 2, ".*") == 0) {
		ns_database(ns, db, sizeof(db));
		if (!ns_match_database(opt.filter, db))
			return;
	} else if (!ns_match(opt.filter, ns)) {
		return;
	}
	plan->writes++;
	if ((victim = plan_find(plan, ns)) != NULL)
		victim->writes++;
	else
		plan->other_writes++;	/* a namespace gone since, or a whole database */
}

/* Count the entry's writes on selected namespaces, applyOps' inner ones included. */
static void
entry_count_writes(struct plan *plan, const bson_t *entry)
{
	const char *op = entry_op(entry);
	char names[2][256];
	bson_iter_t iter, ops;
	int k, n;

	if (strcmp(op, "i") == 0 || strcmp(op, "u") == 0 || strcmp(op, "d") == 0) {
		count_write(plan, entry_ns(entry));
		return;
	}
	if (strcmp(op, "c") != 0)
		return;
	if (strcmp(entry_command(entry), "applyOps") == 0) {
		if (!bson_iter_init(&iter, entry) || !bson_iter_find_descendant(&iter, "o.applyOps", &ops) ||
		    !BSON_ITER_HOLDS_ARRAY(&ops) || !bson_iter_recurse(&ops, &iter))
			return;
		while (bson_iter_next(&iter)) {
			const uint8_t *data;
			uint32_t length;
			bson_t inner;

			if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
				continue;
			bson_iter_document(&iter, &length, &data);
			if (bson_init_static(&inner, data, length))
				entry_count_writes(plan, &inner);
		}
		return;
	}
	n = command_namespaces(entry, names);
	for (k = 0; k < n; k++)
		count_write(plan, names[k]);
}

/* Scan the source's oplog after --since. False with a message when it cannot tell. */
static bool
scan_oplog(mongoc_client_t *source, struct plan *plan)
{
	mongoc_collection_t *oplog = mongoc_client_get_collection(source, "local", "oplog.rs");
	bson_t *filter = BCON_NEW("ts", "{", "$gt", BCON_TIMESTAMP(opt.since.t, opt.since.i), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(oplog, filter, NULL, NULL);
	timestamp_t oldest;
	const bson_t *entry;
	bson_error_t error;
	char ts[32];

	/* History older than the switch is gone: writes may be gone with it. */
	if (!conn_oldest_ts(source, &oldest.t, &oldest.i, &error))
		die(EXIT_SERVER, "%s: the oplog: %s", conn_masked(source), error.message);
	if (ts_compare(oldest, opt.since) > 0) {
		warnmsg("the source's oplog starts at %s, after the switch ts: cannot tell what it "
		    "took since", ts_format(oldest, ts, sizeof(ts)));
		mongoc_cursor_destroy(cursor);
		bson_destroy(filter);
		mongoc_collection_destroy(oplog);
		return false;
	}
	while (mongoc_cursor_next(cursor, &entry))
		entry_count_writes(plan, entry);
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: reading local.oplog.rs: %s", conn_masked(source), error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	mongoc_collection_destroy(oplog);
	return true;
}

/* The reverse checkpoint's ts and wall (ms); false when there is none. */
static bool
reverse_checkpoint(mongoc_client_t *source, timestamp_t *ts, int64_t *wall_ms)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(source, LAG_CHECKPOINT_DB,
	    LAG_CHECKPOINT_COLLECTION);
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(opt.reverse_name));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	bson_error_t error;
	bson_iter_t iter;
	bool found = false;

	*wall_ms = 0;
	if (mongoc_cursor_next(cursor, &doc)) {
		*ts = entry_ts(doc);
		found = true;
		if (bson_iter_init_find(&iter, doc, "wall") && BSON_ITER_HOLDS_DATE_TIME(&iter))
			*wall_ms = bson_iter_date_time(&iter);
	}
	if (mongoc_cursor_error(cursor, &error))
		die(EXIT_SERVER, "%s: reading checkpoint %s: %s", conn_masked(source),
		    opt.reverse_name, error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	return found;
}

/*
 * Whether a reverse stream runs, by its traces: its checkpoint on the
 * source is recent, or it has reached the target's newest entry.
 */
static bool
reverse_running(mongoc_client_t *source, mongoc_client_t *target)
{
	timestamp_t checkpoint, newest;
	int64_t wall_ms, age_ms;
	bson_error_t error;
	char ts[32], top[32];

	if (!reverse_checkpoint(source, &checkpoint, &wall_ms)) {
		warnmsg("no reverse stream: no checkpoint %s in %s.%s on the source", opt.reverse_name,
		    LAG_CHECKPOINT_DB, LAG_CHECKPOINT_COLLECTION);
		return false;
	}
	if (!conn_newest_ts(target, &newest.t, &newest.i, &error))
		die(EXIT_SERVER, "%s: the oplog: %s", conn_masked(target), error.message);
	age_ms = (int64_t)time(NULL) * 1000 - wall_ms;
	ts_format(checkpoint, ts, sizeof(ts));
	ts_format(newest, top, sizeof(top));
	if (ts_compare(checkpoint, newest) >= 0) {
		warnmsg("reverse stream %s: caught up (checkpoint %s, target newest %s)",
		    opt.reverse_name, ts, top);
		return true;
	}
	if (wall_ms > 0 && age_ms < opt.fresh_ms) {
		warnmsg("reverse stream %s: running (checkpoint %s written %" PRId64 " ms ago)",
		    opt.reverse_name, ts, age_ms);
		return true;
	}
	warnmsg("reverse stream %s: not running (checkpoint %s written %" PRId64 " s ago, "
	    "target newest %s)", opt.reverse_name, ts, age_ms / 1000, top);
	return false;
}

static bool
writes_check(mongoc_client_t *source, mongoc_client_t *target, struct plan *plan)
{
	char ts[32];
	size_t k;

	if (!scan_oplog(source, plan))
		return false;
	ts_format(opt.since, ts, sizeof(ts));
	if (plan->writes == 0) {
		warnmsg("no writes on the selected namespaces after %s", ts);
		return true;
	}
	warnmsg("%" PRId64 " writes on the selected namespaces after %s", plan->writes, ts);
	if (reverse_running(source, target))
		return true;
	for (k = 0; k < plan->count; k++)
		if (plan->items[k].writes > 0)
			warnmsg("  %s: %" PRId64 " writes", plan->items[k].ns, plan->items[k].writes);
	if (plan->other_writes > 0)
		warnmsg("  elsewhere (dropped or whole databases): %" PRId64 " writes",
		    plan->other_writes);
	warnmsg("the source took writes after the switch and no reverse stream accounts for "
	    "them: something may still write there");
	return false;
}

/* ---- check 2: sync-check ---- */

/* sync-check beside this program (a build tree, an install), else on PATH. */
static void
sync_check_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	snprintf(out, size, "sync-check");
	if (length <= 0)
		return;
	self[length] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	if ((size_t)snprintf(out, size, "%s/sync-check", self) >= size || access(out, X_OK) != 0)
		snprintf(out, size, "sync-check");
}

/*
 * Run sync-check writing its differences to output (rechecking previous
 * when set); its exit status, -1 when it could not run or died. The URIs
 * go by the environment, never argv, which ps shows. The comparison is
 * made from the reverse stream's side, as its applier sees it: the target
 * as source, the source as target, so the lag line is that stream's.
 */
static int
sync_check_run(const char *source_uri, const char *target_uri, const char *output,
    const char *previous)
{
	const char **argv = xcalloc(opt.select.count + 12, sizeof(*argv));
	char path[PATH_MAX];
	size_t n = 0, k;
	pid_t pid, done;
	int status;

	sync_check_path(path, sizeof(path));
	argv[n++] = "sync-check";
	argv[n++] = "--name";
	argv[n++] = opt.reverse_name;
	argv[n++] = "-o";
	argv[n++] = output;
	if (previous != NULL) {
		argv[n++] = "--recheck";
		argv[n++] = previous;
	}
	for (k = 0; k < opt.select.count; k++)
		argv[n++] = opt.select.args[k];
	argv[n] = NULL;
	fflush(stdout);
	if ((pid = fork()) < 0) {
		warnmsg("sync-check: fork: %s", strerror(errno));
		free(argv);
		return -1;
	}
	if (pid == 0) {
		if (setenv("OPLOGKIT_SOURCE_URI", target_uri, 1) != 0 ||
		    setenv("OPLOGKIT_TARGET_URI", source_uri, 1) != 0)
			_exit(127);
		execvp(path, (char *const *)argv);
		fprintf(stderr, "%s: %s: %s\n", die_progname(), path, strerror(errno));
		_exit(127);
	}
	free(argv);
	while ((done = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		continue;
	if (done < 0) {
		warnmsg("sync-check: waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		warnmsg("sync-check: killed by signal %d", WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}

/*
 * The final comparison, rechecking what a reverse stream may still have
 * in flight. Differences that stay are kept in a file for the operator.
 */
static bool
compare(const char *source_uri, const char *target_uri)
{
	const char *tmpdir = getenv("TMPDIR");
	char template[PATH_MAX], diffs[PATH_MAX + 16], previous[PATH_MAX + 16];
	struct timespec second = { 1, 0 };
	long round;
	int status;

	if (tmpdir == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	if ((size_t)snprintf(template, sizeof(template), "%s/source-retire.XXXXXX", tmpdir) >=
	    sizeof(template))
		die(EXIT_LOCAL, "TMPDIR: too long");
	if (mkdtemp(template) == NULL)
		die(EXIT_LOCAL, "%s: mkdtemp: %s", template, strerror(errno));
	snprintf(diffs, sizeof(diffs), "%s/diffs.bson", template);
	snprintf(previous, sizeof(previous), "%s/previous.bson", template);

	warnmsg("final comparison as the reverse stream sees it: sync-check's source is the "
	    "target, its target this source");
	status = sync_check_run(source_uri, target_uri, diffs, NULL);
	for (round = 0; status == EXIT_DIFFERENT && round < opt.rechecks && !cli_stop; round++) {
		nanosleep(&second, NULL);
		if (rename(diffs, previous) != 0)
			die(EXIT_LOCAL, "%s: rename: %s", diffs, strerror(errno));
		status = sync_check_run(source_uri, target_uri, diffs, previous);
	}
	if (status == EXIT_DONE) {
		unlink(diffs);
		unlink(previous);
		rmdir(template);
		return true;
	}
	if (status == EXIT_SERVER)
		die(EXIT_SERVER, "sync-check could not reach a server; nothing dropped");
	if (status == EXIT_DIFFERENT)
		warnmsg("sync-check: the source and the target differ (after %ld rechecks); the "
		    "differences are in %s (oplog-show reads it)", opt.rechecks, diffs);
	else
		warnmsg("sync-check failed (status %d)", status);
	unlink(previous);
	return false;
}

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
drop_all(mongoc_client_t *source, const struct plan *plan)
{
	int64_t documents, total = 0;
	bson_error_t error;
	size_t k;
	int status;

	if (opt.stop_cmd != NULL && (status = shell_run("--stop-cmd", opt.stop_cmd)) != 0) {
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
