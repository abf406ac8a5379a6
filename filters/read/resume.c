/*
 * resume.c - oplog-read --resume FILE: read the spool to its end, learn
 * where it stopped (its newest entry, its header's t0 and source), and
 * make it ready to append to. A final trailer goes, and an entry a crash
 * cut short goes too; anything else that is not a whole entry is damage,
 * refused (exit 3): nothing after a bad frame is guessed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "cli.h"
#include "die.h"
#include "entry.h"
#include "read.h"
#include "stream.h"

/* One pass of the stream reader over a spool. */
struct scan {
	uint64_t count;		/* whole entries */
	uint64_t end;		/* plain offset after the last whole entry */
	uint64_t keep_count;	/* whole entries but a final trailer */
	uint64_t keep_end;
	bool trailer;		/* the last whole entry is a trailer */
	bool failed;		/* the reader stopped on a bad frame */
	char error[512];
};

/* What follows the last whole entry, in plain (decompressed) bytes. */
struct tail_bytes {
	uint64_t total;		/* plain length of the spool */
	uint8_t head[4];	/* the first bytes after scan.end */
	size_t head_length;
	bool zstd_open;		/* a zstd frame was not closed */
};

/* The header's t0 and source (the masked URI it was read from). */
static void
header_read(const bson_t *header, struct spool *spool)
{
	bson_iter_t iter;
	bson_t o;

	spool->t0 = entry_ts(header);
	if (entry_object(header, "o", &o) && bson_iter_init_find(&iter, &o, "source") &&
	    BSON_ITER_HOLDS_UTF8(&iter))
		snprintf(spool->source, sizeof(spool->source), "%s", bson_iter_utf8(&iter, NULL));
}

static void
scan_spool(const char *path, struct scan *scan, struct spool *spool, struct recent *recent)
{
	stream_reader *reader = stream_open(path);
	const bson_t *entry;
	int status;

	if (reader == NULL)
		exit(EXIT_USAGE);
	memset(scan, 0, sizeof(*scan));
	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		uint32_t length;

		stream_frame(reader, &length);
		scan->count++;
		scan->end = stream_offset(reader) + length;
		scan->trailer = entry_is_trailer(entry);
		if (scan->trailer)
			continue;
		scan->keep_count = scan->count;
		scan->keep_end = scan->end;
		if (ts_compare(entry_ts(entry), spool->last) > 0)
			spool->last = entry_ts(entry);
		if (entry_is_header(entry)) {
			header_read(entry, spool);
		} else {
			recent_add(recent, entry_ts(entry));
			spool->entries++;
		}
	}
	if (status == STREAM_ERROR) {
		scan->failed = true;
		snprintf(scan->error, sizeof(scan->error), "%s", stream_error(reader));
	}
	spool->compressed = stream_is_compressed(reader);
	stream_close(reader);
}

/* Decompress the whole spool once to learn its plain length and the bytes at at. */
static void
zstd_tail_bytes(const char *path, int fd, uint64_t at, struct tail_bytes *tail)
{
	ZSTD_DStream *zstd = ZSTD_createDStream();
	size_t in_size = ZSTD_DStreamInSize(), out_size = ZSTD_DStreamOutSize();
	uint8_t *in = xmalloc(in_size), *out = xmalloc(out_size);
	size_t hint = 0;
	ssize_t n;

	if (zstd == NULL)
		die(EXIT_LOCAL, "%s: cannot create a zstd decompressor", path);
	while ((n = read(fd, in, in_size)) > 0) {
		ZSTD_inBuffer zin = { in, (size_t)n, 0 };

		while (zin.pos < zin.size) {
			ZSTD_outBuffer zout = { out, out_size, 0 };
			size_t k;

			hint = ZSTD_decompressStream(zstd, &zout, &zin);
			if (ZSTD_isError(hint))
				die(EXIT_BAD_STREAM, "%s: refusing to resume: corrupt zstd data: %s", path,
				    ZSTD_getErrorName(hint));
			for (k = 0; k < zout.pos; k++, tail->total++)
				if (tail->total >= at && tail->head_length < sizeof(tail->head))
					tail->head[tail->head_length++] = out[k];
		}
	}
	if (n < 0)
		die(EXIT_LOCAL, "%s: read failed: %s", path, strerror(errno));
	tail->zstd_open = hint != 0;
	ZSTD_freeDStream(zstd);
	free(in);
	free(out);
}

static void
read_tail_bytes(const char *path, bool compressed, uint64_t at, struct tail_bytes *tail)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	memset(tail, 0, sizeof(*tail));
	if (fd < 0 || fstat(fd, &st) != 0)
		die(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	if (compressed) {
		zstd_tail_bytes(path, fd, at, tail);
	} else {
		tail->total = (uint64_t)st.st_size;
		n = pread(fd, tail->head, sizeof(tail->head), (off_t)at);
		if (n < 0)
			die(EXIT_LOCAL, "%s: read failed: %s", path, strerror(errno));
		tail->head_length = (size_t)n;
	}
	close(fd);
}

/*
 * Whether the bytes after the last whole entry are the start of an entry
 * that a crash cut short (its length says it runs past the end), as
 * opposed to damage, which we refuse: nothing after a bad frame is guessed.
 */
static bool
cut_short(const struct scan *scan, const struct tail_bytes *tail)
{
	uint64_t remaining = tail->total - scan->end;
	uint32_t length;

	if (remaining < 4)
		return true;
	length = (uint32_t)tail->head[0] | (uint32_t)tail->head[1] << 8 |
	    (uint32_t)tail->head[2] << 16 | (uint32_t)tail->head[3] << 24;
	return length >= 5 && length <= STREAM_MAX_FRAME_DEFAULT && length > remaining;
}

/* Copy the first keep entries of a zstd spool into a new one in its place. */
static void
rewrite_zstd(const char *path, uint64_t keep, int level)
{
	char tmp[4096];
	stream_reader *reader = stream_open(path);
	stream_writer *writer;
	const bson_t *entry;
	uint64_t copied = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.resume-tmp", path) >= sizeof(tmp))
		die(EXIT_USAGE, "%s: path too long", path);
	if (reader == NULL || (writer = stream_create(tmp, level, false)) == NULL)
		exit(EXIT_LOCAL);
	while (copied < keep && stream_next(reader, &entry) == STREAM_ENTRY) {
		uint32_t length;
		const uint8_t *frame = stream_frame(reader, &length);

		if (!stream_write_raw(writer, frame, length))
			exit(EXIT_LOCAL);
		copied++;
	}
	stream_close(reader);
	if (copied != keep)
		die(EXIT_LOCAL, "%s: changed while being rewritten", path);
	if (!stream_finish(writer))
		exit(EXIT_LOCAL);
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
		die(EXIT_LOCAL, "%s: cannot replace it with %s: %s", path, tmp, strerror(errno));
}

/*
 * Read the spool to its end, learn where it stopped, and make it ready to
 * append to: a final trailer goes (the stream must stay one stream), an
 * entry cut short by a crash goes too. A plain spool is truncated; a zstd
 * one cannot be cut inside its compressed bytes, so it is rewritten.
 */
void
spool_resume(const struct read_config *config, const char *path, struct spool *spool,
    struct recent *recent)
{
	struct tail_bytes tail;
	struct scan scan;
	bool cut = false;

	memset(spool, 0, sizeof(*spool));
	scan_spool(path, &scan, spool, recent);
	read_tail_bytes(path, spool->compressed, scan.end, &tail);
	if (scan.failed) {
		if (!cut_short(&scan, &tail))
			die(EXIT_BAD_STREAM, "refusing to resume: %s", scan.error);
		cut = true;
	}
	if (scan.keep_count == 0)
		die(EXIT_USAGE, "%s: no entry to resume after (start a new spool with --since)", path);
	if (cut && tail.total > scan.end)
		warnmsg("%s: entry %" PRIu64 " was cut short (%" PRIu64 " bytes of it present): "
		    "dropping it and resuming after entry %" PRIu64, path, scan.count + 1,
		    tail.total - scan.end, scan.keep_count);
	else if (cut || tail.zstd_open)
		warnmsg("%s: its zstd frame was not closed (a crash?): resuming after entry %" PRIu64,
		    path, scan.keep_count);
	if (spool->compressed) {
		if (cut || scan.trailer || tail.zstd_open)
			rewrite_zstd(path, scan.keep_count,
			    config->zstd_level > 0 ? config->zstd_level : cli_zstd_level(NULL));
		return;
	}
	if (config->zstd_level > 0)
		die(EXIT_USAGE, "--zstd: %s is plain BSON; a resumed spool keeps its format", path);
	if (scan.keep_end < tail.total && truncate(path, (off_t)scan.keep_end) != 0)
		die(EXIT_LOCAL, "%s: cannot truncate to %" PRIu64 " bytes: %s", path,
		    scan.keep_end, strerror(errno));
}
