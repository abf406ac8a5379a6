/*
 * session.c - one client connection and its upstream connection: their
 * life (accept, close, reap), their events, each step that moves their
 * bytes (flows in flow.c, message boundaries in admit.c), and leaving an
 * old server at a boundary after a switch.
 *
 * Invariants: a request is admitted (may be written upstream) only when
 * the request before it is written whole, so everything not admitted was
 * seen by no server; a message being received is always all admitted
 * (message_left > 0 implies approved == tail - head); an upstream
 * connection is closed on purpose only between replies with nothing in
 * flight, so no server ever sees half a request and no client half a reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "die.h"
#include "proxy.h"

/* ---- sessions ---- */

void
session_close(struct session *s, const char *why)
{
	if (s->dead)
		return;
	if (why != NULL)
		warnmsg("client %s: %s: connection closed", s->peer, why);
	endpoint_close(&s->client);
	endpoint_close(&s->upstream);
	s->dead = true;
	px.session_count--;
	if (px.accept_blocked && px.listener.fd >= 0) {
		px.accept_blocked = false;
		rewatch(&px.listener, EPOLLIN);
	}
}

static struct session *
session_new(int fd)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->client = (struct endpoint){ EP_CLIENT, fd, 0, s };
	s->upstream = (struct endpoint){ EP_UPSTREAM, -1, 0, s };
	/* Large allocations are mapped lazily: an idle session costs little. */
	s->request.buf = xmalloc(px.buffer);
	s->reply.buf = xmalloc(px.buffer);
	peer_name(fd, s->peer, sizeof(s->peer));
	s->next = px.sessions;
	if (px.sessions != NULL)
		px.sessions->prev = s;
	px.sessions = s;
	px.session_count++;
	px.accepted++;
	watch(&s->client, EPOLLIN);
	return s;
}

void
accept_clients(void)
{
	int fd;

	while (px.listener.fd >= 0) {
		fd = accept4(px.listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Wait for a session to end rather than spin on the backlog. */
				warnmsg("accept: %s: waiting for a connection to close", strerror(errno));
				px.accept_blocked = true;
				rewatch(&px.listener, 0);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				warnmsg("accept: %s", strerror(errno));
			}
			return;
		}
		no_delay(fd);
		session_step(session_new(fd));
	}
}

void
sessions_reap(void)
{
	struct session *s, *next;

	for (s = px.sessions; s != NULL; s = next) {
		next = s->next;
		if (!s->dead)
			continue;
		if (s->prev != NULL)
			s->prev->next = s->next;
		else
			px.sessions = s->next;
		if (s->next != NULL)
			s->next->prev = s->prev;
		free(s->request.buf);
		free(s->reply.buf);
		free(s);
	}
}

void
sessions_close_all(void)
{
	struct session *s;

	for (s = px.sessions; s != NULL; s = s->next)
		session_close(s, NULL);
	sessions_reap();
}

/* ---- leaving an old upstream ---- */

/* A switched session at a boundary with nothing in flight lets its old server go. */
static void
leave_old_upstream(struct session *s)
{
	/* TLS: nothing in flight is all a boundary can be. */
	if (!s->moving || s->awaiting > 0 || s->reply.message_left > 0 ||
	    flow_held(&s->reply) > 0 || s->request.approved > 0 || s->request.message_left > 0)
		return;
	endpoint_close(&s->upstream);
	s->connecting = false;
	s->moving = false;
	if (s->streaming || s->authenticated) {
		/* An exhaust stream cannot go on elsewhere; credentials were the old server's. */
		s->closing = true;
		px.closed_at_switch++;
		if (px.verbose)
			warnmsg("client %s: %s: closing between messages", s->peer,
			    s->streaming ? "exhaust stream" : "authenticated");
		return;
	}
	px.moved++;
}

size_t
sessions_switch(void)
{
	struct session *s;
	size_t moving = 0;

	for (s = px.sessions; s != NULL; s = s->next) {
		if (s->dead || s->upstream.fd < 0)
			continue;
		if (s->connecting) {
			/* Nothing was sent on it: connect again, to the new one. */
			endpoint_close(&s->upstream);
			s->connecting = false;
			session_step(s);
			continue;
		}
		s->moving = true;
		moving++;
		session_step(s);
	}
	return moving;
}

void
sessions_resume(void)
{
	struct session *s;

	for (s = px.sessions; s != NULL; s = s->next)
		session_step(s);
}

size_t
sessions_in_flight(void)
{
	struct session *s;
	size_t count = 0;

	for (s = px.sessions; s != NULL; s = s->next)
		if (!s->dead && (s->awaiting > 0 || s->request.approved > 0 ||
		    s->request.message_left > 0))
			count++;
	return count;
}

size_t
sessions_held(void)
{
	struct session *s;
	size_t count = 0;

	for (s = px.sessions; s != NULL; s = s->next)
		if (!s->dead && s->request.message_left == 0 && s->request.approved == 0 &&
		    flow_held(&s->request) >= 4)
			count++;
	return count;
}

bool
sessions_delivered(void)
{
	struct session *s;

	for (s = px.sessions; s != NULL; s = s->next)
		if (!s->dead && s->reply.approved > 0)
			return false;
	return true;
}

/* ---- events ---- */

static void
update_events(struct session *s)
{
	uint32_t client = 0, upstream = 0;

	if (!s->closing && flow_has_room(&s->request))
		client |= EPOLLIN;
	if (s->reply.approved > 0)
		client |= EPOLLOUT;
	rewatch(&s->client, client);
	if (s->upstream.fd < 0)
		return;
	if (s->connecting) {
		upstream = EPOLLOUT;
	} else {
		if (flow_has_room(&s->reply))
			upstream |= EPOLLIN;
		if (s->request.approved > 0)
			upstream |= EPOLLOUT;
	}
	rewatch(&s->upstream, upstream);
}

/*
 * The upstream connection ended. Between replies, with nothing in
 * flight, the session just connects again for its next request (a
 * restarted server, or an old one shut down); otherwise the client
 * must see the failure.
 */
static void
upstream_lost(struct session *s, const char *why)
{
	if (s->awaiting == 0 && !s->streaming && s->reply.message_left == 0 &&
	    flow_held(&s->reply) == 0 && s->request.approved == 0 &&
	    s->request.message_left == 0 && !s->authenticated) {
		endpoint_close(&s->upstream);
		s->connecting = false;
		if (s->moving) {
			s->moving = false;
			px.moved++;
		}
		return;
	}
	warnmsg("client %s: upstream %s with a request in flight", s->peer, why);
	session_close(s, NULL);
}

void
client_event(struct session *s, uint32_t events)
{
	ssize_t n;

	if (s->dead)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		n = flow_read(&s->request, s->client.fd);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    (n < 0 && (events & (EPOLLHUP | EPOLLERR)))) {
			session_close(s, NULL);	/* the client left */
			return;
		}
		if (n > 0)
			flow_take(&s->request, (size_t)n);
	}
	session_step(s);
}

static void
upstream_connected(struct session *s)
{
	socklen_t length = sizeof(int);
	int error = 0;

	if (getsockopt(s->upstream.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
		error = errno;
	if (error != 0) {
		warnmsg("upstream %s: connect: %s", px.upstream.text, strerror(error));
		session_close(s, "no upstream connection");
		return;
	}
	s->connecting = false;
}

void
upstream_event(struct session *s, uint32_t events)
{
	size_t take;
	ssize_t n;

	if (s->dead || s->upstream.fd < 0)
		return;
	if (s->connecting) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			upstream_connected(s);
		session_step(s);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		n = flow_read(&s->reply, s->upstream.fd);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    (n < 0 && (events & (EPOLLHUP | EPOLLERR)))) {
			upstream_lost(s, n == 0 ? "closed" : strerror(errno));
			session_step(s);
			return;
		}
		if (n > 0 && (take = flow_take(&s->reply, (size_t)n)) > 0) {
			if (s->scanning)
				cursor_scan_feed(&s->scan, s->reply.buf + s->reply.tail - (size_t)n, take);
			if (s->reply.message_left == 0)
				reply_complete(s);
		}
	}
	session_step(s);
}

void
session_step(struct session *s)
{
	bool progress = true;

	while (progress && !s->dead) {
		progress = admit_reply(s);
		if (!s->dead && !flow_write(&s->reply, s->client.fd, &px.bytes_down)) {
			session_close(s, NULL);
			return;
		}
		leave_old_upstream(s);
		if (!s->dead && admit_request(s))
			progress = true;
		if (!s->dead && !s->connecting &&
		    !flow_write(&s->request, s->upstream.fd, &px.bytes_up))
			upstream_lost(s, strerror(errno));
	}
	if (s->dead)
		return;
	if (s->closing && s->reply.tail == s->reply.head) {
		session_close(s, NULL);
		return;
	}
	update_events(s);
}
