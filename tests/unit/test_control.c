/*
 * test_control - common/control.c: a socket path that does not fit is
 * an error naming it, never a truncated path (which names another
 * socket); a proxy that is not there is "unreachable".
 */
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "control.h"
#include "die.h"

static int failures;

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "test_control: %s\n", what);
		failures++;
	}
}

int
main(void)
{
	struct sockaddr_un address;
	char path[200], why[512], answer[64];
	enum control_result result;

	die_init("test_control");
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	check(!control_address(path, &address, why, sizeof(why)), "a 199-byte path is refused");
	check(strstr(why, "path too long") != NULL, "the refusal says the path is too long");

	result = control_request(path, "status", 1000, answer, sizeof(answer), why, sizeof(why));
	check(result == CONTROL_BAD_PATH, "a request to a too-long path is a bad path");
	check(answer[0] == '\0', "no answer for a bad path");

	path[sizeof(address.sun_path) - 1] = '\0';	/* 107 bytes: the longest that fits */
	check(control_address(path, &address, why, sizeof(why)), "a 107-byte path fits");
	check(strcmp(address.sun_path, path) == 0, "the path is copied whole");

	check(!control_address("", &address, why, sizeof(why)), "an empty path is refused");

	result = control_request("/nonexistent/oplogkit-test.sock", "status", 1000, answer,
	    sizeof(answer), why, sizeof(why));
	check(result == CONTROL_UNREACHABLE, "no proxy there is unreachable");
	check(strcmp(why, "/nonexistent/oplogkit-test.sock: No such file or directory") == 0,
	    "the reason names the path and the error");
	return failures == 0 ? 0 : 1;
}
