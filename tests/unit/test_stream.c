/*
 * test_stream.c - the frame reader and writer where a shell test cannot
 * reach: frames larger than the window, zstd frames concatenated by an
 * append, byte offsets in errors, and waiting on an idle pipe.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "die.h"
#include "entry.h"
#include "stream.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static char *
temp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/oplogkit-test-%d-%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
	    (int)getpid(), name);
	return path;
}

/* A document {n: k, pad: "xxx..."} of about size bytes. */
static bson_t *
make_doc(int k, size_t size)
{
	bson_t *doc = bson_new();
	char *pad = xmalloc(size + 1);

	memset(pad, 'x', size);
	pad[size] = '\0';
	BSON_APPEND_INT32(doc, "n", k);
	BSON_APPEND_UTF8(doc, "pad", pad);
	free(pad);
	return doc;
}

static void
write_docs(const char *path, int level, bool append, int from, int count, size_t size)
{
	stream_writer *writer = stream_create(path, level, append);
	int k;

	CHECK(writer != NULL);
	for (k = from; k < from + count; k++) {
		bson_t *doc = make_doc(k, size);

		CHECK(stream_write(writer, doc));
		bson_destroy(doc);
	}
	CHECK(stream_finish(writer));
}

/* Read the file back; checks n runs from 0 and returns the count. */
static int
read_docs(const char *path)
{
	stream_reader *reader = stream_open(path);
	const bson_t *entry;
	int count = 0, status;
	bson_iter_t iter;

	CHECK(reader != NULL);
	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		CHECK(bson_iter_init_find(&iter, entry, "n") && bson_iter_int32(&iter) == count);
		count++;
	}
	CHECK(status == STREAM_END);
	stream_close(reader);
	return count;
}

static void
test_large_frames(void)
{
	const char *path = temp_path("large");

	/* 3 MiB frames are larger than the 1 MiB window and the writer's buffer. */
	write_docs(path, 0, false, 0, 4, 3 * 1024 * 1024);
	CHECK(read_docs(path) == 4);
	write_docs(path, 5, false, 0, 4, 3 * 1024 * 1024);
	CHECK(read_docs(path) == 4);
	unlink(path);
}

static void
test_zstd_append(void)
{
	const char *path = temp_path("append");

	write_docs(path, 3, false, 0, 1000, 100);
	write_docs(path, 3, true, 1000, 1000, 100);
	CHECK(read_docs(path) == 2000);
	unlink(path);
}

static void
test_truncation_offset(void)
{
	const char *path = temp_path("cut");
	stream_reader *reader;
	const bson_t *entry;
	int status, count = 0;

	write_docs(path, 0, false, 0, 3, 50);
	/* Each frame: 4 + (7 "n") + (4 + 4 + 51 "pad") + 1 = ... read one to learn the size. */
	reader = stream_open(path);
	CHECK(stream_next(reader, &entry) == STREAM_ENTRY);
	CHECK(truncate(path, entry->len * 2 + 10) == 0);
	stream_close(reader);

	reader = stream_open(path);
	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY)
		count++;
	CHECK(count == 2);
	CHECK(status == STREAM_ERROR);
	CHECK(strstr(stream_error(reader), "entry 3 at byte") != NULL);
	stream_close(reader);
	unlink(path);
}

static void
test_idle_pipe(void)
{
	int fds[2];
	stream_reader *reader;
	const bson_t *entry;
	bson_t *doc = make_doc(0, 10);

	CHECK(pipe(fds) == 0);
	CHECK(dup2(fds[0], STDIN_FILENO) >= 0);
	close(fds[0]);
	reader = stream_open("-");
	stream_set_wait(reader, 20, false);
	CHECK(stream_next(reader, &entry) == STREAM_AGAIN);
	/* Half a frame, then the wait passes, then the rest: one entry. */
	CHECK(write(fds[1], bson_get_data(doc), 6) == 6);
	CHECK(stream_next(reader, &entry) == STREAM_AGAIN);
	CHECK(write(fds[1], bson_get_data(doc) + 6, doc->len - 6) == (ssize_t)(doc->len - 6));
	CHECK(stream_next(reader, &entry) == STREAM_ENTRY && entry->len == doc->len);
	close(fds[1]);
	CHECK(stream_next(reader, &entry) == STREAM_END);
	stream_close(reader);
	bson_destroy(doc);
}

static void
test_timestamps(void)
{
	timestamp_t ts;

	CHECK(ts_parse("1700000000,5", &ts) && ts.t == 1700000000 && ts.i == 5);
	CHECK(ts_parse("42", &ts) && ts.t == 42 && ts.i == 0);
	CHECK(ts_parse("{\"$timestamp\": {\"t\": 7, \"i\": 9}}", &ts) && ts.t == 7 && ts.i == 9);
	CHECK(!ts_parse("7,", &ts));
	CHECK(!ts_parse("-1", &ts));
	CHECK(!ts_parse("99999999999", &ts));
	CHECK(!ts_parse("{\"t\": 1}", &ts));
}

int
main(int argc, char *argv[])
{
	(void)argc;
	die_init(argv[0]);
	test_large_frames();
	test_zstd_append();
	test_truncation_offset();
	test_idle_pipe();
	test_timestamps();
	if (failures > 0) {
		fprintf(stderr, "test_stream: %d checks failed\n", failures);
		return 1;
	}
	return 0;
}
