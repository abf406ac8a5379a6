/*
 * fuzz_stream.c - libFuzzer entry point for the frame reader: the input
 * is a whole stream (plain BSON frames, or zstd), read from a memfd
 * through stream_open_fd exactly as a program reads a file.
 *
 * Besides memory errors and undefined behaviour, it aborts when the
 * reader hands out an entry that is not valid BSON or does not match its
 * frame, when an error message lacks the entry number and byte offset,
 * or when the entries it accepted, written back by stream_write_raw,
 * do not read back as the same entries.
 *
 * make fuzz builds it; make fuzz-short runs it; see tests/fuzz/README.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "entry.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memfd holding data, at offset 0; -1 when the kernel refuses. */
static int
memfd_with(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Every embedded document and array must open with bson_init_static, as
 * the programs' accessors open them: what the reader passed is whole.
 * Returns whether every key and string is UTF-8 (the reader lets other
 * bytes pass; only JSON output refuses them).
 */
static bool
walk(const bson_t *doc)
{
	bson_iter_t iter;
	bool utf8 = true;

	if (!bson_iter_init(&iter, doc))
		abort();
	while (bson_iter_next(&iter)) {
		const uint8_t *data = NULL;
		uint32_t length = 0;
		bson_t child;
		const char *key = bson_iter_key(&iter);

		utf8 = utf8 && bson_utf8_validate(key, strlen(key), false);
		if (BSON_ITER_HOLDS_UTF8(&iter)) {
			const char *text = bson_iter_utf8(&iter, &length);

			utf8 = utf8 && bson_utf8_validate(text, length, true);
			continue;
		}
		if (BSON_ITER_HOLDS_DOCUMENT(&iter))
			bson_iter_document(&iter, &length, &data);
		else if (BSON_ITER_HOLDS_ARRAY(&iter))
			bson_iter_array(&iter, &length, &data);
		else
			continue;
		if (data == NULL || !bson_init_static(&child, data, length))
			abort();
		utf8 = walk(&child) && utf8;
	}
	if (iter.err_off != 0)
		abort();
	return utf8;
}

/* Touch what every program asks of an entry; the answers must be sane. */
static void
inspect(const bson_t *entry)
{
	char ns[2][256], db[256], ts[32];
	bson_t o;
	int count;
	char *json;
	bool utf8;

	utf8 = walk(entry);
	json = bson_as_canonical_extended_json(entry, NULL);
	if (json == NULL && utf8)
		abort();
	bson_free(json);
	(void)ts_format(entry_ts(entry), ts, sizeof(ts));
	(void)entry_op(entry);
	(void)entry_flag(entry, "fromMigrate");
	(void)entry_is_header(entry);
	(void)entry_is_trailer(entry);
	ns_database(entry_ns(entry), db, sizeof(db));
	/* Not bson_validate(o): libbson 1.23 can refuse alone a sub-document it passed inside the entry. */
	(void)entry_object(entry, "o", &o);
	count = command_namespaces(entry, ns);
	if (count < 0 || count > 2)
		abort();
	for (int k = 0; k < count; k++)
		if (strnlen(ns[k], sizeof(ns[k])) == sizeof(ns[k]))
			abort();
}

/* Read every entry of fd; copy each frame to writer when not NULL. */
static uint64_t
read_all(int fd, stream_writer *writer, int *status)
{
	stream_reader *reader = stream_open_fd(fd, "fuzz");
	const bson_t *entry;
	uint64_t count;

	stream_set_max_frame(reader, 1024 * 1024);
	while ((*status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		uint32_t length;
		const uint8_t *frame = stream_frame(reader, &length);

		if (length != entry->len || memcmp(frame, bson_get_data(entry), length) != 0)
			abort();
		if (!bson_validate(entry, BSON_VALIDATE_NONE, NULL))
			abort();
		inspect(entry);
		if (writer != NULL && !stream_write_raw(writer, frame, length))
			abort();
	}
	if (*status == STREAM_ERROR && (strstr(stream_error(reader), "fuzz: entry ") == NULL ||
	    strstr(stream_error(reader), " at byte ") == NULL))
		abort();
	count = stream_count(reader);
	stream_close(reader);
	return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in, copy, status, again;
	stream_writer *writer;
	uint64_t count;
	char path[64];

	in = memfd_with(data, size);
	if (in < 0)
		return 0;
	copy = memfd_create("fuzz-copy", MFD_CLOEXEC);
	if (copy < 0) {
		close(in);
		return 0;
	}
	/* The writer opens its own descriptor of the memfd. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", copy);
	writer = stream_create(path, 0, false);
	if (writer == NULL)
		abort();
	count = read_all(in, writer, &status);
	if (status == STREAM_AGAIN || !stream_finish(writer))
		abort();
	/* What was accepted, written back, reads back whole and alike. */
	if (lseek(copy, 0, SEEK_SET) != 0 || read_all(copy, NULL, &again) != count || again != STREAM_END)
		abort();
	close(copy);
	close(in);
	return 0;
}
