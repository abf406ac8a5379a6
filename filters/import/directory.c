/*
 * directory.c - snap-import's directory readers: a snap-export -o
 * directory (its manifest lists the part files) and a mongodump directory
 * (db/coll.bson with coll.metadata.json).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "mongo-errors.h"
#include "ns.h"
#include "queue.h"
#include "stream.h"
#include "files.h"
#include "import.h"

static bson_t *
read_json_file(struct import *x, const char *path)
{
	bson_error_t error;
	size_t length;
	char *json = file_read_all(path, &length);
	bson_t *doc;

	if (json == NULL)
		finish_and_die(x, EXIT_BAD_STREAM, "%s: %s", path, strerror(errno));
	doc = bson_new_from_json((const uint8_t *)json, (ssize_t)length, &error);
	if (doc == NULL)
		finish_and_die(x, EXIT_BAD_STREAM, "%s: %s", path, error.message);
	free(json);
	return doc;
}

/* A snap-export -o directory: its part files in manifest order, each whole. */
static void
import_parts(struct import *x, const char *dir, const char *manifest_path)
{
	bson_t *manifest = read_json_file(x, manifest_path);
	bson_iter_t iter, list, item;

	if (!bson_iter_init_find(&iter, manifest, "parts") || !bson_iter_recurse(&iter, &list))
		finish_and_die(x, EXIT_BAD_STREAM, "%s: no parts", manifest_path);
	import_estimate_manifest(x, manifest);
	while (bson_iter_next(&list) && !cli_stop && !atomic_load(&x->failed)) {
		stream_reader *reader;
		char *path;

		if (!bson_iter_recurse(&list, &item) || !bson_iter_find(&item, "file") ||
		    !BSON_ITER_HOLDS_UTF8(&item) || strchr(bson_iter_utf8(&item, NULL), '/') != NULL)
			finish_and_die(x, EXIT_BAD_STREAM, "%s: a part without a file name", manifest_path);
		path = path_join(dir, bson_iter_utf8(&item, NULL));
		reader = stream_open(path);
		if (reader == NULL)
			finish_and_die(x, EXIT_BAD_STREAM, "%s: incomplete snapshot: a part is missing "
			    "(rerun snap-export -o %s)", path, dir);
		import_stream(x, reader, true);
		stream_close(reader);
		free(path);
	}
	bson_destroy(manifest);
}

static bool
has_suffix(const char *name, const char *suffix)
{
	size_t length = strlen(name), suffix_length = strlen(suffix);

	return length > suffix_length && strcmp(name + length - suffix_length, suffix) == 0;
}

/* mongodump's metadata: options for the create, index specs for later. */
static void
import_metadata(struct import *x, struct target *target, const char *path)
{
	bson_t *metadata = read_json_file(x, path);
	bson_iter_t iter, list;
	bson_t options, spec;
	const uint8_t *data;
	uint32_t length;

	if (bson_iter_init_find(&iter, metadata, "options") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
		bson_iter_document(&iter, &length, &data);
		if (bson_init_static(&options, data, length))
			prepare_target(x, target, &options);
	}
	prepare_target(x, target, NULL);
	if (bson_iter_init_find(&iter, metadata, "indexes") && bson_iter_recurse(&iter, &list)) {
		while (bson_iter_next(&list)) {
			if (!BSON_ITER_HOLDS_DOCUMENT(&list))
				continue;
			bson_iter_document(&list, &length, &data);
			if (bson_init_static(&spec, data, length))
				add_index(target, &spec);
		}
	}
	bson_destroy(metadata);
}

static void
import_dump_collection(struct import *x, const char *dir, const char *db, const char *coll)
{
	char ns[NS_SIZE], name[NS_SIZE + 32];
	struct target *target;
	stream_reader *reader;
	struct stat info;
	char *path;

	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	target = target_of(x, ns);
	if (target == NULL)
		return;
	flush_batch(x);
	snprintf(name, sizeof(name), "%s.metadata.json", coll);
	path = path_join(dir, name);
	if (stat(path, &info) == 0)
		import_metadata(x, target, path);
	else
		prepare_target(x, target, NULL);
	free(path);
	snprintf(name, sizeof(name), "%s.bson", coll);
	path = path_join(dir, name);
	if (stat(path, &info) != 0) {
		free(path);
		return;		/* a view: its metadata is all */
	}
	reader = stream_open(path);
	if (reader == NULL)
		finish_and_die(x, EXIT_BAD_STREAM, "%s: cannot read", path);
	import_frames(x, reader, target);
	stream_close(reader);
	free(path);
}

static int
only_visible(const struct dirent *entry)
{
	return entry->d_name[0] != '.';
}

static void
import_dump_database(struct import *x, const char *dir, const char *db)
{
	struct dirent **names;
	int count, k;

	count = scandir(dir, &names, only_visible, alphasort);
	if (count < 0)
		finish_and_die(x, EXIT_BAD_STREAM, "%s: %s", dir, strerror(errno));
	for (k = 0; k < count; k++) {
		const char *name = names[k]->d_name;
		char coll[NS_SIZE], other[NS_SIZE + 32];
		struct stat info;
		char *path;

		if (has_suffix(name, ".gz"))
			finish_and_die(x, EXIT_BAD_STREAM, "%s/%s: gzip dumps are not read: gunzip "
			    "them first", dir, name);
		if (has_suffix(name, ".metadata.json")) {
			/* A collection with both files is taken at its .bson. */
			snprintf(coll, sizeof(coll), "%.*s", (int)(strlen(name) - 14), name);
			snprintf(other, sizeof(other), "%s.bson", coll);
			path = path_join(dir, other);
			if (stat(path, &info) != 0)
				import_dump_collection(x, dir, db, coll);
			free(path);
		} else if (has_suffix(name, ".bson")) {
			snprintf(coll, sizeof(coll), "%.*s", (int)(strlen(name) - 5), name);
			import_dump_collection(x, dir, db, coll);
		}
		free(names[k]);
	}
	free(names);
}

/* mongodump's layout: DIR/DB/COLL.bson; DIR/oplog.bson is for oplog-apply. */
static void
import_dump(struct import *x, const char *dir)
{
	struct dirent **names;
	int count, k;

	count = scandir(dir, &names, only_visible, alphasort);
	if (count < 0)
		die(EXIT_BAD_STREAM, "%s: %s", dir, strerror(errno));
	for (k = 0; k < count; k++) {
		char *path = path_join(dir, names[k]->d_name);
		struct stat info;

		if (stat(path, &info) == 0 && S_ISDIR(info.st_mode) &&
		    ns_match_database(x->selection, names[k]->d_name))
			import_dump_database(x, path, names[k]->d_name);
		else if (strcmp(names[k]->d_name, "oplog.bson") == 0)
			warnmsg("%s: not imported: replay it with oplog-apply", path);
		free(path);
		free(names[k]);
	}
	free(names);
}

void
import_directory(struct import *x, const char *dir)
{
	char *manifest = path_join(dir, "manifest.json");
	struct stat info;

	if (stat(manifest, &info) == 0)
		import_parts(x, dir, manifest);
	else
		import_dump(x, dir);
	free(manifest);
}
