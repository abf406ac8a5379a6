/*
 * proxy.c - entry-switch's entry-proxy client: its pause is the fence, its
 * switch the entry; a failed cutover points it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "control.h"
#include "die.h"
#include "entry.h"
#include "lag.h"
#include "mongo-errors.h"
#include "shell.h"
#include "switch.h"

/* ---- entry-proxy ---- */

/*
 * Send one command line to entry-proxy's control socket and read its
 * one-line JSON answer into answer. False (why set) when the proxy is
 * unreachable or says ok false. A pause answers once nothing is in
 * flight, within the proxy's --pause-timeout: wait a little longer.
 */
static bool
proxy_command(struct cutover *x, const char *command, char *answer, size_t answer_size,
    char *why, size_t size)
{
	char reason[1024];

	if (control_request(x->config->proxy, command, PROXY_ANSWER_MS, answer, answer_size, reason,
	    sizeof(reason)) == CONTROL_OK)
		return true;
	/* reason starts with the path: a why cut short still names the proxy. */
	if (snprintf(why, size, "--proxy %s (%s)", reason, command) < 0)
		why[0] = '\0';
	return false;
}

/* The value of "key": in a flat JSON answer, as text (a string's quotes dropped). */
static const char *
json_field(const char *answer, const char *key, char *out, size_t size)
{
	char pattern[64];
	const char *at;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	if ((at = strstr(answer, pattern)) == NULL) {
		snprintf(out, size, "?");
		return out;
	}
	at += strlen(pattern);
	if (*at == '"')
		at++;
	snprintf(out, size, "%.*s", (int)strcspn(at, "\",}"), at);
	return out;
}

/* Where the proxy must send the applications: --proxy-upstream, else the target's host. */
void
proxy_prepare(struct cutover *x, const char *target_uri)
{
	const mongoc_host_list_t *hosts;
	mongoc_uri_t *uri;
	bson_error_t error;

	if (x->config->proxy == NULL)
		return;
	if (x->config->proxy_upstream != NULL) {
		snprintf(x->proxy_upstream, sizeof(x->proxy_upstream), "%s",
		    x->config->proxy_upstream);
		return;
	}
	if ((uri = mongoc_uri_new_with_error(target_uri, &error)) == NULL)
		die(EXIT_USAGE, "--target: %s", error.message);
	if ((hosts = mongoc_uri_get_hosts(uri)) == NULL || hosts->next != NULL)
		die(EXIT_USAGE, "--proxy: the target URI must name one host, or give --proxy-upstream");
	snprintf(x->proxy_upstream, sizeof(x->proxy_upstream), "%s", hosts->host_and_port);
	mongoc_uri_destroy(uri);
}

enum attempt
try_proxy(struct cutover *x, char *why, size_t size)
{
	char answer[1024], held[32], waited[32], undo[256];

	if (x->config->proxy == NULL)
		return MISSING;
	if (proxy_command(x, "pause", answer, sizeof(answer), why, size))  {
		x->fenced = true;	/* fence_up sets the rest; the detail is ours */
		snprintf(x->steps[STEP_FENCE].detail, sizeof(x->steps[STEP_FENCE].detail),
		    "(nothing in flight after %s ms, %s requests held)",
		    json_field(answer, "waited_ms", waited, sizeof(waited)),
		    json_field(answer, "held", held, sizeof(held)));
		return RAISED;
	}
	/* A pause that timed out leaves the proxy paused: release it. */
	if (!proxy_command(x, "resume", answer, sizeof(answer), undo, sizeof(undo)))
		warnmsg("%s", undo);
	return FAILED;
}

bool
proxy_resume(struct cutover *x, char *why, size_t size)
{
	char answer[1024], message[512];

	if (proxy_command(x, "resume", answer, sizeof(answer), message, sizeof(message)))
		return true;
	snprintf(why, size, "; %s", message);
	return false;
}

/* Point the proxy at the target, remembering where it pointed to undo it. */
bool
proxy_switch(struct cutover *x, char *detail, size_t detail_size, char *why, size_t size)
{
	char answer[1024], command[400], moving[32];

	if (!proxy_command(x, "status", answer, sizeof(answer), why, size))
		return false;
	json_field(answer, "upstream", x->proxy_old_upstream, sizeof(x->proxy_old_upstream));
	snprintf(command, sizeof(command), "switch %s", x->proxy_upstream);
	if (!proxy_command(x, command, answer, sizeof(answer), why, size))
		return false;
	x->proxy_switched = true;
	snprintf(detail, detail_size, "proxy %s -> %s (%s connections moving)", x->proxy_old_upstream,
	    x->proxy_upstream, json_field(answer, "moving", moving, sizeof(moving)));
	return true;
}

void
proxy_switch_back(struct cutover *x)
{
	char answer[1024], command[400], why[512];

	snprintf(command, sizeof(command), "switch %s", x->proxy_old_upstream);
	if (proxy_command(x, command, answer, sizeof(answer), why, sizeof(why)))
		x->proxy_switched = false;
	else
		warnmsg("putting the proxy back: %s", why);
}

