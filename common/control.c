/*
 * control.c - talk to entry-proxy's control socket. Written once: the
 * two copies differed, and one silently truncated a long socket path.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "control.h"

bool
control_address(const char *path, struct sockaddr_un *address, char *why, size_t size)
{
	size_t length = strlen(path);

	memset(address, 0, sizeof(*address));
	address->sun_family = AF_UNIX;
	if (length == 0 || length >= sizeof(address->sun_path)) {
		snprintf(why, size, "%s: %s (a socket path holds at most %zu bytes)", path,
		    length == 0 ? "empty path" : "path too long", sizeof(address->sun_path) - 1);
		return false;
	}
	memcpy(address->sun_path, path, length + 1);
	return true;
}

static int
connect_to(const struct sockaddr_un *address, long timeout_ms)
{
	struct timeval timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if ((timeout_ms > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) ||
	    connect(fd, (const struct sockaddr *)address, sizeof(*address)) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Write all of text; MSG_NOSIGNAL: a proxy gone mid-write is an error, not a SIGPIPE. */
static bool
send_all(int fd, const char *text, size_t length)
{
	ssize_t n;

	while (length > 0) {
		if ((n = send(fd, text, length, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		text += n;
		length -= (size_t)n;
	}
	return true;
}

/* Read up to the first newline; 0 when it came, else -1 (errno) or 1 (closed). */
static int
receive_line(int fd, char *answer, size_t size)
{
	size_t length = 0;
	ssize_t n;

	answer[0] = '\0';
	while (length + 1 < size && strchr(answer, '\n') == NULL) {
		if ((n = read(fd, answer + length, size - 1 - length)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 1;
		length += (size_t)n;
		answer[length] = '\0';
	}
	answer[strcspn(answer, "\n")] = '\0';
	return 0;
}

enum control_result
control_request(const char *path, const char *command, long timeout_ms,
    char *answer, size_t answer_size, char *why, size_t why_size)
{
	struct sockaddr_un address;
	int fd, got;

	answer[0] = '\0';
	if (!control_address(path, &address, why, why_size))
		return CONTROL_BAD_PATH;
	if ((fd = connect_to(&address, timeout_ms)) < 0 ||
	    !send_all(fd, command, strlen(command)) || !send_all(fd, "\n", 1)) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return CONTROL_UNREACHABLE;
	}
	got = receive_line(fd, answer, answer_size);
	close(fd);
	if (got != 0) {
		snprintf(why, why_size, "%s: %s", path, got > 0 ? "no answer" :
		    errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time" : strerror(errno));
		return CONTROL_UNREACHABLE;
	}
	if (strncmp(answer, "{\"ok\":true", 10) != 0) {
		snprintf(why, why_size, "%s: %s", path, answer);
		return CONTROL_REFUSED;
	}
	return CONTROL_OK;
}
