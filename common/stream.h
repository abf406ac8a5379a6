/*
 * stream.h - read and write framed BSON streams.
 *
 * A frame is one BSON document; its own int32 length is the frame.
 * Every frame is checked (length bounds, whole frame present, trailing
 * NUL, bson_validate) before the caller sees it. A zstd stream (magic
 * 28 B5 2F FD) is decompressed transparently. Memory is a fixed buffer
 * plus the largest frame seen, whatever the stream's length.
 */
#ifndef OPLOGKIT_STREAM_H
#define OPLOGKIT_STREAM_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define STREAM_MAX_FRAME_DEFAULT (16 * 1024 * 1024 + 16 * 1024)

enum stream_result {
	STREAM_ERROR = -1,	/* bad frame or read error: see stream_error() */
	STREAM_END = 0,		/* end of input */
	STREAM_ENTRY = 1,	/* one checked entry is available */
	STREAM_AGAIN = 2,	/* no data within the wait time (see stream_set_wait) */
};

typedef struct stream_reader stream_reader;
typedef struct stream_writer stream_writer;

/*
 * Open path for reading ("-" or NULL: stdin). Returns NULL with a message
 * already printed when the file cannot be opened.
 */
stream_reader *stream_open(const char *path);

/*
 * Read an already open descriptor (a pipe, a memfd, a socket), named
 * name in messages. The reader does not close fd; its caller does.
 */
stream_reader *stream_open_fd(int fd, const char *name);

/* Frames longer than max_bytes are an error (default STREAM_MAX_FRAME_DEFAULT). */
void stream_set_max_frame(stream_reader *reader, uint32_t max_bytes);

/*
 * With wait_ms > 0, stream_next returns STREAM_AGAIN when no byte arrives
 * within wait_ms, so a caller can flush work while its input is idle.
 * With follow, end of a regular file is not the end: the reader waits for
 * the file to grow (like tail -f) and returns STREAM_AGAIN every wait_ms.
 * A follower stops at the stream's trailer only because its caller does.
 */
void stream_set_wait(stream_reader *reader, int wait_ms, bool follow);

/*
 * Read the next entry. On STREAM_ENTRY, *entry points at a document valid
 * until the next call. A partial frame at end of input is an error unless
 * following (then it waits for the rest).
 */
int stream_next(stream_reader *reader, const bson_t **entry);

/* The raw bytes of the last entry returned, valid until the next call. */
const uint8_t *stream_frame(const stream_reader *reader, uint32_t *length);

/* Number of entries returned so far (the last one is number stream_count). */
uint64_t stream_count(const stream_reader *reader);

/* Byte offset, in the decompressed stream, of the last entry returned. */
uint64_t stream_offset(const stream_reader *reader);

/* Name used in messages: the path, or "stdin". */
const char *stream_name(const stream_reader *reader);

/* The message of the last STREAM_ERROR: "NAME: entry N at byte B: why". */
const char *stream_error(const stream_reader *reader);

/* Whether the input was zstd-compressed. */
bool stream_is_compressed(const stream_reader *reader);

/* Print the last error and exit with EXIT_BAD_STREAM. */
void stream_die(const stream_reader *reader) __attribute__((noreturn));

void stream_close(stream_reader *reader);

/*
 * Open path for writing ("-" or NULL: stdout), created mode 0600.
 * zstd_level 0 writes plain BSON, 1..22 compresses. With append the file
 * is not truncated (a zstd append starts a new zstd frame, which readers
 * concatenate). Returns NULL with a message printed on failure.
 */
stream_writer *stream_create(const char *path, int zstd_level, bool append);

/*
 * Refuse, as zstd does, to pour a binary stream onto a terminal: when path
 * is NULL (stdout, because no output was named) and stdout is a terminal,
 * say so and how to insist, and exit 2. "-" is the user insisting ("-o -").
 * Programs call it right after reading their options, before any work.
 */
void stream_refuse_tty(const char *path);

/* Write one document. Returns false with a message printed on failure. */
bool stream_write(stream_writer *writer, const bson_t *entry);

/* Write one frame of raw, already checked bytes. */
bool stream_write_raw(stream_writer *writer, const uint8_t *data, uint32_t length);

/* Push everything written so far to the file (a whole zstd block too). */
bool stream_flush(stream_writer *writer);

/* Flush, end the zstd frame, close. Returns false on any write failure. */
bool stream_finish(stream_writer *writer);

#endif
