/*
 * session.c - one client connection and its upstream connection: the two
 * bounded flows between them, where each message starts and ends, which
 * requests a server has seen, and leaving an old server at a boundary.
 *
 * Invariants: a request is admitted (may be written upstream) only when
 * the request before it is written whole, so everything not admitted was
 * seen by no server; a message being received is always all admitted
 * (message_left > 0 implies approved == tail - head); an upstream
 * connection is closed on purpose only between replies with nothing in
 * flight, so no server ever sees half a request and no client half a reply.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "die.h"
#include "proxy.h"

/* ---- addresses and descriptors ---- */

bool
address_parse(const char *text, bool passive, struct address *address, char *why, size_t size)
{
	struct addrinfo hints, *found;
	char host[256], *port;
	int status;

	if (strlen(text) >= sizeof(host) || (port = strrchr(strcpy(host, text), ':')) == NULL ||
	    port[1] == '\0') {
		snprintf(why, size, "'%s': not HOST:PORT", text);
		return false;
	}
	*port++ = '\0';
	if (host[0] == '[' && strlen(host) >= 2 && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if ((status = getaddrinfo(host[0] ? host : NULL, port, &hints, &found)) != 0) {
		snprintf(why, size, "'%s': %s", text, gai_strerror(status));
		return false;
	}
	memcpy(&address->sa, found->ai_addr, found->ai_addrlen);
	address->length = found->ai_addrlen;
	snprintf(address->text, sizeof(address->text), "%s", text);
	freeaddrinfo(found);
	return true;
}

static void
peer_name(int fd, char *out, size_t size)
{
	struct sockaddr_storage sa;
	socklen_t length = sizeof(sa);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&sa, &length) == 0) {
		if (sa.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
		} else if (sa.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
		}
	}
	snprintf(out, size, "%s:%d", host, port);
}

static void
no_delay(int fd)
{
	int one = 1;

	/* Requests and replies are small and latency is everything: no Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		warnmsg("TCP_NODELAY: %s", strerror(errno));
}

void
watch(struct endpoint *endpoint, uint32_t events)
{
	struct epoll_event event = { .events = events, .data.ptr = endpoint };

	if (epoll_ctl(px.epoll, EPOLL_CTL_ADD, endpoint->fd, &event) != 0)
		die(EXIT_LOCAL, "epoll_ctl: %s", strerror(errno));
	endpoint->events = events;
}

void
rewatch(struct endpoint *endpoint, uint32_t events)
{
	struct epoll_event event = { .events = events, .data.ptr = endpoint };

	if (endpoint->fd < 0 || endpoint->events == events)
		return;
	if (epoll_ctl(px.epoll, EPOLL_CTL_MOD, endpoint->fd, &event) != 0)
		die(EXIT_LOCAL, "epoll_ctl: %s", strerror(errno));
	endpoint->events = events;
}

void
endpoint_close(struct endpoint *endpoint)
{
	if (endpoint->fd < 0)
		return;
	close(endpoint->fd);	/* which also takes it out of the epoll set */
	endpoint->fd = -1;
	endpoint->events = 0;
}

/* ---- sessions ---- */

static void
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

/* ---- flows ---- */

/* Bytes received but not admitted: the start of the next message. */
static size_t
flow_held(const struct flow *f)
{
	return f->tail - f->head - f->approved;
}

static bool
flow_has_room(const struct flow *f)
{
	return f->tail < px.buffer || f->head > 0;
}

/* Read what fits; bytes read, 0 at end of file, -1 on error (errno set; EAGAIN: nothing). */
static ssize_t
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
static size_t
flow_take(struct flow *f, size_t n)
{
	size_t take = n < f->message_left ? n : f->message_left;

	f->approved += take;
	f->message_left -= take;
	return take;
}

/* Write what is admitted; false on a broken connection. */
static bool
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

static bool upstream_connect(struct session *s);

/* ---- replies ---- */

/* A reply is received whole: note the cursor it opened or ended. */
static void
reply_complete(struct session *s)
{
	int result;

	if (!s->scanning)
		return;
	s->scanning = false;
	result = cursor_scan_result(&s->scan);
	if (result == SCAN_FOUND && s->scan.id != 0)
		idset_add(&px.cursors, s->scan.id);
	if (s->get_more_tracked && !s->streaming && (result != SCAN_FOUND || s->scan.id == 0)) {
		idset_remove(&px.cursors, s->get_more_id);
		s->get_more_tracked = false;
	}
}

static void
bad_length(struct session *s, const char *side, uint32_t length)
{
	warnmsg("client %s: %s sent a message length %u outside %d..%d: connection closed",
	    s->peer, side, length, WIRE_HEADER, WIRE_MAX);
	px.bad_messages++;
	session_close(s, NULL);
}

/*
 * A TLS connection's records hide the messages: its bytes pass as they
 * come. Client bytes not yet answered by any server byte count as a
 * request in flight, which is as much as a pause can know of it.
 */
static bool
admit_tls(struct session *s, struct flow *f, bool request)
{
	size_t held = flow_held(f);

	if (held == 0)
		return false;
	if (request) {
		if (px.paused || s->moving)
			return false;
		if (s->upstream.fd < 0 && !upstream_connect(s))
			return false;
		if (s->connecting)
			return false;
	}
	f->approved += held;
	s->awaiting = request ? 1 : 0;
	return true;
}

static bool
admit_reply(struct session *s)
{
	struct flow *f = &s->reply;
	size_t held = flow_held(f), take;
	uint32_t length, flags = 0;
	int32_t opcode;

	if (s->tls)
		return admit_tls(s, f, false);
	if (f->message_left > 0 || f->approved > 0 || held < 4)
		return false;
	length = wire_le32(f->buf + f->head);
	if (length < WIRE_HEADER || length > WIRE_MAX) {
		bad_length(s, "the upstream", length);
		return false;
	}
	if (held < (length < WIRE_HEADER + 4 ? length : WIRE_HEADER + 4))
		return false;
	opcode = (int32_t)wire_le32(f->buf + f->head + 12);
	if (opcode == OP_MSG && length >= WIRE_HEADER + 4)
		flags = wire_le32(f->buf + f->head + WIRE_HEADER);
	take = held < length ? held : length;
	f->approved = take;
	f->message_left = length - take;
	if (s->awaiting > 0)
		s->awaiting--;
	s->streaming = (flags & MSG_MORE_TO_COME) != 0;
	/* Cursors matter only after a switch, and only the current server's. */
	s->scanning = px.generation > 0 && s->generation == px.generation && opcode == OP_MSG;
	if (s->scanning) {
		cursor_scan_start(&s->scan);
		cursor_scan_feed(&s->scan, f->buf + f->head, take);
	}
	if (f->message_left == 0)
		reply_complete(s);
	return true;
}

/* ---- requests ---- */

/* Answer a request in the proxy: the reply flow is empty, the request whole. */
static void
answer_locally(struct session *s, const unsigned char *reply, size_t size, uint32_t length)
{
	memcpy(s->reply.buf, reply, size);
	s->reply.head = 0;
	s->reply.tail = s->reply.approved = size;
	s->request.head += length;
	if (s->request.head == s->request.tail)
		s->request.head = s->request.tail = 0;
	px.refused_cursors++;
}

static bool
cursor_is_known(int64_t id, void *arg)
{
	return idset_has(&px.cursors, id);
}

enum verdict { FORWARD, ANSWERED, WAIT };

/*
 * After a switch, a cursor the current server did not open through us is
 * an old server's: the same id there may be another client's cursor, so
 * the proxy answers CursorNotFound itself, as a server that lost it would.
 */
static enum verdict
cursor_check(struct session *s, const struct wire_request *request, uint32_t length)
{
	unsigned char reply[1024];
	char message[200];
	size_t size;
	const unsigned char *msg = s->request.buf + s->request.head;

	if (request->legacy_cursor) {
		session_close(s, "a legacy OP_GET_MORE/OP_KILL_CURSORS after a switch");
		return WAIT;
	}
	if (request->get_more && idset_has(&px.cursors, request->cursor_id))
		return FORWARD;
	if (request->kill_cursors && flow_held(&s->request) >= length &&
	    wire_kill_ids_known(msg, length, cursor_is_known, NULL))
		return FORWARD;
	if (!request->get_more && !request->kill_cursors)
		return FORWARD;
	if (flow_held(&s->request) < length) {
		session_close(s, "a cursor request larger than the buffer after a switch");
		return WAIT;
	}
	if (s->reply.tail != s->reply.head)
		return WAIT;	/* deliver what is there first */
	if (request->get_more) {
		snprintf(message, sizeof(message), "cursor id %lld not found: it was opened on the "
		    "server entry-proxy switched away from", (long long)request->cursor_id);
		size = wire_error_reply(reply, sizeof(reply), request->request_id, 43,
		    "CursorNotFound", message);
	} else {
		size = wire_kill_reply(reply, sizeof(reply), msg, length, request->request_id);
	}
	if (size == 0 || size > px.buffer) {
		session_close(s, "cannot answer a stale cursor request");
		return WAIT;
	}
	answer_locally(s, reply, size, length);
	return ANSWERED;
}

static bool
upstream_connect(struct session *s)
{
	int fd;

	fd = socket(px.upstream.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		warnmsg("socket: %s", strerror(errno));
		session_close(s, "no upstream connection");
		return false;
	}
	no_delay(fd);
	s->upstream.fd = fd;
	s->generation = px.generation;
	s->connecting = false;
	if (connect(fd, (struct sockaddr *)&px.upstream.sa, px.upstream.length) != 0) {
		if (errno != EINPROGRESS) {
			warnmsg("upstream %s: connect: %s", px.upstream.text, strerror(errno));
			session_close(s, "no upstream connection");
			return false;
		}
		s->connecting = true;
	}
	watch(&s->upstream, s->connecting ? EPOLLOUT : EPOLLIN);
	return true;
}

static bool
admit_request(struct session *s)
{
	struct flow *f = &s->request;
	size_t held = flow_held(f), take;
	struct wire_request request;
	uint32_t length;

	if (s->tls)
		return !s->closing && admit_tls(s, f, true);
	/* A TLS record starts 0x16 0x03; as a length that is no first request. */
	if (!s->started && held >= 2 && f->buf[f->head] == 0x16 && f->buf[f->head + 1] == 0x03) {
		s->tls = s->authenticated = true;
		return admit_tls(s, f, true);
	}
	if (f->message_left > 0 || f->approved > 0 || held < 4 || s->closing)
		return false;
	length = wire_le32(f->buf + f->head);
	if (length < WIRE_HEADER || length > WIRE_MAX) {
		bad_length(s, "the client", length);
		return false;
	}
	/* Small requests are inspected whole; a large one once the buffer is full. */
	if (held < (length < px.buffer ? length : px.buffer) || px.paused || s->moving)
		return false;
	wire_request_inspect(f->buf + f->head, held, length, &request);
	if (request.auth)
		s->authenticated = true;
	if (px.generation > 0) {
		switch (cursor_check(s, &request, length)) {
		case ANSWERED: return true;
		case WAIT: return false;
		case FORWARD: break;
		}
	}
	if (s->upstream.fd < 0 && !upstream_connect(s))
		return false;
	if (s->connecting)
		return false;
	take = held < length ? held : length;
	f->approved = take;
	f->message_left = length - take;
	if (request.expects_reply)
		s->awaiting++;
	s->started = true;
	s->get_more_tracked = px.generation > 0 && request.get_more;
	s->get_more_id = request.cursor_id;
	px.requests++;
	return true;
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
