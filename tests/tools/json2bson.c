/*
 * json2bson - write Extended JSON documents as a stream of BSON frames,
 * so tests can build oplog streams from JSON (jq output, fixtures).
 *
 *   json2bson < docs.json > stream.bson
 *
 * Reads a sequence of documents (one per line, or spread over lines,
 * canonical or relaxed Extended JSON, legacy $binary/$type too) from
 * stdin or the files given. Uses libbson's JSON reader only, so it
 * shares no code with the programs it feeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#define PROG "json2bson"

static int
convert(int fd, const char *name)
{
	bson_json_reader_t *reader = bson_json_reader_new_from_fd(fd, false);
	bson_error_t error;
	bson_t doc = BSON_INITIALIZER;
	long count = 0;
	int status;

	while ((status = bson_json_reader_read(reader, &doc, &error)) == 1) {
		count++;
		if (fwrite(bson_get_data(&doc), 1, doc.len, stdout) != doc.len) {
			fprintf(stderr, PROG ": stdout: %s\n", strerror(errno));
			exit(1);
		}
		bson_reinit(&doc);
	}
	bson_destroy(&doc);
	bson_json_reader_destroy(reader);
	if (status < 0) {
		fprintf(stderr, PROG ": %s: document %ld: %s\n", name, count + 1, error.message);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int k, status = 0;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: " PROG " [FILE ...]\nWrite Extended JSON documents as BSON frames.\n");
		return 0;
	}
	if (argc == 1)
		status = convert(0, "stdin");
	for (k = 1; k < argc; k++) {
		int fd = open(argv[k], O_RDONLY);

		if (fd < 0) {
			fprintf(stderr, PROG ": %s: %s\n", argv[k], strerror(errno));
			return 1;
		}
		status |= convert(fd, argv[k]);
		close(fd);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": stdout: %s\n", strerror(errno));
		status = 1;
	}
	return status;
}
