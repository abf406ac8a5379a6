/*
 * entry.c - entry-switch's entry: a file rewritten or a symlink replaced
 * atomically (rename(2) beside it), or --switch-cmd; put back on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "control.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "mongo-errors.h"
#include "shell.h"
#include "switch.h"

/* ---- step 4: the switch ---- */

/* A temporary name in path's directory, so rename(2) replaces path atomically. */
static void
temp_name(const char *path, char *out, size_t size, bool pattern)
{
	char copy[PATH_MAX], copy2[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(copy2, sizeof(copy2), "%s", path);
	snprintf(out, size, "%s/.%s.entry-switch.%s", dirname(copy), basename(copy2),
	    pattern ? "XXXXXX" : "tmp");
}

static void
sync_directory(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) < 0)
		return;
	fsync(fd);	/* best effort: the rename is done either way */
	close(fd);
}

/* Write data to a temp file with the mode and owner of st, then rename over path. */
static bool
file_replace(const char *path, const char *data, size_t size, const struct stat *st,
    char *why, size_t why_size)
{
	char temp[PATH_MAX + 32];
	size_t written = 0;
	ssize_t n;
	int fd;

	temp_name(path, temp, sizeof(temp), true);
	if ((fd = mkstemp(temp)) < 0) {
		snprintf(why, why_size, "%s: a temporary file beside it: %s", path, strerror(errno));
		return false;
	}
	if (fchmod(fd, st->st_mode & 07777) != 0)
		goto fail;
	if ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
	    fchown(fd, st->st_uid, st->st_gid) != 0 && errno != EPERM)
		goto fail;
	for (; written < size; written += (size_t)n)
		if ((n = write(fd, data + written, size - written)) < 0)
			goto fail;
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(temp, path) != 0)
		goto fail;
	sync_directory(path);
	return true;
fail:
	snprintf(why, why_size, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(temp);
	return false;
}

static bool
link_replace(const char *path, const char *target, char *why, size_t size)
{
	char temp[PATH_MAX + 32];

	temp_name(path, temp, sizeof(temp), false);
	unlink(temp);
	if (symlink(target, temp) != 0 || rename(temp, path) != 0) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		unlink(temp);
		return false;
	}
	sync_directory(path);
	return true;
}

/* Read what must be put back on failure, and fail now, before anything changed. */
void
entry_prepare(struct cutover *x)
{
	FILE *file;
	ssize_t length;

	if (x->config->entry_file != NULL) {
		if (stat(x->config->entry_file, &x->old_stat) != 0)
			die(EXIT_USAGE, "--entry-file %s: %s", x->config->entry_file, strerror(errno));
		if (!S_ISREG(x->old_stat.st_mode))
			die(EXIT_USAGE, "--entry-file %s: not a regular file", x->config->entry_file);
		if (x->old_stat.st_size > ENTRY_FILE_MAX)
			die(EXIT_USAGE, "--entry-file %s: over %d bytes: not an entry", x->config->entry_file,
			    ENTRY_FILE_MAX);
		if ((file = fopen(x->config->entry_file, "rb")) == NULL)
			die(EXIT_USAGE, "--entry-file %s: %s", x->config->entry_file, strerror(errno));
		x->old_content = xmalloc((size_t)x->old_stat.st_size + 1);
		x->old_size = fread(x->old_content, 1, (size_t)x->old_stat.st_size, file);
		if (ferror(file))
			die(EXIT_USAGE, "--entry-file %s: read failed", x->config->entry_file);
		fclose(file);
	}
	if (x->config->entry_link != NULL) {
		length = readlink(x->config->entry_link, x->old_link, sizeof(x->old_link) - 1);
		if (length < 0)
			die(EXIT_USAGE, "--entry-link %s: %s", x->config->entry_link,
			    errno == EINVAL ? "not a symbolic link" : strerror(errno));
		x->old_link[length] = '\0';
	}
}

static bool
switch_file(struct cutover *x, char *why, size_t size)
{
	size_t length = strlen(x->config->entry_value);
	char *text = xmalloc(length + 2);
	bool ok;

	/* A text file ends with a newline; "$(cat f)" has lost it. */
	memcpy(text, x->config->entry_value, length);
	if (length == 0 || text[length - 1] != '\n')
		text[length++] = '\n';
	ok = file_replace(x->config->entry_file, text, length, &x->old_stat, why, size);
	x->file_replaced = ok;
	free(text);
	return ok;
}

bool
entry_switch(struct cutover *x, char *why, size_t size)
{
	char ts[32], detail[512] = "";
	bson_error_t error;
	int status;

	x->has_switch_ts = conn_newest_ts(x->target, &x->switch_ts.t, &x->switch_ts.i, &error);
	if (!x->has_switch_ts)
		warnmsg("no switch ts: the target's oplog: %s", error.message);
	ts_format(x->switch_ts, ts, sizeof(ts));
	if (x->config->proxy != NULL && !proxy_switch(x, detail, sizeof(detail), why, size))
		return false;
	if (x->config->entry_file != NULL) {
		if (!switch_file(x, why, size))
			return false;
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%sfile %s",
		    detail[0] ? ", " : "", x->config->entry_file);
	}
	if (x->config->entry_link != NULL) {
		if (!link_replace(x->config->entry_link, x->config->entry_target, why, size))
			return false;
		x->link_replaced = true;
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%slink %s",
		    detail[0] ? ", " : "", x->config->entry_link);
	}
	if (x->config->switch_cmd != NULL) {
		if (setenv("OPLOGKIT_SWITCH_TS", x->has_switch_ts ? ts : "", 1) != 0 ||
		    setenv("OPLOGKIT_CHECKPOINT_NAME", x->config->name, 1) != 0)
			die(EXIT_LOCAL, "setenv: %s", strerror(errno));
		if ((status = shell_run("--switch-cmd", x->config->switch_cmd)) != 0) {
			snprintf(why, size, "--switch-cmd failed (status %d)", status);
			return false;
		}
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%scommand",
		    detail[0] ? ", " : "");
	}
	step_done(x, STEP_SWITCH, "%s", detail);
	return true;
}

/* Put back a file or link the failed switch had replaced already. */
void
entry_restore(struct cutover *x)
{
	char why[512];

	if (x->proxy_switched)
		proxy_switch_back(x);
	if (x->file_replaced) {
		if (file_replace(x->config->entry_file, x->old_content, x->old_size, &x->old_stat, why,
		    sizeof(why)))
			x->file_replaced = false;
		else
			warnmsg("putting back the entry file: %s", why);
	}
	if (x->link_replaced) {
		if (link_replace(x->config->entry_link, x->old_link, why, sizeof(why)))
			x->link_replaced = false;
		else
			warnmsg("putting back the entry link: %s", why);
	}
}

/* atexit takes no argument: the cutover under way. */
static struct cutover *under_way;

/* An exit we did not plan (a server error mid-drain): never leave the fence up. */
static void
emergency(void)
{
	struct cutover *x = under_way;
	char why[512] = "";

	if (x == NULL)
		return;
	if (!x->fenced)
		return;
	if (x->committed && x->config->keep_fenced)
		return;
	warnmsg("exiting with the fence up: lifting it%s",
	    x->committed ? "" : " and leaving the entry as it was");
	if (!x->committed)
		entry_restore(x);
	if (!fence_down(x, why, sizeof(why)))
		warnmsg("the fence is still up%s", why);
}


/* Undo what the cutover did if the program exits before it is done. */
void
emergency_at_exit(struct cutover *x)
{
	under_way = x;
	if (atexit(emergency) != 0)
		die(EXIT_LOCAL, "atexit failed");
}
