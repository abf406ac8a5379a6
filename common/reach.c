/*
 * reach.c - a connection failure in an operator's words (see reach.h).
 *
 * The driver's server selection error lists, in square brackets, each
 * host it tried and why it failed: "[REASON calling hello on 'HOST']"
 * (older servers: "ismaster"), a pool "[Failed to connect to target
 * host: HOST]". That is parsed here and nothing else; a
 * message of another shape is passed on whole, never guessed at.
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

#include "reach.h"

#define MAX_HOSTS 16

struct attempt {
	char host[256];
	char reason[256];
};

/* A pool's monitor says only "[Failed to connect to target host: HOST]". */
static bool
parse_pooled(const char *start, size_t length, struct attempt *attempt)
{
	static const char prefix[] = "Failed to connect to target host: ";

	if (length <= strlen(prefix) || strncmp(start, prefix, strlen(prefix)) != 0)
		return false;
	snprintf(attempt->reason, sizeof(attempt->reason), "connect failed");
	snprintf(attempt->host, sizeof(attempt->host), "%.*s", (int)(length - strlen(prefix)),
	    start + strlen(prefix));
	return true;
}

/* One "[REASON calling hello on 'HOST']" group; false if it is not one. */
static bool
parse_group(const char *start, size_t length, struct attempt *attempt)
{
	static const char *const markers[] = { " calling hello on '", " calling ismaster on '",
		" calling isMaster on '" };
	const char *marker = NULL, *host, *quote;
	size_t k, marker_length = 0;

	for (k = 0; k < sizeof(markers) / sizeof(markers[0]) && marker == NULL; k++) {
		marker = memmem(start, length, markers[k], strlen(markers[k]));
		marker_length = strlen(markers[k]);
	}
	if (marker == NULL)
		return parse_pooled(start, length, attempt);
	host = marker + marker_length;
	quote = memchr(host, '\'', length - (size_t)(host - start));
	if (quote == NULL || quote == host || marker == start)
		return false;
	snprintf(attempt->reason, sizeof(attempt->reason), "%.*s", (int)(marker - start), start);
	snprintf(attempt->host, sizeof(attempt->host), "%.*s", (int)(quote - host), host);
	return true;
}

/* The bracketed groups of message; how many parsed. */
static size_t
parse_attempts(const char *message, struct attempt *attempts, size_t max)
{
	const char *open = message;
	size_t count = 0;

	while (count < max && (open = strchr(open, '[')) != NULL) {
		const char *close = strchr(open + 1, ']');

		if (close == NULL)
			break;
		if (parse_group(open + 1, (size_t)(close - open - 1), &attempts[count]))
			count++;
		open = close + 1;
	}
	return count;
}

static bool
same_reason(const struct attempt *attempts, size_t count)
{
	size_t k;

	for (k = 1; k < count; k++)
		if (strcmp(attempts[k].reason, attempts[0].reason) != 0)
			return false;
	return true;
}

/* snprintf that appends at *used and never runs past size. */
static void
append(char *out, size_t size, size_t *used, const char *fmt, const char *a, const char *b)
{
	int n;

	if (*used >= size)
		return;
	n = snprintf(out + *used, size - *used, fmt, a, b);
	if (n > 0)
		*used = *used + (size_t)n < size ? *used + (size_t)n : size;
}

bool
reach_describe(const bson_error_t *error, const char *hosts, char *out, size_t size)
{
	struct attempt attempts[MAX_HOSTS];
	size_t count = parse_attempts(error->message, attempts, MAX_HOSTS), k, used = 0;
	bool network = error->domain == MONGOC_ERROR_STREAM ||
	    error->domain == MONGOC_ERROR_SERVER_SELECTION;

	if (size == 0)
		return count > 0;
	out[0] = '\0';
	if (hosts == NULL || hosts[0] == '\0')
		hosts = "the server";
	if (count == 0) {
		if (network)
			snprintf(out, size, "cannot reach %s (%s)", hosts, error->message);
		else
			snprintf(out, size, "%s: %s", hosts, error->message);
		return false;
	}
	append(out, size, &used, "%s%s", "cannot reach ", "");
	if (same_reason(attempts, count)) {
		for (k = 0; k < count; k++)
			append(out, size, &used, "%s%s", k > 0 ? ", " : "", attempts[k].host);
		append(out, size, &used, " (%s)%s", attempts[0].reason, "");
		return true;
	}
	for (k = 0; k < count; k++) {
		append(out, size, &used, "%s%s", k > 0 ? ", " : "", attempts[k].host);
		append(out, size, &used, " (%s)%s", attempts[k].reason, "");
	}
	return true;
}

void
reach_duration(long ms, char *out, size_t size)
{
	long s = ms / 1000;

	if (ms < 0)
		ms = s = 0;
	if (ms < 1000 || (ms < 10000 && ms % 1000 != 0)) {
		if (ms % 1000 == 0 || ms < 1000)
			snprintf(out, size, "%ldms", ms);
		else
			snprintf(out, size, "%.1fs", (double)ms / 1000.0);
	} else if (s < 60) {
		snprintf(out, size, "%lds", s);
	} else if (s < 3600) {
		if (s % 60 == 0)
			snprintf(out, size, "%ldm", s / 60);
		else
			snprintf(out, size, "%ldm%lds", s / 60, s % 60);
	} else if (s % 3600 / 60 == 0) {
		snprintf(out, size, "%ldh", s / 3600);
	} else {
		snprintf(out, size, "%ldh%ldm", s / 3600, s % 3600 / 60);
	}
}
