/*
 * admit.c - where a session's messages start and end: a reply or a
 * request is admitted (may be written on) whole, one at a time, so the
 * proxy knows which requests a server has seen. A request waits while
 * the proxy is paused or its session is leaving an old server; after a
 * switch, a cursor request naming a cursor the new server did not open
 * through us is answered here (CursorNotFound), never forwarded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "die.h"
#include "proxy.h"

static bool upstream_connect(struct session *s);

/* Replies. */

/* A reply is received whole: note the cursor it opened or ended. */
void
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

bool
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

/* Requests. */

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

bool
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
