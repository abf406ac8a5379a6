/*
 * flow.c - one direction's bytes of a session: a bounded buffer, read
 * only while it has room, written only as far as a message is admitted
 * (see session.c's invariants), so a slow peer slows its partner and
 * never grows our memory.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

/* Bytes received but not admitted: the start of the next message. */
size_t
flow_held(const struct flow *f)
{
	return f->tail - f->head - f->approved;
}

bool
flow_has_room(const struct flow *f)
{
	return f->tail < px.buffer || f->head > 0;
}

/* Read what fits; bytes read, 0 at end of file, -1 on error (errno set; EAGAIN: nothing). */
ssize_t
flow_read(struct flow *f, int fd)
{
	ssize_t n;

	if (f->tail == px.buffer && f->head > 0) {
		memmove(f->buf, f->buf + f->head, f->tail - f->head);
		f->tail -= f->head;
		f->head = 0;
	}
	if (f->tail == px.buffer) {
		errno = EAGAIN;
		return -1;
	}
	while ((n = read(fd, f->buf + f->tail, px.buffer - f->tail)) < 0 && errno == EINTR)
		continue;
	if (n > 0)
		f->tail += (size_t)n;
	return n;
}

/* The part of n new bytes that belongs to the message being received. */
size_t
flow_take(struct flow *f, size_t n)
{
	size_t take = n < f->message_left ? n : f->message_left;

	f->approved += take;
	f->message_left -= take;
	return take;
}

/* Write what is admitted; false on a broken connection. */
bool
flow_write(struct flow *f, int fd, uint64_t *counter)
{
	ssize_t n;

	if (f->approved == 0 || fd < 0)
		return true;
	while ((n = send(fd, f->buf + f->head, f->approved, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		continue;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK;
	f->head += (size_t)n;
	f->approved -= (size_t)n;
	*counter += (uint64_t)n;
	if (f->head == f->tail)
		f->head = f->tail = 0;
	return true;
}
