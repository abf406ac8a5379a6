/*
 * compare.c - source-retire's second check: sync-check from the reverse
 * stream's side finds both sides equal (rechecking what is in flight).
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
sync_check_run(struct retire *x, const char *source_uri, const char *target_uri, const char *output,
    const char *previous)
{
	const char **argv = xcalloc(x->config->select.count + 12, sizeof(*argv));
	char path[PATH_MAX];
	size_t n = 0, k;
	pid_t pid, done;
	int status;

	sync_check_path(path, sizeof(path));
	argv[n++] = "sync-check";
	argv[n++] = "--name";
	argv[n++] = x->config->reverse_name;
	argv[n++] = "-o";
	argv[n++] = output;
	if (previous != NULL) {
		argv[n++] = "--recheck";
		argv[n++] = previous;
	}
	for (k = 0; k < x->config->select.count; k++)
		argv[n++] = x->config->select.args[k];
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
bool
compare(struct retire *x, const char *source_uri, const char *target_uri)
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
	status = sync_check_run(x, source_uri, target_uri, diffs, NULL);
	for (round = 0; status == EXIT_DIFFERENT && round < x->config->rechecks && !cli_stop; round++) {
		nanosleep(&second, NULL);
		if (rename(diffs, previous) != 0)
			die(EXIT_LOCAL, "%s: rename: %s", diffs, strerror(errno));
		status = sync_check_run(x, source_uri, target_uri, diffs, previous);
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
		    "differences are in %s (oplog-show reads it)", x->config->rechecks, diffs);
	else
		warnmsg("sync-check failed (status %d)", status);
	unlink(previous);
	return false;
}

