/*
 * entry-proxy - an entry address that never changes: a MongoDB wire
 * protocol proxy that can hold the applications' requests (a write fence
 * for any server) and move them to another server without a restart.
 *
 * Each client connection is a session with at most one upstream
 * connection, opened when its first request is forwarded. Bytes pass
 * through two bounded buffers, one each way; a side is read only while
 * its buffer has room, so a slow peer slows its partner, never our
 * memory. Message boundaries come from the int32 length in each header,
 * and a request is forwarded only when the one before it is written, so
 * the proxy always knows which requests a server has seen (in flight:
 * no reply yet) and which it has not (held).
 *
 * pause holds every request not yet forwarded; replies still flow, and
 * its answer waits until no request is in flight, so once it answers no
 * write through the proxy can still reach the server. switch moves each
 * session at its next boundary with nothing in flight: the old upstream
 * connection is closed and the next request, never seen by any server,
 * goes to a new connection to the new upstream. No request is replayed.
 * Sessions that cannot move are closed between messages instead: an
 * authenticated one (its credentials were for the old connection) and
 * one receiving an exhaust stream. After a switch a getMore or
 * killCursors naming a cursor the new server did not open through us is
 * answered by the proxy (CursorNotFound): ids are short and sequential on
 * FerretDB, so the same id may well be another client's cursor there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "control.h"
#include "die.h"
#include "metrics.h"
#include "options.h"
#include "proxy/proxy.h"

#define EVENTS_MAX 256
#define STOP_GRACE_MS 5000	/* SIGTERM: how long in-flight replies may take */

static struct {
	const char *listen, *upstream, *control;
	const char *metrics, *metrics_log;
	long pause_timeout_ms;
	bool verbose;
} opt = { .pause_timeout_ms = 10000 };

struct proxy px;

static void read_command_line(int argc, char **argv);
static void setup(void);
static void run(void);

int
main(int argc, char **argv)
{
	die_init(argv[0]);
	px.buffer = 256 * 1024;
	read_command_line(argc, argv);
	px.verbose = opt.verbose;
	px.pause_timeout_ms = opt.pause_timeout_ms;
	setup();
	proxy_metrics(true);
	run();
	proxy_metrics(true);
	metrics_stop("stopped");
	if (unlink(opt.control) != 0 && errno != ENOENT)
		warnmsg("%s: %s", opt.control, strerror(errno));
	return EXIT_DONE;
}

/*
 * entry-proxy --control PATH COMMAND...: send one command to a running
 * proxy, print its JSON answer; exit 0 when it says ok, 1 when not, 4
 * when no proxy answers. Scripts need no socat or nc for the socket.
 */
static void
control_client(int argc, char **argv)
{
	char line[CONTROL_LINE_MAX], answer[4096], why[CONTROL_LINE_MAX + 512];
	size_t length = 0;
	int k;

	line[0] = '\0';
	for (k = 0; k < argc; k++) {
		int n = snprintf(line + length, sizeof(line) - length, "%s%s", k ? " " : "", argv[k]);

		if (n < 0 || (size_t)n >= sizeof(line) - length - 1)
			die(EXIT_USAGE, "command too long");
		length += (size_t)n;
	}
	switch (control_request(opt.control, line, 0, answer, sizeof(answer), why, sizeof(why))) {
	case CONTROL_BAD_PATH:
		die(EXIT_USAGE, "--control %s", why);
	case CONTROL_UNREACHABLE:
		die(EXIT_SERVER, "--control %s", why);
	case CONTROL_OK:
	case CONTROL_REFUSED:
		break;
	}
	printf("%s\n", answer);
	if (fflush(stdout) != 0)
		die(EXIT_LOCAL, "stdout: write failed");
	exit(strncmp(answer, "{\"ok\":true", 10) == 0 ? EXIT_DONE : EXIT_DIFFERENT);
}

static void
parse_buffer(const char *name, const char *text, void *unused)
{
	long buffer = cli_number(name, text);

	(void)unused;
	if (buffer < 4096 || buffer > 64L * 1024 * 1024)
		die(EXIT_USAGE, "%s %s: give 4096 to 67108864 bytes", name, text);
	px.buffer = (size_t)buffer;
}

static void
read_command_line(int argc, char **argv)
{
	static const struct program program = {
		.name = "entry-proxy",
		.synopsis = "--listen HOST:PORT --upstream HOST:PORT --control PATH [--buffer BYTES] "
		    "[--pause-timeout DUR] [--metrics FILE] [-v]",
		.summary = "       entry-proxy --control PATH COMMAND [ARGUMENT]\n"
		    "A MongoDB wire-protocol proxy: the applications' fixed entry address. Over\n"
		    "the control socket PATH, one command a line, one JSON line back:\n"
		    "  pause [DUR]        hold new requests; answers once none is in flight\n"
		    "  switch HOST:PORT   move every connection to this upstream at a boundary\n"
		    "  resume             release the held requests\n"
		    "  status             connections, held and in-flight requests, bytes\n"
		    "The second form sends one command and prints the answer (exit 0 if ok).",
		.details = "Applications connect with directConnection=true. SIGTERM stops cleanly.\n",
		.min_operands = 0, .max_operands = -1,
	};
	const struct option_def table[] = {
		OPT_STRING(0, "listen", "HOST:PORT", &opt.listen, "the entry address applications use"),
		OPT_STRING(0, "upstream", "HOST:PORT", &opt.upstream, "the server requests go to"),
		OPT_STRING(0, "control", "PATH", &opt.control, "the control socket (mode 0600)"),
		OPT_CALL(0, "buffer", "BYTES", parse_buffer, NULL,
		    "per connection and direction (262144)"),
		OPT_DURATION(0, "pause-timeout", "DUR", &opt.pause_timeout_ms,
		    "how long pause waits for in-flight requests (10s)"),
		OPT_METRICS(&opt.metrics, &opt.metrics_log),
		OPT_BOOL('v', "verbose", &opt.verbose,
		    "say where it listens and when a switch closes a connection"),
		OPT_END(),
	};
	int first = options_parse(&program, table, argc, argv);

	if (first < argc && opt.control != NULL && opt.listen == NULL && opt.upstream == NULL)
		control_client(argc - first, argv + first);
	if (first < argc) {
		warnmsg("unexpected argument '%s'", argv[first]);
		options_usage_error(&program);
	}
	if (opt.listen == NULL || opt.upstream == NULL || opt.control == NULL) {
		warnmsg("--listen, --upstream and --control are required");
		options_usage_error(&program);
	}
}

/* ---- sockets ---- */

static void
bound_name(int fd)
{
	struct sockaddr_storage sa;
	socklen_t length = sizeof(sa);
	char host[INET6_ADDRSTRLEN] = "?";

	if (getsockname(fd, (struct sockaddr *)&sa, &length) != 0)
		die(EXIT_LOCAL, "getsockname: %s", strerror(errno));
	if (sa.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
		snprintf(px.listening, sizeof(px.listening), "[%s]:%d", host,
		    ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
		snprintf(px.listening, sizeof(px.listening), "%s:%d", host,
		    ntohs(((struct sockaddr_in *)&sa)->sin_port));
	}
}

static void
listen_tcp(void)
{
	struct address address;
	char why[512];
	int fd, one = 1;

	if (!address_parse(opt.listen, true, &address, why, sizeof(why)))
		die(EXIT_USAGE, "--listen %s", why);
	if ((fd = socket(address.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&address.sa, address.length) != 0 || listen(fd, 1024) != 0)
		die(EXIT_LOCAL, "--listen %s: %s", opt.listen, strerror(errno));
	bound_name(fd);
	px.listener = (struct endpoint){ EP_LISTEN, fd, 0, NULL };
	watch(&px.listener, EPOLLIN);
}

/* The control socket: refuse to steal one a live proxy answers on. */
static void
listen_control(void)
{
	struct sockaddr_un sun;
	char why[512];
	mode_t mask;
	int fd;

	if (!control_address(opt.control, &sun, why, sizeof(why)))
		die(EXIT_USAGE, "--control %s", why);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		die(EXIT_LOCAL, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		die(EXIT_USAGE, "--control %s: another proxy answers there", opt.control);
	close(fd);
	if (unlink(opt.control) != 0 && errno != ENOENT)
		die(EXIT_USAGE, "--control %s: %s", opt.control, strerror(errno));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		die(EXIT_LOCAL, "socket: %s", strerror(errno));
	/* Whoever can connect can stop the applications' writes: owner only. */
	mask = umask(077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 16) != 0)
		die(EXIT_USAGE, "--control %s: %s", opt.control, strerror(errno));
	umask(mask);
	px.control_listener = (struct endpoint){ EP_CONTROL_LISTEN, fd, 0, NULL };
	px.control_path = opt.control;
	watch(&px.control_listener, EPOLLIN);
}

static void
setup(void)
{
	char why[512];
	sigset_t stop;
	int fd;

	if (!address_parse(opt.upstream, false, &px.upstream, why, sizeof(why)))
		die(EXIT_USAGE, "--upstream %s", why);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0 ||
	    (fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		die(EXIT_LOCAL, "signalfd: %s", strerror(errno));
	if ((px.epoll = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die(EXIT_LOCAL, "epoll_create1: %s", strerror(errno));
	px.signals = (struct endpoint){ EP_SIGNAL, fd, 0, NULL };
	watch(&px.signals, EPOLLIN);
	/*
	 * After the signals are blocked (its thread inherits the mask, so
	 * SIGTERM still reaches the signalfd), before any socket exists (a
	 * --metrics path it cannot write leaves nothing behind).
	 */
	metrics_start(opt.metrics, opt.metrics_log, NULL);
	px.metrics = opt.metrics != NULL || opt.metrics_log != NULL;
	listen_tcp();
	/* Last: the control socket appearing says the proxy is ready. */
	listen_control();
	if (opt.verbose)
		warnmsg("px.listening on %s, upstream %s", px.listening, px.upstream.text);
}

/* ---- stopping ---- */

static void
stop_begin(void)
{
	struct signalfd_siginfo info;

	while (read(px.signals.fd, &info, sizeof(info)) == (ssize_t)sizeof(info))
		continue;
	if (px.stopping)
		return;
	/* No new clients, no new requests; what is in flight gets its reply. */
	px.stopping = true;
	px.paused = true;
	px.stop_deadline = clock_deadline(CLOCK_MONOTONIC, STOP_GRACE_MS);
	endpoint_close(&px.listener);
	warnmsg("stopping: %zu connections, %zu requests in flight", px.session_count,
	    sessions_in_flight());
}

static bool
stop_done(void)
{
	if (!px.stopping)
		return false;
	if (sessions_in_flight() == 0 && sessions_delivered())
		return true;
	if (clock_ms_since(&px.stop_deadline) >= 0) {
		warnmsg("stopping: %zu requests still in flight after %d ms: closing them",
		    sessions_in_flight(), STOP_GRACE_MS);
		return true;
	}
	return false;
}

/* ---- the loop ---- */

/* How long epoll may sleep: until the nearest pause or stop deadline, in ms. */
static int
loop_timeout(void)
{
	long nearest = controls_next_deadline_ms(), left;

	if (px.stopping) {
		left = -clock_ms_since(&px.stop_deadline);
		if (nearest < 0 || left < nearest)
			nearest = left < 0 ? 0 : left;
	}
	/* A stop polls now and then: a dead peer may never send an event. */
	if (px.stopping && (nearest < 0 || nearest > 100))
		nearest = 100;
	/* --metrics: a state that changed while the counts were not due is written soon. */
	if (px.metrics && (nearest < 0 || nearest > METRICS_EVERY_MS))
		nearest = METRICS_EVERY_MS;
	return nearest < 0 ? -1 : (int)nearest + 1;
}

static void
dispatch(struct endpoint *endpoint, uint32_t events)
{
	switch (endpoint->kind) {
	case EP_LISTEN: accept_clients(); break;
	case EP_CONTROL_LISTEN: accept_control(); break;
	case EP_SIGNAL: stop_begin(); break;
	case EP_CLIENT: client_event(endpoint->owner, events); break;
	case EP_UPSTREAM: upstream_event(endpoint->owner, events); break;
	case EP_CONTROL: control_event(endpoint->owner, events); break;
	}
}

static void
run(void)
{
	struct epoll_event events[EVENTS_MAX];
	int n, k;

	while (!stop_done()) {
		if ((n = epoll_wait(px.epoll, events, EVENTS_MAX, loop_timeout())) < 0) {
			if (errno == EINTR)
				continue;
			die(EXIT_LOCAL, "epoll_wait: %s", strerror(errno));
		}
		for (k = 0; k < n; k++)
			dispatch(events[k].data.ptr, events[k].events);
		controls_check();
		sessions_reap();
		proxy_metrics(false);
	}
	sessions_close_all();
	controls_stopped();
	endpoint_close(&px.control_listener);
	warnmsg("stopped: %llu connections served, %llu requests", (unsigned long long)px.accepted,
	    (unsigned long long)px.requests);
}
