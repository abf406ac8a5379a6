/*
 * fuzz_filter.c - libFuzzer entry point for oplog-filter's entry rules:
 * selection by namespace and op, renames, commands judged by the
 * collections in o, applyOps reached into, straddling renames and
 * dropDatabase rewritten. It links oplog-filter's engine (filters/filter/)
 * and drives filter_stream exactly as the program does.
 *
 * The input is text, a NUL, then a stream. Text lines: "+GLOB", "-GLOB",
 * "~RE", ">FROM=TO" as in fuzz_ns.c, "Oiudcn" the --op list, "S<ts>"
 * --since, "U<ts>" --until. The stream's valid prefix is filtered; string
 * values are kept short so a rename can never outgrow a namespace (that
 * is a usage error, which exits, by ns.h's contract).
 *
 * Besides memory errors, it aborts (or exits, which libFuzzer reports)
 * when the output is not a valid stream, when no rule at all changes
 * anything, or when filtering the output again by the same selection
 * (without renames) changes it: a filter's output is what it selects.
 *
 * make fuzz builds it; make fuzz-short runs it; see tests/fuzz/README.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "die.h"
#include "entry.h"
#include "ns.h"
#include "stream.h"
#include "../../filters/filter/filter.h"

#define STRING_MAX 100
#define RULE_MAX 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rules of the current input; its filter is made anew for each. */
static struct filter_config config;

static void
reset_config(void)
{
	ns_filter_free(config.filter);
	memset(&config, 0, sizeof(config));
	config.filter = ns_filter_new();
}

static void
take_line(char *line)
{
	if (strlen(line) > RULE_MAX + 1)
		return;
	switch (line[0]) {
	case '+': (void)ns_filter_include(config.filter, line + 1); break;
	case '-': (void)ns_filter_exclude(config.filter, line + 1); break;
	case '~':
		if (strchr(line, '{') == NULL && strlen(line) <= 17)	/* see fuzz_ns.c */
			(void)ns_filter_include_regex(config.filter, line + 1);
		break;
	case '>': (void)ns_filter_rename(config.filter, line + 1); break;
	case 'S': config.have_since = ts_parse(line + 1, &config.since); break;
	case 'U': config.have_until = ts_parse(line + 1, &config.until); break;
	case 'O':
		config.op_given = true;
		for (const char *p = line + 1; *p != '\0'; p++)
			(void)filter_select_op(&config, *p);	/* other letters: ignored */
		break;
	default: break;
	}
}

static void
parse_rules(const uint8_t *data, size_t length)
{
	char *text = xmalloc(length + 1), *line, *save = NULL;

	memcpy(text, data, length);
	text[length] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		take_line(line);
	free(text);
}

/* Whether every string (and key) inside doc is short. */
static bool
strings_short(bson_iter_t *iter)
{
	while (bson_iter_next(iter)) {
		bson_iter_t child;
		uint32_t length = 0;

		if (strlen(bson_iter_key(iter)) > STRING_MAX)
			return false;
		if (BSON_ITER_HOLDS_UTF8(iter) && (bson_iter_utf8(iter, &length), length > STRING_MAX))
			return false;
		if ((BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter)) &&
		    (!bson_iter_recurse(iter, &child) || !strings_short(&child)))
			return false;
	}
	return true;
}

static int
memfd_new(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		abort();
	return fd;
}

static stream_writer *
writer_on(int fd)
{
	char path[64];
	stream_writer *writer;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	writer = stream_create(path, 0, false);
	if (writer == NULL)
		abort();
	return writer;
}

/* Copy the valid entries of data with short strings into a new memfd. */
static int
valid_prefix(const uint8_t *data, size_t size)
{
	int in = memfd_new("fuzz-in"), prefix = memfd_new("fuzz-prefix");
	stream_writer *writer = writer_on(prefix);
	stream_reader *reader;
	const bson_t *entry;

	if (size > 0 && write(in, data, size) != (ssize_t)size)
		abort();
	if (lseek(in, 0, SEEK_SET) != 0)
		abort();
	reader = stream_open_fd(in, "fuzz-in");
	stream_set_max_frame(reader, 64 * 1024);
	while (stream_next(reader, &entry) == STREAM_ENTRY) {
		bson_iter_t iter;
		uint32_t length;
		const uint8_t *frame = stream_frame(reader, &length);

		if (!bson_iter_init(&iter, entry) || !strings_short(&iter))
			break;
		if (!stream_write_raw(writer, frame, length))
			abort();
	}
	stream_close(reader);
	close(in);
	if (!stream_finish(writer) || lseek(prefix, 0, SEEK_SET) != 0)
		abort();
	return prefix;
}

/* Filter the stream in fd into a new memfd, rewound. */
static int
filter_once(int fd)
{
	int out = memfd_new("fuzz-out");
	stream_reader *reader = stream_open_fd(fd, "fuzz");
	struct filter x;

	filter_init(&x, &config, writer_on(out));
	filter_stream(&x, reader);
	stream_close(reader);
	if (!stream_finish(x.out) || lseek(out, 0, SEEK_SET) != 0)
		abort();
	return out;
}

static bool
same_bytes(int a, int b)
{
	struct stat sa, sb;
	uint8_t *pa, *pb;
	bool same;

	if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0)
		abort();
	if (sa.st_size != sb.st_size)
		return false;
	if (sa.st_size == 0)
		return true;
	pa = mmap(NULL, (size_t)sa.st_size, PROT_READ, MAP_SHARED, a, 0);
	pb = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, b, 0);
	if (pa == MAP_FAILED || pb == MAP_FAILED)
		abort();
	same = memcmp(pa, pb, (size_t)sa.st_size) == 0;
	munmap(pa, (size_t)sa.st_size);
	munmap(pb, (size_t)sb.st_size);
	return same;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t text_length = nul != NULL ? (size_t)(nul - data) : size;
	int prefix, once, twice;
	bool no_rules, renaming;

	if (nul == NULL || text_length > 1024)
		return 0;
	reset_config();
	parse_rules(data, text_length);
	renaming = ns_has_renames(config.filter);
	no_rules = !ns_filter_is_set(config.filter) && !renaming && !config.op_given &&
	    !config.have_since && !config.have_until;
	prefix = valid_prefix(nul + 1, size - text_length - 1);
	once = filter_once(prefix);
	if (no_rules && !same_bytes(prefix, once))
		abort();
	if (!renaming) {
		twice = filter_once(once);
		if (lseek(once, 0, SEEK_SET) != 0)
			abort();
		if (!same_bytes(once, twice))
			abort();
		close(twice);
	}
	close(once);
	close(prefix);
	return 0;
}
