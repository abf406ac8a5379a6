/*
 * test_reach - the driver's connection errors in an operator's words
 * (common/reach.c), from the messages libmongoc 1.23 gives; and the
 * durations those lines print.
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

#include "reach.h"

static int failures;

static void
expect_describe(uint32_t domain, const char *message, const char *hosts, const char *want,
    bool want_named)
{
	bson_error_t error;
	char out[512];
	bool named;

	memset(&error, 0, sizeof(error));
	error.domain = domain;
	error.code = 13053;
	snprintf(error.message, sizeof(error.message), "%s", message);
	named = reach_describe(&error, hosts, out, sizeof(out));
	if (strcmp(out, want) != 0 || named != want_named) {
		fprintf(stderr, "test_reach: %s\n  got  %s (%s)\n  want %s (%s)\n", message, out,
		    named ? "named" : "not named", want, want_named ? "named" : "not named");
		failures++;
	}
}

static void
expect_duration(long ms, const char *want)
{
	char out[32];

	reach_duration(ms, out, sizeof(out));
	if (strcmp(out, want) != 0) {
		fprintf(stderr, "test_reach: duration %ld: got %s, want %s\n", ms, out, want);
		failures++;
	}
}

static void
test_describe(void)
{
	expect_describe(MONGOC_ERROR_SERVER_SELECTION,
	    "No suitable servers found (`serverSelectionTryOnce` set): "
	    "[connection refused calling hello on '127.0.0.1:1']",
	    "127.0.0.1:1", "cannot reach 127.0.0.1:1 (connection refused)", true);
	expect_describe(MONGOC_ERROR_SERVER_SELECTION,
	    "No suitable servers found (`serverSelectionTryOnce` set): "
	    "[socket timeout calling hello on '127.0.0.1:45111']",
	    NULL, "cannot reach 127.0.0.1:45111 (socket timeout)", true);
	/* Two hosts, one reason: said once. */
	expect_describe(MONGOC_ERROR_SERVER_SELECTION,
	    "No suitable servers found: `serverSelectionTimeoutMS` expired: "
	    "[connection refused calling hello on 'a:1'] [connection refused calling hello on 'b:2']",
	    "a:1,b:2", "cannot reach a:1, b:2 (connection refused)", true);
	expect_describe(MONGOC_ERROR_SERVER_SELECTION,
	    "No suitable servers found: [connection refused calling ismaster on 'a:1'] "
	    "[socket timeout calling hello on 'b:2']",
	    "a:1,b:2", "cannot reach a:1 (connection refused), b:2 (socket timeout)", true);
	expect_describe(MONGOC_ERROR_SERVER_SELECTION,
	    "No suitable servers found: `serverSelectionTimeoutMS` expired: "
	    "[Failed to connect to target host: 127.0.0.1:1]",
	    NULL, "cannot reach 127.0.0.1:1 (connect failed)", true);
	/* No host in the message: the caller's hosts, the message whole. */
	expect_describe(MONGOC_ERROR_SERVER_SELECTION, "No servers yet eligible for rescan",
	    "127.0.0.1:1", "cannot reach 127.0.0.1:1 (No servers yet eligible for rescan)", false);
	expect_describe(MONGOC_ERROR_STREAM, "Failed to read 4 bytes: socket error or timeout", NULL,
	    "cannot reach the server (Failed to read 4 bytes: socket error or timeout)", false);
	/* Not a network error: not "cannot reach". */
	expect_describe(MONGOC_ERROR_SERVER, "not primary", "h:1", "h:1: not primary", false);
	/* Brackets that are not a host's story are not guessed at. */
	expect_describe(MONGOC_ERROR_SERVER_SELECTION, "odd [thing] [calling hello on '']", "h:1",
	    "cannot reach h:1 (odd [thing] [calling hello on ''])", false);
}

static void
test_duration(void)
{
	expect_duration(0, "0ms");
	expect_duration(250, "250ms");
	expect_duration(1500, "1.5s");
	expect_duration(3000, "3s");
	expect_duration(59999, "59s");
	expect_duration(60000, "1m");
	expect_duration(270000, "4m30s");
	expect_duration(300000, "5m");
	expect_duration(3600000, "1h");
	expect_duration(3720000, "1h2m");
	expect_duration(-5, "0ms");
}

int
main(void)
{
	test_describe();
	test_duration();
	if (failures > 0)
		fprintf(stderr, "test_reach: %d failed\n", failures);
	return failures > 0;
}
