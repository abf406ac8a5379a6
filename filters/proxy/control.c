/*
 * control.c - entry-proxy's control channel: connections on the control
 * socket, one command a line (pause, resume, switch, status), one JSON
 * line back; a pause answers once no request is in flight.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "die.h"
#include "proxy.h"

/* A control connection: one command a line, one JSON line back. */
struct control {
	struct endpoint endpoint;
	char line[CONTROL_LINE_MAX];
	size_t length;
	bool pause_waiting;	/* its pause is answered once nothing is in flight */
	struct timespec pause_started, pause_deadline;
	bool dead;
	struct control *next;
};

static struct control *controls;

void
accept_control(void)
{
	struct control *c;
	int fd;

	while ((fd = accept4(px.control_listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		c = xcalloc(1, sizeof(*c));
		c->endpoint = (struct endpoint){ EP_CONTROL, fd, 0, c };
		c->next = controls;
		controls = c;
		watch(&c->endpoint, EPOLLIN);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
		warnmsg("--control %s: accept: %s", px.control_path, strerror(errno));
}

static void
control_close(struct control *c)
{
	endpoint_close(&c->endpoint);
	c->dead = true;
	c->pause_waiting = false;
}

/* Send one JSON line; a control client that cannot take it is dropped. */
static void
control_reply(struct control *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
control_reply(struct control *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int length;

	va_start(ap, fmt);
	length = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (length < 0 || (size_t)length >= sizeof(line) - 1)
		length = snprintf(line, sizeof(line) - 1, "{\"ok\":false,\"error\":\"reply too long\"}");
	line[length++] = '\n';
	if (c->dead || send(c->endpoint.fd, line, (size_t)length, MSG_NOSIGNAL | MSG_DONTWAIT) != length)
		control_close(c);
}

/* text as the inside of a JSON string (quotes, backslashes, controls escaped). */
static const char *
json_text(const char *text, char *out, size_t size)
{
	size_t k = 0;

	for (; *text != '\0' && k + 7 < size; text++) {
		if (*text == '"' || *text == '\\') {
			out[k++] = '\\';
			out[k++] = *text;
		} else if ((unsigned char)*text < 0x20) {
			k += (size_t)snprintf(out + k, size - k, "\\u%04x", (unsigned char)*text);
		} else {
			out[k++] = *text;
		}
	}
	out[k] = '\0';
	return out;
}

static void
command_status(struct control *c)
{
	char upstream[700];

	control_reply(c, "{\"ok\":true,\"listen\":\"%s\",\"upstream\":\"%s\",\"generation\":%u,\"paused\":%s,"
	    "\"paused_ms\":%ld,\"connections\":%zu,\"in_flight\":%zu,\"held\":%zu,"
	    "\"accepted\":%llu,\"requests\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
	    "\"moved\":%llu,\"closed_at_switch\":%llu,\"refused_cursors\":%llu,"
	    "\"bad_messages\":%llu}",
	    px.listening, json_text(px.upstream.text, upstream, sizeof(upstream)), px.generation,
	    px.paused ? "true" : "false", px.paused ? clock_ms_since(&px.paused_at) : 0L,
	    px.session_count, sessions_in_flight(), sessions_held(),
	    (unsigned long long)px.accepted, (unsigned long long)px.requests,
	    (unsigned long long)px.bytes_up, (unsigned long long)px.bytes_down,
	    (unsigned long long)px.moved, (unsigned long long)px.closed_at_switch,
	    (unsigned long long)px.refused_cursors, (unsigned long long)px.bad_messages);
}

static void
command_pause(struct control *c, const char *argument)
{
	long timeout = px.pause_timeout_ms;

	if (*argument != '\0') {
		/* cli_duration_ms exits on a bad value: check the shape here first. */
		if (strspn(argument, "0123456789") == 0 ||
		    strspn(argument + strspn(argument, "0123456789"), "mshr") !=
		    strlen(argument + strspn(argument, "0123456789"))) {
			control_reply(c, "{\"ok\":false,\"error\":\"pause: not a duration (try 500ms, 10s)\"}");
			return;
		}
		timeout = cli_duration_ms("pause", argument);
	}
	if (!px.paused) {
		px.paused = true;
		clock_gettime(CLOCK_MONOTONIC, &px.paused_at);
	}
	clock_gettime(CLOCK_MONOTONIC, &c->pause_started);
	c->pause_deadline = clock_deadline(CLOCK_MONOTONIC, timeout);
	c->pause_waiting = true;
}

static void
command_resume(struct control *c)
{
	size_t held = sessions_held();
	long paused_ms;

	if (!px.paused) {
		control_reply(c, "{\"ok\":true,\"paused\":false,\"paused_ms\":0,\"released\":0}");
		return;
	}
	if (px.stopping) {
		control_reply(c, "{\"ok\":false,\"error\":\"stopping: requests stay held\"}");
		return;
	}
	paused_ms = clock_ms_since(&px.paused_at);
	px.paused = false;
	sessions_resume();
	warnmsg("resumed after %ld ms: %zu held requests released", paused_ms, held);
	control_reply(c, "{\"ok\":true,\"paused\":false,\"paused_ms\":%ld,\"released\":%zu}",
	    paused_ms, held);
}

static void
command_switch(struct control *c, const char *argument)
{
	char why[600], text[700];
	struct address address;
	size_t moving;

	if (!address_parse(argument, false, &address, why, sizeof(why))) {
		control_reply(c, "{\"ok\":false,\"error\":\"switch %s\"}", json_text(why, text, sizeof(text)));
		return;
	}
	px.upstream = address;
	px.generation++;
	idset_clear(&px.cursors);
	moving = sessions_switch();
	warnmsg("switched to %s: %zu connections leave the old server at their next boundary",
	    px.upstream.text, moving);
	control_reply(c, "{\"ok\":true,\"upstream\":\"%s\",\"generation\":%u,\"moving\":%zu}",
	    json_text(px.upstream.text, text, sizeof(text)), px.generation, moving);
}

static void
control_command(struct control *c, char *line)
{
	char *argument, text[CONTROL_LINE_MAX * 6];
	size_t length = strlen(line);

	while (length > 0 && (line[length - 1] == '\r' || line[length - 1] == ' '))
		line[--length] = '\0';
	argument = line + strcspn(line, " ");
	if (*argument != '\0')
		*argument++ = '\0';
	argument += strspn(argument, " ");
	if (strcmp(line, "status") == 0 && *argument == '\0')
		command_status(c);
	else if (strcmp(line, "pause") == 0)
		command_pause(c, argument);
	else if (strcmp(line, "resume") == 0 && *argument == '\0')
		command_resume(c);
	else if (strcmp(line, "switch") == 0 && *argument != '\0')
		command_switch(c, argument);
	else
		control_reply(c, "{\"ok\":false,\"error\":\"unknown command '%s' (pause [DUR], "
		    "switch HOST:PORT, resume, status)\"}", json_text(line, text, sizeof(text)));
}

void
control_event(struct control *c, uint32_t events)
{
	char *newline;
	ssize_t n;

	if (c->dead)
		return;
	n = read(c->endpoint.fd, c->line + c->length, sizeof(c->line) - 1 - c->length);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		control_close(c);
		return;
	}
	if (n < 0)
		return;
	c->length += (size_t)n;
	c->line[c->length] = '\0';
	/* One command at a time: a pause waiting for its answer holds the rest. */
	while (!c->dead && !c->pause_waiting && (newline = strchr(c->line, '\n')) != NULL) {
		*newline = '\0';
		control_command(c, c->line);
		c->length -= (size_t)(newline + 1 - c->line);
		memmove(c->line, newline + 1, c->length + 1);
	}
	if (!c->dead && c->length == sizeof(c->line) - 1) {
		control_reply(c, "{\"ok\":false,\"error\":\"line over %d bytes\"}", CONTROL_LINE_MAX - 2);
		control_close(c);
	}
}

/* Answer the pauses whose in-flight requests are done, or whose time is up. */
void
controls_check(void)
{
	struct control *c, **link;
	size_t in_flight = 0;
	bool counted = false;

	for (c = controls; c != NULL; c = c->next) {
		if (!c->pause_waiting)
			continue;
		if (!counted) {
			in_flight = sessions_in_flight();
			counted = true;
		}
		if (in_flight == 0) {
			c->pause_waiting = false;
			warnmsg("paused: nothing in flight after %ld ms, %zu requests held",
			    clock_ms_since(&c->pause_started), sessions_held());
			control_reply(c, "{\"ok\":true,\"paused\":true,\"in_flight\":0,\"held\":%zu,"
			    "\"waited_ms\":%ld}", sessions_held(), clock_ms_since(&c->pause_started));
		} else if (clock_ms_since(&c->pause_deadline) >= 0) {
			c->pause_waiting = false;
			control_reply(c, "{\"ok\":false,\"paused\":true,\"in_flight\":%zu,\"error\":"
			    "\"%zu requests still in flight after %ld ms; requests stay held until "
			    "resume\"}", in_flight, in_flight, clock_ms_since(&c->pause_started));
		}
		if (!c->dead && !c->pause_waiting && c->length > 0)
			control_event(c, 0);	/* commands queued behind the pause */
	}
	for (link = &controls; (c = *link) != NULL;) {
		if (c->dead) {
			*link = c->next;
			free(c);
		} else {
			link = &c->next;
		}
	}
}


/* Milliseconds to the nearest deadline of a waiting pause; -1: none. */
long
controls_next_deadline_ms(void)
{
	long nearest = -1, left;
	struct control *c;

	for (c = controls; c != NULL; c = c->next)
		if (c->pause_waiting) {
			left = -clock_ms_since(&c->pause_deadline);
			if (nearest < 0 || left < nearest)
				nearest = left < 0 ? 0 : left;
		}
	return nearest;
}

/* The proxy stops: a pause still waiting gets its answer. */
void
controls_stopped(void)
{
	struct control *c;

	for (c = controls; c != NULL; c = c->next)
		if (c->pause_waiting)
			control_reply(c, "{\"ok\":false,\"error\":\"the proxy stopped\"}");
}
