/*
 * wire-session - run commands one after another on ONE connection, as an
 * application does, for tests of what happens to a connection (a cursor
 * open on it, a proxy moving it) between two commands.
 *
 *   wire-session URI DB < lines
 *
 * Each input line is a command in Extended JSON, run on DB; its reply is
 * printed as one line of relaxed Extended JSON (or "error: MESSAGE" when
 * there is no reply). "@wait PATH" waits until PATH exists, so a test
 * can act between two commands. A single-threaded mongoc client keeps
 * one connection to its one server. Uses no libcommon, like mongo-cmd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

static void
wait_for(const char *path)
{
	struct timespec tick = { 0, 20 * 1000000L };
	struct stat st;
	int k;

	for (k = 0; k < 1500 && stat(path, &st) != 0; k++)
		nanosleep(&tick, NULL);
}

static void
run(mongoc_client_t *client, const char *db, const char *json)
{
	bson_error_t error;
	bson_t *command, reply;
	char *text;
	bool ok;

	if ((command = bson_new_from_json((const uint8_t *)json, -1, &error)) == NULL) {
		printf("error: bad command: %s\n", error.message);
		return;
	}
	ok = mongoc_client_command_simple(client, db, command, NULL, &reply, &error);
	if (!bson_empty(&reply)) {
		text = bson_as_relaxed_extended_json(&reply, NULL);
		printf("%s\n", text);
		bson_free(text);
	} else if (!ok) {
		printf("error: %s\n", error.message);
	}
	bson_destroy(&reply);
	bson_destroy(command);
}

int
main(int argc, char **argv)
{
	mongoc_client_t *client;
	bson_error_t error;
	mongoc_uri_t *uri;
	char *line = NULL;
	size_t size = 0;
	ssize_t length;

	if (argc != 3) {
		fprintf(stderr, "usage: wire-session URI DB < commands\n");
		return 2;
	}
	mongoc_init();
	if ((uri = mongoc_uri_new_with_error(argv[1], &error)) == NULL) {
		fprintf(stderr, "wire-session: %s\n", error.message);
		return 2;
	}
	client = mongoc_client_new_from_uri(uri);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((length = getline(&line, &size, stdin)) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "@wait ", 6) == 0)
			wait_for(line + 6);
		else if (line[0] != '\0')
			run(client, argv[2], line);
	}
	free(line);
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return 0;
}
