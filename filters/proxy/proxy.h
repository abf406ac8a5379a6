/*
 * proxy.h - the parts of entry-proxy: the sessions, the bytes and
 * boundaries they forward (session.c), the little of the MongoDB wire
 * protocol it reads and the cursor ids it lets through after a switch
 * (wire.c), driven by filters/entry-proxy.c (options, loop, control).
 * A session (session.c) moves bytes through two flows (flow.c), admitted
 * a message at a time (admit.c), over endpoints (endpoint.c); metrics.c
 * is --metrics.
 *
 * Private to entry-proxy: no other program links these files. Nothing
 * here trusts a byte it reads: every length is checked before use, and a
 * message that does not parse is treated as "nothing known", never guessed.
 */
#ifndef OPLOGKIT_PROXY_H
#define OPLOGKIT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#define WIRE_HEADER 16			/* length, requestID, responseTo, opCode */
#define WIRE_MAX 48000000		/* MongoDB's maxMessageSizeBytes */

enum wire_opcode {
	OP_REPLY = 1, OP_UPDATE = 2001, OP_INSERT = 2002, OP_QUERY = 2004,
	OP_GET_MORE = 2005, OP_DELETE = 2006, OP_KILL_CURSORS = 2007,
	OP_COMPRESSED = 2012, OP_MSG = 2013,
};

#define MSG_MORE_TO_COME (1u << 1)	/* no reply follows (request) / more replies follow */
#define MSG_EXHAUST_ALLOWED (1u << 16)

uint32_t wire_le32(const unsigned char *p);

/* What entry-proxy needs to know about one client request. */
struct wire_request {
	int32_t request_id, opcode;
	bool expects_reply;	/* a reply will come (not moreToCome, not a legacy write) */
	bool auth;		/* authenticates the connection: it cannot move servers */
	bool get_more;		/* an OP_MSG getMore; cursor_id is its cursor */
	bool kill_cursors;	/* an OP_MSG killCursors */
	bool legacy_cursor;	/* OP_GET_MORE or OP_KILL_CURSORS: cursor ids not read */
	int64_t cursor_id;
	char command[32];	/* the command name, "" when unknown */
};

/*
 * Inspect a request whose first size bytes (at least WIRE_HEADER + 4 or
 * the whole message) are at msg; length is the whole message's length.
 */
void wire_request_inspect(const unsigned char *msg, size_t size, uint32_t length,
    struct wire_request *request);

/*
 * For a killCursors request held whole at msg: true when every id it
 * names satisfies known(id, arg) (and there is at least one).
 */
bool wire_kill_ids_known(const unsigned char *msg, uint32_t length,
    bool (*known)(int64_t id, void *arg), void *arg);

/*
 * Write into out (size bytes) an OP_MSG reply to request_id: an error
 * {ok: 0, errmsg, code, codeName}, or for a killCursors the reply that
 * lists ids as not found. Returns its length, 0 if it does not fit.
 */
size_t wire_error_reply(unsigned char *out, size_t size, int32_t response_to, int32_t code,
    const char *code_name, const char *errmsg);
size_t wire_kill_reply(unsigned char *out, size_t size, const unsigned char *request,
    uint32_t length, int32_t response_to);

/*
 * A streaming reader of an OP_MSG reply's body that finds cursor.id, fed
 * the message's bytes as they pass through a bounded buffer (a reply can
 * be 48 MB; the batch comes before the id and is skipped by its length).
 */
struct cursor_scan {
	int state, level, type, purpose, cstrings;
	uint32_t skip;
	unsigned char field[8];
	unsigned field_length, field_want;
	char key[8];
	unsigned key_length;
	bool key_long;
	int64_t id;
};

enum { SCAN_RUNNING, SCAN_FOUND, SCAN_NONE };

void cursor_scan_start(struct cursor_scan *scan);
void cursor_scan_feed(struct cursor_scan *scan, const unsigned char *bytes, size_t size);
/* SCAN_FOUND (scan->id set), SCAN_NONE, or SCAN_RUNNING when fed too little. */
int cursor_scan_result(const struct cursor_scan *scan);

/* A set of cursor ids (0 is never a cursor); grows as needed. */
struct idset {
	int64_t *slots;
	size_t capacity, count;
};

bool idset_has(const struct idset *set, int64_t id);
void idset_add(struct idset *set, int64_t id);
void idset_remove(struct idset *set, int64_t id);
void idset_clear(struct idset *set);

/* ---- the proxy's state (entry-proxy.c owns it) ---- */

struct address {
	struct sockaddr_storage sa;
	socklen_t length;
	char text[300];
};

enum endpoint_kind { EP_LISTEN, EP_CONTROL_LISTEN, EP_SIGNAL, EP_CLIENT, EP_UPSTREAM, EP_CONTROL };

/* What epoll hands back: which descriptor of whom, and what we asked for. */
struct endpoint {
	enum endpoint_kind kind;
	int fd;
	uint32_t events;
	void *owner;
};

/* One direction's bytes: [head, tail) received, [head, head + approved) may be written. */
struct flow {
	unsigned char *buf;
	size_t head, tail;
	size_t approved;
	size_t message_left;	/* bytes of the admitted message not yet received */
};

struct session {
	struct endpoint client, upstream;
	struct flow request, reply;
	unsigned generation;	/* px.generation when its upstream connection was made */
	bool connecting;
	int awaiting;		/* forwarded requests without their first reply */
	bool streaming;		/* the last reply said moreToCome: more will come */
	bool authenticated;	/* cannot be moved to another server */
	bool started;		/* its first request was admitted */
	bool tls;		/* TLS: bytes pass unread, the connection is the unit */
	bool moving;		/* its upstream is an old one: leave it at a boundary */
	bool closing;		/* close the client once the reply flow is written */
	bool dead;
	bool get_more_tracked;	/* the forwarded getMore's cursor, forgotten at its end */
	int64_t get_more_id;
	bool scanning;		/* reading this reply's cursor.id */
	struct cursor_scan scan;
	char peer[64];
	struct session *prev, *next;
};

struct proxy {
	int epoll;
	size_t buffer;		/* per session and direction */
	bool verbose;
	long pause_timeout_ms;	/* how long a pause waits for in-flight requests */
	const char *control_path;
	char listening[INET6_ADDRSTRLEN + 16];	/* the bound address, port 0 resolved */
	struct endpoint listener, control_listener, signals;
	struct address upstream;
	unsigned generation;	/* bumped by each switch */
	bool paused, stopping, accept_blocked;
	struct timespec paused_at, stop_deadline;
	struct session *sessions;
	size_t session_count;
	struct idset cursors;	/* opened on the current upstream since the last switch */
	uint64_t accepted, moved, closed_at_switch, refused_cursors, bad_messages;
	uint64_t bytes_up, bytes_down, requests;
	bool metrics;		/* --metrics or --metrics-log is on */
	bool metrics_sampled;	/* metrics_at is set */
	struct timespec metrics_at;	/* the last sample taken (CLOCK_MONOTONIC) */
};

extern struct proxy px;

/* ---- control.c ---- */

#define CONTROL_LINE_MAX 512

struct control;

void accept_control(void);
void control_event(struct control *c, uint32_t events);
void controls_check(void);	/* answer the pauses whose wait is over */
long controls_next_deadline_ms(void);
void controls_stopped(void);

/* ---- metrics.c ---- */

#define METRICS_EVERY_MS 250

/* --metrics: the proxy's numbers now (now false: at most every METRICS_EVERY_MS). */
void proxy_metrics(bool now);

/* ---- endpoint.c ---- */

bool address_parse(const char *text, bool passive, struct address *address, char *why,
    size_t size);
void peer_name(int fd, char *out, size_t size);	/* "HOST:PORT" of a connected socket */
void no_delay(int fd);		/* TCP_NODELAY: a request is one write, send it now */
void watch(struct endpoint *endpoint, uint32_t events);
void rewatch(struct endpoint *endpoint, uint32_t events);
void endpoint_close(struct endpoint *endpoint);

/* ---- flow.c ---- */

size_t flow_held(const struct flow *f);	/* received, not admitted: the next message's start */
bool flow_has_room(const struct flow *f);
/* Read what fits: bytes read, 0 at end of file, -1 with errno (EAGAIN: nothing). */
ssize_t flow_read(struct flow *f, int fd);
/* Of n new bytes, those of the message being received (they are admitted). */
size_t flow_take(struct flow *f, size_t n);
/* Write what is admitted, counting it in *counter; false on a broken connection. */
bool flow_write(struct flow *f, int fd, uint64_t *counter);

/* ---- admit.c: true when something was admitted (or answered) ---- */

bool admit_reply(struct session *s);
bool admit_request(struct session *s);
void reply_complete(struct session *s);	/* a reply is whole: note its cursor */

/* ---- session.c ---- */

void session_close(struct session *s, const char *why);	/* why NULL: no message */
void accept_clients(void);
void client_event(struct session *s, uint32_t events);
void upstream_event(struct session *s, uint32_t events);
/* Admit, forward and deliver what a session can now; update its epoll interest. */
void session_step(struct session *s);
/* After px.upstream changed: every session leaves its upstream at its next boundary. */
size_t sessions_switch(void);
/* After a resume: forward what was held. */
void sessions_resume(void);
/* Sessions with a request the server has seen and not answered (or not yet whole). */
size_t sessions_in_flight(void);
/* Sessions with a request waiting in the proxy. */
size_t sessions_held(void);
/* Whether every reply received has been delivered. */
bool sessions_delivered(void);
void sessions_reap(void);
void sessions_close_all(void);

#endif
