/*
 * json-to-bson - turn Extended JSON documents (stdin, one after another,
 * as jq -c prints them) into a BSON stream on stdout, so tests can build
 * streams from the JSON fixtures. Shares no code with the programs under
 * test: libbson's own JSON reader is the oracle.
 */
#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char *argv[])
{
	bson_json_reader_t *reader;
	bson_error_t error;
	bson_t doc = BSON_INITIALIZER;
	int status;

	if (argc != 1) {
		fprintf(stderr, "usage: json-to-bson < JSON > BSON\n");
		return 2;
	}
	reader = bson_json_reader_new_from_fd(0, false);
	while ((status = bson_json_reader_read(reader, &doc, &error)) == 1) {
		if (fwrite(bson_get_data(&doc), 1, doc.len, stdout) != doc.len) {
			perror("json-to-bson: stdout");
			return 1;
		}
		bson_reinit(&doc);
	}
	if (status < 0) {
		fprintf(stderr, "json-to-bson: %s\n", error.message);
		return 1;
	}
	bson_destroy(&doc);
	bson_json_reader_destroy(reader);
	return fflush(stdout) == 0 ? 0 : 1;
}
