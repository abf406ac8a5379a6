/*
 * control.h - the client side of entry-proxy's control socket: one
 * command line out, one line of JSON back ({"ok":true,...} or
 * {"ok":false,"error":...}). entry-switch and `entry-proxy --control
 * PATH COMMAND` both speak through it; the proxy binds with
 * control_address too, so a path is refused the same way everywhere.
 */
#ifndef OPLOGKIT_CONTROL_H
#define OPLOGKIT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

/*
 * Fill address for the socket at path. A path that does not fit in
 * sun_path (107 bytes on Linux) is refused with why set, never
 * truncated: a shortened path names another socket.
 */
bool control_address(const char *path, struct sockaddr_un *address, char *why, size_t size);

enum control_result {
	CONTROL_OK,		/* the proxy answered {"ok":true...} */
	CONTROL_REFUSED,	/* it answered, and not ok (the answer says why) */
	CONTROL_BAD_PATH,	/* the path cannot name a socket */
	CONTROL_UNREACHABLE,	/* no proxy there, or no answer in time */
};

/*
 * Send command (one line, no newline) to the proxy at path and read its
 * answer, newline removed, into answer. timeout_ms bounds the wait for
 * the answer (0: wait for ever; a pause answers only once nothing is in
 * flight). why holds "PATH: reason" unless CONTROL_OK.
 */
enum control_result control_request(const char *path, const char *command, long timeout_ms,
    char *answer, size_t answer_size, char *why, size_t why_size);

#endif
