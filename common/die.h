/*
 * die.h - the one error reporter and the exit statuses of DESIGN.md.
 *
 * Every message goes to stderr as "program: what failed: why".
 * progname is set once by die_init(argv[0]).
 */
#ifndef OPLOGKIT_DIE_H
#define OPLOGKIT_DIE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * The one exit-status rule (DESIGN.md "Errors and exit status"). A
 * script reads the status alone, so each says one thing: 1 is never a
 * failure of this machine, and a failure is never 0.
 */
enum exit_status {
	EXIT_DONE = 0,		/* done; sync-check: in sync; stopped cleanly at a checkpoint */
	EXIT_DIFFERENT = 1,	/* sync-check: differences; a refusal that changed nothing
				 * (entry-switch's gate, source-retire, entry-proxy --control) */
	EXIT_USAGE = 2,		/* bad command line, or an input it names cannot be opened */
	EXIT_BAD_STREAM = 3,	/* corrupt, truncated or oversized input stream */
	EXIT_SERVER = 4,	/* server or connection error retries did not cure */
	EXIT_HISTORY_LOST = 5,	/* requested start is older than the source's oplog */
	EXIT_LOCAL = 6,		/* local failure: out of memory, disk full, cannot create or
				 * write the output, no thread, no socket */
	EXIT_STOPPED = 7,	/* stopped by SIGINT/SIGTERM with the work incomplete and no
				 * checkpoint to resume from (a snapshot without its trailer) */
	EXIT_LEASE_HELD = 8,	/* oplog-apply: another applier holds or took the checkpoint's
				 * name, or moved its checkpoint ahead */
};

/* "Cannot open input" is the same status in every program. */
#define EXIT_NO_INPUT EXIT_USAGE

/* Set the program name used as the prefix of every message. */
void die_init(const char *argv0);

/*
 * From then on, an exit while would_race() says true ends the process
 * once our own exit handlers have run, stdio flushed, without the
 * libraries' destructors (conn.c: while a client pool is open).
 */
void die_guard_exit(bool (*would_race)(void));

/* The program name set by die_init ("oplogkit" before). */
const char *die_progname(void);

/* Print "progname: message" and exit with status. */
void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Print "progname: message" and go on. */
void warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* vprintf form of warnmsg, for wrappers. */
void vwarnmsg(const char *fmt, va_list ap);

/* Allocation that cannot fail: exits EXIT_LOCAL when memory is gone. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

#endif
