/*
 * stream.c - read and write framed BSON streams.
 *
 * A frame is one BSON document; its own int32 length is the frame.
 * Every frame is checked (bounds, completeness, NUL, bson_validate)
 * before anyone else sees it. The reader owns one window buffer that
 * holds at least one whole frame; it grows only to the largest frame
 * seen (bounded by max_frame), never with the stream's length. zstd is
 * detected by its magic and decompressed through a second fixed buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "clock.h"
#include "cli.h"
#include "die.h"
#include "stream.h"

#define WINDOW_BYTES (1024 * 1024)
#define OUTPUT_BYTES (1024 * 1024)
#define ERROR_BYTES 512
#define MAX_NESTING 1024	/* bounds the stack; bsondump reads 500 levels */

static const uint8_t zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

struct stream_reader {
	int fd;
	bool owns_fd;
	char *name;

	uint8_t *window;	/* plain bytes: [start, end) not yet consumed */
	size_t capacity, start, end;
	bool input_ended;	/* read() returned 0 (or zstd input exhausted) */
	bool sniffed;		/* first bytes inspected for the zstd magic */

	ZSTD_DStream *zstd;	/* non-NULL for a compressed stream */
	uint8_t *zstd_input;
	ZSTD_inBuffer zin;
	size_t zstd_frame_open;	/* last ZSTD_decompressStream hint: 0 at a frame end */

	uint32_t max_frame;
	int wait_ms;
	bool follow;

	uint64_t consumed;	/* plain bytes consumed before window[start] */
	uint64_t count;
	uint64_t last_offset;
	uint32_t last_length;
	const uint8_t *last_frame;
	bson_t entry;
	char error[ERROR_BYTES];
};

struct stream_writer {
	int fd;
	bool owns_fd;
	char *name;
	uint8_t *buffer;
	size_t used;
	ZSTD_CStream *zstd;
	uint8_t *zstd_output;
	size_t zstd_output_size;
	bool failed;
};

static int
reader_fail(stream_reader *reader, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reader_fail(stream_reader *reader, const char *fmt, ...)
{
	char why[ERROR_BYTES / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(reader->error, sizeof(reader->error), "%s: entry %" PRIu64 " at byte %" PRIu64 ": %s",
	    reader->name, reader->count + 1, reader->consumed + reader->start, why);
	return STREAM_ERROR;
}

static stream_reader *
reader_new(int fd, bool owns_fd, const char *name)
{
	stream_reader *reader;

	reader = xcalloc(1, sizeof(*reader));
	reader->fd = fd;
	reader->owns_fd = owns_fd;
	reader->name = xstrdup(name);
	reader->capacity = WINDOW_BYTES;
	reader->window = xmalloc(reader->capacity);
	reader->max_frame = STREAM_MAX_FRAME_DEFAULT;
	return reader;
}

stream_reader *
stream_open(const char *path)
{
	int fd;

	if (path == NULL || strcmp(path, "-") == 0)
		return reader_new(STDIN_FILENO, false, "stdin");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		warnmsg("%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	return reader_new(fd, true, path);
}

stream_reader *
stream_open_fd(int fd, const char *name)
{
	return reader_new(fd, false, name);
}

void
stream_set_max_frame(stream_reader *reader, uint32_t max_bytes)
{
	reader->max_frame = max_bytes;
}

void
stream_set_wait(stream_reader *reader, int wait_ms, bool follow)
{
	reader->wait_ms = wait_ms;
	reader->follow = follow;
}

/*
 * Read raw bytes from the file. Returns bytes read, 0 at end of input,
 * -1 on error (message set), -2 when the wait time passed with no data.
 */
static ssize_t
read_raw(stream_reader *reader, uint8_t *into, size_t room)
{
	for (;;) {
		ssize_t n;

		if (reader->wait_ms > 0 && !reader->follow) {
			struct pollfd pfd = { reader->fd, POLLIN, 0 };
			int ready = poll(&pfd, 1, reader->wait_ms);

			if (ready == 0)
				return -2;
			if (ready < 0 && errno == EINTR) {
				if (cli_stop)
					return -2;
				continue;
			}
		}
		n = read(reader->fd, into, room);
		if (n > 0)
			return n;
		if (n == 0) {
			if (!reader->follow)
				return 0;
			clock_sleep_ms(reader->wait_ms > 0 ? reader->wait_ms : 50);
			return -2;
		}
		if (errno == EINTR) {
			if (cli_stop)
				return -2;
			continue;
		}
		reader_fail(reader, "read failed: %s", strerror(errno));
		return -1;
	}
}

/* Make room for at least need bytes after start, moving or growing the window. */
static void
window_reserve(stream_reader *reader, size_t need)
{
	size_t pending = reader->end - reader->start;

	if (reader->capacity - reader->start >= need && reader->capacity > reader->end)
		return;
	if (reader->start > 0) {
		memmove(reader->window, reader->window + reader->start, pending);
		reader->consumed += reader->start;
		reader->start = 0;
		reader->end = pending;
	}
	if (reader->capacity < need || reader->capacity == reader->end) {
		size_t capacity = reader->capacity;

		while (capacity < need || capacity == reader->end)
			capacity *= 2;
		reader->window = xrealloc(reader->window, capacity);
		reader->capacity = capacity;
	}
}

static bool
start_zstd(stream_reader *reader)
{
	size_t pending = reader->end - reader->start;

	reader->zstd = ZSTD_createDStream();
	if (reader->zstd == NULL)
		die(EXIT_LOCAL, "%s: cannot create a zstd decompressor", reader->name);
	ZSTD_initDStream(reader->zstd);
	reader->zstd_input = xmalloc(ZSTD_DStreamInSize() > pending ? ZSTD_DStreamInSize() : pending);
	memcpy(reader->zstd_input, reader->window + reader->start, pending);
	reader->zin.src = reader->zstd_input;
	reader->zin.size = pending;
	reader->zin.pos = 0;
	reader->end = reader->start;
	return true;
}

/* Decompress more plain bytes into the window. Same returns as read_raw. */
static ssize_t
fill_zstd(stream_reader *reader)
{
	for (;;) {
		ZSTD_outBuffer zout = { reader->window + reader->end, reader->capacity - reader->end, 0 };
		size_t hint;

		if (reader->zin.pos == reader->zin.size) {
			ssize_t n = read_raw(reader, reader->zstd_input, ZSTD_DStreamInSize());

			if (n <= 0 && n != 0)
				return n;
			if (n == 0) {
				if (reader->zstd_frame_open != 0)
					return reader_fail(reader, "truncated zstd stream"), -1;
				return 0;
			}
			reader->zin.size = (size_t)n;
			reader->zin.pos = 0;
		}
		hint = ZSTD_decompressStream(reader->zstd, &zout, &reader->zin);
		if (ZSTD_isError(hint))
			return reader_fail(reader, "corrupt zstd data: %s", ZSTD_getErrorName(hint)), -1;
		reader->zstd_frame_open = hint;
		if (zout.pos > 0) {
			reader->end += zout.pos;
			return (ssize_t)zout.pos;
		}
	}
}

/* Add bytes to the window. Returns >0, 0 at end, -1 error, -2 wait. */
static ssize_t
window_fill(stream_reader *reader)
{
	ssize_t n;

	if (reader->zstd != NULL)
		return fill_zstd(reader);
	n = read_raw(reader, reader->window + reader->end, reader->capacity - reader->end);
	if (n <= 0)
		return n;
	reader->end += (size_t)n;
	if (!reader->sniffed && reader->consumed + reader->end >= 4) {
		reader->sniffed = true;
		if (memcmp(reader->window, zstd_magic, 4) == 0 && start_zstd(reader))
			return fill_zstd(reader);
	}
	return n;
}

/* Ensure need bytes from start are in the window. Returns STREAM_* codes. */
static int
window_require(stream_reader *reader, size_t need)
{
	while (reader->end - reader->start < need) {
		ssize_t n;

		window_reserve(reader, need);
		n = window_fill(reader);
		if (n == -1)
			return STREAM_ERROR;
		if (n == -2)
			return STREAM_AGAIN;
		if (n == 0)
			return STREAM_END;
	}
	return STREAM_ENTRY;
}

static uint32_t
read_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Whether the embedded document or array at iter ends with its NUL.
 * libbson 1.23's bson_validate and iterators stop one byte early and
 * never look at it, but bson_init_static on those bytes (what every
 * accessor of a sub-document does) refuses them.
 */
static bool
embedded_ends_with_nul(const bson_iter_t *iter)
{
	const uint8_t *data = NULL;
	uint32_t length = 0;

	if (BSON_ITER_HOLDS_ARRAY(iter))
		bson_iter_array(iter, &length, &data);
	else
		bson_iter_document(iter, &length, &data);
	return data != NULL && length >= 5 && data[length - 1] == '\0';
}

/*
 * What bson_validate leaves out: nesting depth (checked first, so that
 * libbson's own recursion never meets a hostile depth), embedded
 * documents' final NUL, and array keys, which must be "0", "1", ... in
 * order.
 */
static const char *
check_nesting(bson_iter_t *iter, bool is_array, int depth)
{
	uint32_t index = 0;

	if (depth > MAX_NESTING)
		return "nesting deeper than 1024 levels";
	while (bson_iter_next(iter)) {
		bson_iter_t child;
		const char *why;

		if (is_array) {
			char expected[16];

			snprintf(expected, sizeof(expected), "%" PRIu32, index++);
			if (strcmp(bson_iter_key(iter), expected) != 0)
				return "array element out of order";
		}
		if (!BSON_ITER_HOLDS_DOCUMENT(iter) && !BSON_ITER_HOLDS_ARRAY(iter))
			continue;
		if (!embedded_ends_with_nul(iter) || !bson_iter_recurse(iter, &child))
			return "corrupt embedded document";
		why = check_nesting(&child, BSON_ITER_HOLDS_ARRAY(iter), depth + 1);
		if (why != NULL)
			return why;
	}
	return iter->err_off != 0 ? "corrupt element" : NULL;
}

static int
check_frame(stream_reader *reader, const uint8_t *frame, uint32_t length)
{
	size_t error_offset;
	bson_iter_t iter;
	const char *why;

	if (frame[length - 1] != '\0')
		return reader_fail(reader, "frame of %" PRIu32 " bytes does not end with NUL", length);
	if (!bson_init_static(&reader->entry, frame, length) || !bson_iter_init(&iter, &reader->entry))
		return reader_fail(reader, "not a BSON document");
	why = check_nesting(&iter, false, 0);
	if (why != NULL)
		return reader_fail(reader, "invalid BSON: %s", why);
	if (!bson_validate(&reader->entry, BSON_VALIDATE_NONE, &error_offset))
		return reader_fail(reader, "invalid BSON at byte %zu of the document", error_offset);
	return STREAM_ENTRY;
}

int
stream_next(stream_reader *reader, const bson_t **entry)
{
	size_t pending;
	uint32_t length;
	int status;

	if (reader->last_length > 0) {
		reader->start += reader->last_length;
		reader->last_length = 0;
	}
	status = window_require(reader, 4);
	if (status == STREAM_END) {
		pending = reader->end - reader->start;
		if (pending == 0)
			return STREAM_END;
		return reader_fail(reader, "truncated: %zu stray bytes at end of stream", pending);
	}
	if (status != STREAM_ENTRY)
		return status;
	length = read_le32(reader->window + reader->start);
	if (length < 5)
		return reader_fail(reader, "frame length %" PRIu32 " is below the BSON minimum of 5", length);
	if (length > reader->max_frame)
		return reader_fail(reader, "frame length %" PRIu32 " exceeds the limit of %" PRIu32 " bytes",
		    length, reader->max_frame);
	status = window_require(reader, length);
	if (status == STREAM_END)
		return reader_fail(reader, "truncated: frame of %" PRIu32 " bytes, only %zu present",
		    length, reader->end - reader->start);
	if (status != STREAM_ENTRY)
		return status;
	status = check_frame(reader, reader->window + reader->start, length);
	if (status != STREAM_ENTRY)
		return status;
	reader->last_frame = reader->window + reader->start;
	reader->last_length = length;
	reader->last_offset = reader->consumed + reader->start;
	reader->count++;
	*entry = &reader->entry;
	return STREAM_ENTRY;
}

const uint8_t *
stream_frame(const stream_reader *reader, uint32_t *length)
{
	*length = reader->last_length;
	return reader->last_frame;
}

uint64_t
stream_count(const stream_reader *reader)
{
	return reader->count;
}

uint64_t
stream_offset(const stream_reader *reader)
{
	return reader->last_offset;
}

const char *
stream_name(const stream_reader *reader)
{
	return reader->name;
}

const char *
stream_error(const stream_reader *reader)
{
	return reader->error;
}

bool
stream_is_compressed(const stream_reader *reader)
{
	return reader->zstd != NULL;
}

void
stream_die(const stream_reader *reader)
{
	die(EXIT_BAD_STREAM, "%s", reader->error);
}

void
stream_close(stream_reader *reader)
{
	if (reader == NULL)
		return;
	if (reader->owns_fd)
		close(reader->fd);
	ZSTD_freeDStream(reader->zstd);
	free(reader->zstd_input);
	free(reader->window);
	free(reader->name);
	free(reader);
}

/* --- writing --- */

void
stream_refuse_tty(const char *path)
{
	if (path != NULL || !isatty(STDOUT_FILENO))
		return;
	die(EXIT_USAGE, "stdout is a terminal: not writing a binary stream to it "
	    "(redirect it to a file or a pipe, name a file with -o FILE, or insist with -o -)");
}

stream_writer *
stream_create(const char *path, int zstd_level, bool append)
{
	stream_writer *writer;
	bool use_stdout = path == NULL || strcmp(path, "-") == 0;
	int fd = STDOUT_FILENO;

	if (!use_stdout) {
		int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);

		fd = open(path, flags, 0600);
		if (fd < 0) {
			warnmsg("%s: cannot create: %s", path, strerror(errno));
			return NULL;
		}
	}
	writer = xcalloc(1, sizeof(*writer));
	writer->fd = fd;
	writer->owns_fd = !use_stdout;
	writer->name = xstrdup(use_stdout ? "stdout" : path);
	writer->buffer = xmalloc(OUTPUT_BYTES);
	if (zstd_level > 0) {
		size_t status;

		writer->zstd = ZSTD_createCStream();
		if (writer->zstd == NULL)
			die(EXIT_LOCAL, "%s: cannot create a zstd compressor", writer->name);
		status = ZSTD_CCtx_setParameter(writer->zstd, ZSTD_c_compressionLevel, zstd_level);
		if (ZSTD_isError(status))
			die(EXIT_USAGE, "--zstd: %s", ZSTD_getErrorName(status));
		writer->zstd_output_size = ZSTD_CStreamOutSize();
		writer->zstd_output = xmalloc(writer->zstd_output_size);
	}
	return writer;
}

static bool
write_all(stream_writer *writer, const uint8_t *data, size_t length)
{
	while (length > 0) {
		ssize_t n = write(writer->fd, data, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warnmsg("%s: write failed: %s", writer->name, strerror(errno));
			writer->failed = true;
			return false;
		}
		data += n;
		length -= (size_t)n;
	}
	return true;
}

/* Push the buffered plain bytes through zstd (if any) to the file. */
static bool
drain(stream_writer *writer, ZSTD_EndDirective directive)
{
	ZSTD_inBuffer zin = { writer->buffer, writer->used, 0 };
	size_t remaining;

	if (writer->failed)
		return false;
	if (writer->zstd == NULL) {
		bool ok = write_all(writer, writer->buffer, writer->used);

		writer->used = 0;
		return ok;
	}
	do {
		ZSTD_outBuffer zout = { writer->zstd_output, writer->zstd_output_size, 0 };

		remaining = ZSTD_compressStream2(writer->zstd, &zout, &zin, directive);
		if (ZSTD_isError(remaining)) {
			warnmsg("%s: zstd: %s", writer->name, ZSTD_getErrorName(remaining));
			writer->failed = true;
			return false;
		}
		if (!write_all(writer, writer->zstd_output, zout.pos))
			return false;
	} while (directive == ZSTD_e_continue ? zin.pos < zin.size : remaining != 0);
	writer->used = 0;
	return true;
}

bool
stream_write_raw(stream_writer *writer, const uint8_t *data, uint32_t length)
{
	if (writer->failed)
		return false;
	if (writer->used + length > OUTPUT_BYTES && !drain(writer, ZSTD_e_continue))
		return false;
	if (length > OUTPUT_BYTES) {
		/* A frame larger than the buffer goes straight through. */
		ZSTD_inBuffer big = { data, length, 0 };

		if (writer->zstd == NULL)
			return write_all(writer, data, length);
		while (big.pos < big.size) {
			ZSTD_outBuffer zout = { writer->zstd_output, writer->zstd_output_size, 0 };
			size_t status = ZSTD_compressStream2(writer->zstd, &zout, &big, ZSTD_e_continue);

			if (ZSTD_isError(status)) {
				warnmsg("%s: zstd: %s", writer->name, ZSTD_getErrorName(status));
				writer->failed = true;
				return false;
			}
			if (!write_all(writer, writer->zstd_output, zout.pos))
				return false;
		}
		return true;
	}
	memcpy(writer->buffer + writer->used, data, length);
	writer->used += length;
	return true;
}

bool
stream_write(stream_writer *writer, const bson_t *entry)
{
	return stream_write_raw(writer, bson_get_data(entry), entry->len);
}

bool
stream_flush(stream_writer *writer)
{
	return drain(writer, ZSTD_e_flush);
}

bool
stream_finish(stream_writer *writer)
{
	bool ok;

	ok = drain(writer, ZSTD_e_end);
	if (writer->owns_fd && close(writer->fd) != 0 && ok) {
		warnmsg("%s: close failed: %s", writer->name, strerror(errno));
		ok = false;
	}
	ZSTD_freeCStream(writer->zstd);
	free(writer->zstd_output);
	free(writer->buffer);
	free(writer->name);
	free(writer);
	return ok;
}
