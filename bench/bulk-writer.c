/*
 * bulk-writer - the benchmarks' baseline writer: plain libmongoc, no
 * oplogkit code. It inserts documents into one collection in unordered
 * bulk batches, which is as fast as a client can load a server, so
 * oplog-apply and snap-import are measured against it.
 *
 *   bulk-writer [--batch N] [--drop] URI NS [FILE]   documents of FILE (BSON)
 *   bulk-writer --generate N [--seed S] [--batch N] [--drop] URI NS
 *
 * --generate makes N documents of 100 B to 16 KiB (most small), with
 * _id 0..N-1, shaped like gen-oplog's. Prints the count and the seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#define PROG "bulk-writer"
#define PAD_BYTES 16384

struct source {
	bson_reader_t *reader;	/* NULL when generating */
	long long remaining;	/* documents still to generate */
	long long next_id;
	unsigned long long state;
	char pad[PAD_BYTES];
};

static void usage(void) __attribute__((noreturn));
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " [--batch N] [--drop] URI NS [FILE]\n"
	    "       " PROG " --generate N [--seed S] [--batch N] [--drop] URI NS\n");
	exit(2);
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long
number(const char *option, const char *text)
{
	char *end;
	long long value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 0)
		fail("%s: not a number: %s", option, text);
	return value;
}

/* FerretDB has no endSessions; libmongoc warns about it at every exit. */
static void
log_quietly(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	if (strstr(message, "endSessions") == NULL)
		mongoc_log_default_handler(level, domain, message, data);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long
next_random(struct source *src)
{
	src->state ^= src->state >> 12;
	src->state ^= src->state << 25;
	src->state ^= src->state >> 27;
	return src->state * 2685821657736338717ULL;
}

/* The same size spread as gen-oplog: 70% < 0.5 KiB, 5% 4..16 KiB. */
static int
pad_length(struct source *src)
{
	unsigned dice = (unsigned)(next_random(src) % 100);

	if (dice < 70)
		return 40 + (int)(next_random(src) % 400);
	if (dice < 95)
		return 500 + (int)(next_random(src) % 3500);
	return 4000 + (int)(next_random(src) % 12000);
}

static void
generate(struct source *src, bson_t *doc)
{
	bson_t tags, nested;

	bson_init(doc);
	BSON_APPEND_INT64(doc, "_id", src->next_id++);
	BSON_APPEND_UTF8(doc, "name", "generated");
	BSON_APPEND_INT64(doc, "n", (int64_t)(next_random(src) % 1000000));
	BSON_APPEND_ARRAY_BEGIN(doc, "tags", &tags);
	BSON_APPEND_UTF8(&tags, "0", "a");
	BSON_APPEND_UTF8(&tags, "1", "b");
	bson_append_array_end(doc, &tags);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "nested", &nested);
	BSON_APPEND_INT32(&nested, "a", 1);
	BSON_APPEND_UTF8(&nested, "b", "x");
	bson_append_document_end(doc, &nested);
	bson_append_utf8(doc, "pad", 3, src->pad, pad_length(src));
}

/* Fill batch with up to limit documents; returns how many. */
static int
fill_batch(struct source *src, bson_t *batch, int limit)
{
	int n = 0;

	while (n < limit) {
		if (src->reader == NULL) {
			if (src->remaining == 0)
				break;
			src->remaining--;
			generate(src, &batch[n++]);
			continue;
		}
		bool eof = false;
		const bson_t *doc = bson_reader_read(src->reader, &eof);

		if (doc == NULL) {
			if (!eof)
				fail("input: corrupt BSON after document %lld", src->next_id);
			break;
		}
		bson_copy_to(doc, &batch[n++]);
		src->next_id++;
	}
	return n;
}

static void
insert_batch(mongoc_collection_t *coll, bson_t *batch, int n)
{
	bson_t opts = BSON_INITIALIZER, reply;
	bson_error_t error;
	mongoc_bulk_operation_t *bulk;

	BSON_APPEND_BOOL(&opts, "ordered", false);
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
	for (int i = 0; i < n; i++)
		if (!mongoc_bulk_operation_insert_with_opts(bulk, &batch[i], NULL, &error))
			fail("insert: %s", error.message);
	if (mongoc_bulk_operation_execute(bulk, &reply, &error) == 0)
		fail("bulk insert: %s", error.message);
	bson_destroy(&reply);
	bson_destroy(&opts);
	mongoc_bulk_operation_destroy(bulk);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "drop", no_argument, NULL, 'd' },
		{ "generate", required_argument, NULL, 'g' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct source *src;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	mongoc_uri_t *uri;
	bson_error_t error;
	bson_t *batch;
	long long batch_size = 1000, total = 0;
	bool drop = false, generating = false;
	char db[128];
	const char *dot;
	double started;
	int c, n;

	src = calloc(1, sizeof(*src));
	if (src == NULL)
		fail("out of memory");
	src->state = 1;
	while ((c = getopt_long(argc, argv, "b:dg:s:h", options, NULL)) != -1) {
		switch (c) {
		case 'b': batch_size = number("--batch", optarg); break;
		case 'd': drop = true; break;
		case 'g': src->remaining = number("--generate", optarg); generating = true; break;
		case 's': src->state = (unsigned long long)number("--seed", optarg) | 1; break;
		case 'h': printf("usage: " PROG " [--batch N] [--drop] [--generate N [--seed S]] URI NS [FILE]\n"); exit(0);
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3 || (generating && argc == 3) || batch_size < 1)
		usage();
	dot = strchr(argv[1], '.');
	if (dot == NULL || dot == argv[1] || dot[1] == '\0' || (size_t)(dot - argv[1]) >= sizeof(db))
		fail("%s: not a namespace DB.COLLECTION", argv[1]);
	memcpy(db, argv[1], (size_t)(dot - argv[1]));
	db[dot - argv[1]] = '\0';
	memset(src->pad, 'x', sizeof(src->pad));
	if (!generating) {
		int fd = argc == 3 ? open(argv[2], O_RDONLY) : STDIN_FILENO;

		if (fd < 0)
			fail("%s: %s", argv[2], strerror(errno));
		src->reader = bson_reader_new_from_fd(fd, true);
	}

	mongoc_init();
	mongoc_log_set_handler(log_quietly, NULL);
	uri = mongoc_uri_new_with_error(argv[0], &error);
	if (uri == NULL)
		fail("%s: %s", argv[0], error.message);
	client = mongoc_client_new_from_uri(uri);
	if (client == NULL)
		fail("cannot make a client");
	coll = mongoc_client_get_collection(client, db, dot + 1);
	if (drop && !mongoc_collection_drop(coll, &error) && error.code != 26)
		fail("drop %s: %s", argv[1], error.message);

	batch = calloc((size_t)batch_size, sizeof(*batch));
	if (batch == NULL)
		fail("out of memory");
	started = now_seconds();
	while ((n = fill_batch(src, batch, (int)batch_size)) > 0) {
		insert_batch(coll, batch, n);
		for (int i = 0; i < n; i++)
			bson_destroy(&batch[i]);
		total += n;
	}
	printf("%lld documents in %.3f s\n", total, now_seconds() - started);

	free(batch);
	if (src->reader != NULL)
		bson_reader_destroy(src->reader);
	free(src);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return 0;
}
