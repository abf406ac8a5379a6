/*
 * die.c - the one error reporter, and allocation that cannot fail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "die.h"

static const char *progname = "oplogkit";
static bool (*exit_would_race)(void);

/*
 * Registered first, so it runs last of the exit handlers: after every
 * handler of ours (leases released, metrics written), before the
 * libraries' destructors. libmongoc's frees the driver's globals while a
 * pool's monitor threads may still read them (ASan caught it after a
 * die() with a pool open): where one is open, end here.
 */
static void
finish(int status, void *arg)
{
	(void)arg;
	if (exit_would_race != NULL && exit_would_race()) {
		fflush(NULL);
		_exit(status);
	}
}

void
die_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	progname = slash != NULL ? slash + 1 : argv0;
	if (on_exit(finish, NULL) != 0)
		die(EXIT_LOCAL, "on_exit failed");
}

void
die_guard_exit(bool (*would_race)(void))
{
	exit_would_race = would_race;
}

const char *
die_progname(void)
{
	return progname;
}

void
vwarnmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
warnmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnmsg(fmt, ap);
	va_end(ap);
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

static void *
checked(void *ptr, size_t size)
{
	if (ptr == NULL && size != 0)
		die(EXIT_LOCAL, "out of memory allocating %zu bytes", size);
	return ptr;
}

void *
xmalloc(size_t size)
{
	return checked(malloc(size), size);
}

void *
xcalloc(size_t count, size_t size)
{
	return checked(calloc(count, size), count * size);
}

void *
xrealloc(void *ptr, size_t size)
{
	return checked(realloc(ptr, size), size);
}

char *
xstrdup(const char *s)
{
	return checked(strdup(s), strlen(s) + 1);
}
