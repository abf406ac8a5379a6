/*
 * mongo-cmd.c - the tests' window on a server: run one command, dump a
 * collection, or load documents into one.
 *
 *   mongo-cmd URI DB JSON            run a command, print the reply
 *   mongo-cmd --dump URI NS          every document, by _id, canonical
 *   mongo-cmd --dump-bson URI NS     the same as raw BSON frames
 *   mongo-cmd --insert URI NS [N]    insert extJSON lines from stdin
 *
 * It is a test oracle, so it shares no code with the programs it checks:
 * only libmongoc and libbson. It waits for a server that is still coming
 * up (a fresh client per try: a single-threaded client would sit out a
 * five-second cooldown after the first refused connection).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

#define PROG "mongo-cmd"

enum mode { MODE_COMMAND, MODE_DUMP, MODE_DUMP_BSON, MODE_INSERT };

static const char usage_text[] =
    "usage: " PROG " [--wait SECONDS] URI DB JSON\n"
    "       " PROG " --dump | --dump-bson URI NS\n"
    "       " PROG " --insert URI NS [BATCH] < docs.json\n";

static long wait_ms = 10000;

static void usage(void) __attribute__((noreturn));
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static long number(const char *option, const char *text);
static mongoc_client_t *client_connect(const char *uri_text);
static int run_command(mongoc_client_t *client, const char *db, const char *json);
static int dump(mongoc_client_t *client, const char *ns, bool raw);
static int insert(mongoc_client_t *client, const char *ns, long batch);

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dump", no_argument, NULL, 'd' },
		{ "dump-bson", no_argument, NULL, 'b' },
		{ "insert", no_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum mode mode = MODE_COMMAND;
	mongoc_client_t *client;
	long batch = 1000;
	int ch, status;

	while ((ch = getopt_long(argc, argv, "+w:h", options, NULL)) != -1) {
		switch (ch) {
		case 'd':
			mode = MODE_DUMP;
			break;
		case 'b':
			mode = MODE_DUMP_BSON;
			break;
		case 'i':
			mode = MODE_INSERT;
			break;
		case 'w':
			wait_ms = number("--wait", optarg) * 1000;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3 ||
	    (mode == MODE_COMMAND && argc != 3) ||
	    ((mode == MODE_DUMP || mode == MODE_DUMP_BSON) && argc != 2))
		usage();
	if (mode == MODE_INSERT && argc == 3)
		batch = number("BATCH", argv[2]);
	if (batch < 1)
		fail("BATCH: must be at least 1");

	mongoc_init();
	/* Its warnings ("Couldn't send endSessions" to FerretDB) are noise. */
	mongoc_log_set_handler(NULL, NULL);
	client = client_connect(argv[0]);
	switch (mode) {
	case MODE_COMMAND:
		status = run_command(client, argv[1], argv[2]);
		break;
	case MODE_DUMP:
	case MODE_DUMP_BSON:
		status = dump(client, argv[1], mode == MODE_DUMP_BSON);
		break;
	default:
		status = insert(client, argv[1], batch);
		break;
	}
	mongoc_client_destroy(client);
	mongoc_cleanup();
	if (fflush(stdout) != 0 || ferror(stdout))
		fail("stdout: %s", strerror(errno));
	return status;
}

static void
usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long
number(const char *option, const char *text)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || n < 0 || n > INT_MAX / 1000) {
		fprintf(stderr, PROG ": %s: not a number: %s\n", option, text);
		exit(2);
	}
	return n;
}

static long
now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		fail("clock_gettime: %s", strerror(errno));
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Errors that mean "nobody answered yet", worth another try. */
static bool
error_is_unreachable(const bson_error_t *error)
{
	return error->domain == MONGOC_ERROR_SERVER_SELECTION ||
	    error->domain == MONGOC_ERROR_STREAM;
}

static mongoc_uri_t *
uri_parse(const char *text)
{
	mongoc_uri_t *uri;
	bson_error_t error;

	if ((uri = mongoc_uri_new_with_error(text, &error)) == NULL)
		fail("%s: %s", text, error.message);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri,
		    MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri,
		    MONGOC_URI_CONNECTTIMEOUTMS, 2000);
	return uri;
}

static mongoc_client_t *
client_connect(const char *uri_text)
{
	mongoc_uri_t *uri = uri_parse(uri_text);
	long deadline = now_ms() + wait_ms;
	bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
	mongoc_client_t *client;
	bson_error_t error;

	for (;;) {
		if ((client = mongoc_client_new_from_uri_with_error(uri, &error)) == NULL)
			fail("%s: %s", uri_text, error.message);
		mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
		if (mongoc_client_command_simple(client, "admin", ping, NULL,
		    NULL, &error))
			break;
		mongoc_client_destroy(client);
		if (!error_is_unreachable(&error) || now_ms() >= deadline)
			fail("%s: %s", uri_text, error.message);
		nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
	}
	bson_destroy(ping);
	mongoc_uri_destroy(uri);
	return client;
}

static bson_t *
json_parse(const char *what, const char *json, ssize_t len)
{
	bson_error_t error;
	bson_t *doc;

	if ((doc = bson_new_from_json((const uint8_t *)json, len, &error)) == NULL)
		fail("%s: bad Extended JSON: %s", what, error.message);
	return doc;
}

static void
print_json(FILE *out, const bson_t *doc, bool canonical)
{
	char *json;

	json = canonical ? bson_as_canonical_extended_json(doc, NULL) :
	    bson_as_relaxed_extended_json(doc, NULL);
	if (json == NULL)
		fail("cannot print a reply as Extended JSON");
	fprintf(out, "%s\n", json);
	bson_free(json);
}

/* On failure the reply, if the server sent one, still goes to stdout. */
static int
run_command(mongoc_client_t *client, const char *db, const char *json)
{
	bson_t *command = json_parse("command", json, -1);
	bson_error_t error;
	bson_t reply;
	bool ok;

	ok = mongoc_client_command_simple(client, db, command, NULL, &reply,
	    &error);
	if (!bson_empty(&reply))
		print_json(stdout, &reply, false);
	if (!ok)
		fprintf(stderr, PROG ": %s: %s (code %u)\n", db, error.message,
		    error.code);
	bson_destroy(&reply);
	bson_destroy(command);
	return ok ? 0 : 1;
}

static mongoc_collection_t *
collection_open(mongoc_client_t *client, const char *ns)
{
	const char *dot = strchr(ns, '.');
	mongoc_collection_t *collection;
	char *db;

	if (dot == NULL || dot == ns || dot[1] == '\0')
		fail("%s: not a namespace (want DB.COLLECTION)", ns);
	db = bson_strndup(ns, (size_t)(dot - ns));
	collection = mongoc_client_get_collection(client, db, dot + 1);
	bson_free(db);
	return collection;
}

/* The oplog has no _id: its order is the order it was written in. */
static int
dump(mongoc_client_t *client, const char *ns, bool raw)
{
	mongoc_collection_t *collection = collection_open(client, ns);
	bool oplog = strcmp(ns, "local.oplog.rs") == 0;
	bson_t *opts = BCON_NEW("sort", "{", oplog ? "$natural" : "_id",
	    BCON_INT32(1), "}");
	bson_t filter = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	int status = 0;

	cursor = mongoc_collection_find_with_opts(collection, &filter, opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		if (!raw)
			print_json(stdout, doc, true);
		else if (fwrite(bson_get_data(doc), 1, doc->len, stdout) != doc->len)
			fail("stdout: %s", strerror(errno));
	}
	if (mongoc_cursor_error(cursor, &error)) {
		fprintf(stderr, PROG ": %s: %s\n", ns, error.message);
		status = 1;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_collection_destroy(collection);
	return status;
}

static bool
bulk_flush(mongoc_collection_t *collection, bson_t **docs, size_t count,
    const char *ns)
{
	bson_error_t error;
	bson_t reply;
	bool ok;

	ok = mongoc_collection_insert_many(collection, (const bson_t **)docs,
	    count, NULL, &reply, &error);
	if (!ok) {
		fprintf(stderr, PROG ": %s: insert: %s\n", ns, error.message);
		print_json(stderr, &reply, false);
	}
	bson_destroy(&reply);
	for (size_t i = 0; i < count; i++)
		bson_destroy(docs[i]);
	return ok;
}

static int
insert(mongoc_client_t *client, const char *ns, long batch)
{
	mongoc_collection_t *collection = collection_open(client, ns);
	bson_t **docs = bson_malloc((size_t)batch * sizeof(*docs));
	size_t count = 0, size = 0;
	unsigned long line_number = 0;
	char *line = NULL, what[64];
	ssize_t len;
	bool ok = true;

	while (ok && (len = getline(&line, &size, stdin)) != -1) {
		line_number++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		snprintf(what, sizeof(what), "stdin line %lu", line_number);
		docs[count++] = json_parse(what, line, len);
		if (count == (size_t)batch) {
			ok = bulk_flush(collection, docs, count, ns);
			count = 0;
		}
	}
	if (ferror(stdin))
		fail("stdin: %s", strerror(errno));
	if (ok && count > 0)
		ok = bulk_flush(collection, docs, count, ns);
	free(line);
	bson_free(docs);
	mongoc_collection_destroy(collection);
	return ok ? 0 : 1;
}
