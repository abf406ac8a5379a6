/*
 * manifest.c - snap-export -o DIR: one file per part and manifest.json,
 * which lets a rerun continue the first run's plan and skip whole parts,
 * and carries the source's estimate for snap-import (estimate.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
#include "export.h"

/* Part files sort in plan order, so cat(1) of them in name order is a valid stream. */
static void
part_file_names(struct export *x)
{
	int k, index = 0;

	for (k = 0; k < x->part_count; k++) {
		char name[NS_SIZE * 3], *out = name;
		const char *in;

		index = k > 0 && x->parts[k]->collection == x->parts[k - 1]->collection ? index + 1 : 0;
		/* Collection names may hold '/': escape it (and '%'). */
		for (in = x->parts[k]->ns; *in != '\0'; in++)
			out += *in == '/' || *in == '%' ?
			    sprintf(out, "%%%02X", (unsigned char)*in) : sprintf(out, "%c", *in);
		snprintf(x->parts[k]->file, sizeof(x->parts[k]->file), "%06d-%.*s.%04d.bson%s", k,
		    NS_SIZE, name, index, x->config->zstd_level > 0 ? ".zst" : "");
	}
}

char *
output_path(struct export *x, const char *name)
{
	return path_join(x->config->output, name);
}

void
write_manifest(struct export *x)
{
	bson_t manifest = BSON_INITIALIZER, list, item;
	char *path, *temp, *json;
	size_t length;
	FILE *file;
	int fd;
	int k;

	if (mkdir(x->config->output, 0700) != 0 && errno != EEXIST)
		die(EXIT_LOCAL, "%s: %s", x->config->output, strerror(errno));
	part_file_names(x);
	BSON_APPEND_INT32(&manifest, "version", 1);
	BSON_APPEND_UTF8(&manifest, "source", x->source);
	BSON_APPEND_TIMESTAMP(&manifest, "t0", x->t0.t, x->t0.i);
	BSON_APPEND_ARRAY_BEGIN(&manifest, "parts", &list);
	for (k = 0; k < x->part_count; k++) {
		char key[16];
		const char *key_text;

		bson_uint32_to_string((uint32_t)k, &key_text, key, sizeof(key));
		BSON_APPEND_DOCUMENT_BEGIN(&list, key_text, &item);
		BSON_APPEND_UTF8(&item, "file", x->parts[k]->file);
		BSON_APPEND_UTF8(&item, "db", x->parts[k]->db);
		BSON_APPEND_UTF8(&item, "coll", x->parts[k]->coll);
		BSON_APPEND_INT32(&item, "collection", x->parts[k]->collection);
		BSON_APPEND_BOOL(&item, "documents", x->parts[k]->documents);
		BSON_APPEND_DOCUMENT(&item, "filter", &x->parts[k]->filter);
		BSON_APPEND_ARRAY(&item, "before", &x->parts[k]->before);
		BSON_APPEND_ARRAY(&item, "after", &x->parts[k]->after);
		bson_append_document_end(&list, &item);
	}
	bson_append_array_end(&manifest, &list);
	/* The source's counts, which no part file carries: snap-import's total. */
	estimate_append(x, &manifest, "estimate");
	json = bson_as_canonical_extended_json(&manifest, &length);
	path = output_path(x, MANIFEST);
	temp = output_path(x, MANIFEST ".partial");
	/*
	 * Written whole, then renamed: a manifest is there complete or not at
	 * all. Mode 0600 like the parts, whatever the umask.
	 */
	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	file = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (file == NULL || fwrite(json, 1, length, file) != length || fputc('\n', file) == EOF ||
	    fclose(file) != 0 || rename(temp, path) != 0)
		die(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	bson_free(json);
	free(temp);
	free(path);
	bson_destroy(&manifest);
}

static void
manifest_part(struct export *x, const char *path, bson_iter_t *item)
{
	bson_iter_t field;
	const char *db = "", *coll = "";
	struct part *part;
	int collection = -1;
	bson_t sub;

	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "db") && BSON_ITER_HOLDS_UTF8(&field))
		db = bson_iter_utf8(&field, NULL);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "coll") && BSON_ITER_HOLDS_UTF8(&field))
		coll = bson_iter_utf8(&field, NULL);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "collection") &&
	    BSON_ITER_HOLDS_INT32(&field))
		collection = bson_iter_int32(&field);
	if (db[0] == '\0' || coll[0] == '\0' || collection < 0)
		die(EXIT_BAD_STREAM, "%s: part %d: no db, coll or collection", path, x->part_count);
	part = part_add(x, db, coll, collection);
	if (collection >= x->collection_count)
		x->collection_count = collection + 1;
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "documents"))
		part->documents = bson_iter_as_bool(&field);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "file") && BSON_ITER_HOLDS_UTF8(&field))
		snprintf(part->file, sizeof(part->file), "%s", bson_iter_utf8(&field, NULL));
	if (part->file[0] == '\0' || strchr(part->file, '/') != NULL)
		die(EXIT_BAD_STREAM, "%s: part %d: bad file name", path, x->part_count - 1);
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "filter") &&
	    iter_document(&field, &sub))
{
		bson_destroy(&part->filter);
		bson_copy_to(&sub, &part->filter);
	}
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "before") &&
	    iter_document(&field, &sub))
{
		bson_destroy(&part->before);
		bson_copy_to(&sub, &part->before);
	}
	if (bson_iter_recurse(item, &field) && bson_iter_find(&field, "after") &&
	    iter_document(&field, &sub))
{
		bson_destroy(&part->after);
		bson_copy_to(&sub, &part->after);
	}
}

/*
 * A rerun continues the plan of the first run, T0 included: a new plan
 * could draw different ranges and leave holes between finished parts.
 */
bool
read_manifest(struct export *x)
{
	char *path = output_path(x, MANIFEST), *json;
	bson_iter_t iter, list;
	bson_error_t error;
	bson_t *manifest;
	size_t length;
	char text[2][32];

	json = file_read_all(path, &length);
	if (json == NULL && errno == ENOENT) {
		free(path);
		return false;
	}
	if (json == NULL)
		die(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	manifest = bson_new_from_json((const uint8_t *)json, (ssize_t)length, &error);
	if (manifest == NULL)
		die(EXIT_BAD_STREAM, "%s: %s", path, error.message);
	if (!bson_iter_init_find(&iter, manifest, "t0") || !BSON_ITER_HOLDS_TIMESTAMP(&iter))
		die(EXIT_BAD_STREAM, "%s: no t0", path);
	bson_iter_timestamp(&iter, &x->t0.t, &x->t0.i);
	if (x->config->have_t0 && ts_compare(x->config->t0, x->t0) != 0)
		die(EXIT_USAGE, "--t0 %s: %s continues an export with T0 %s",
		    ts_format(x->config->t0, text[0], sizeof(text[0])), path,
		    ts_format(x->t0, text[1], sizeof(text[1])));
	if (!bson_iter_init_find(&iter, manifest, "parts") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &list))
		die(EXIT_BAD_STREAM, "%s: no parts", path);
	while (bson_iter_next(&list))
		if (BSON_ITER_HOLDS_DOCUMENT(&list))
			manifest_part(x, path, &list);
	estimate_read(x, manifest);
	bson_destroy(manifest);
	free(json);
	free(path);
	return true;
}

/* Whether a part file is whole: every frame valid and a trailer last. */
static bool
part_complete(const char *path)
{
	stream_reader *reader;
	const bson_t *entry;
	bool trailer = false;
	int status;

	if (access(path, F_OK) != 0)
		return false;
	reader = stream_open(path);
	if (reader == NULL)
		return false;
	while ((status = stream_next(reader, &entry)) == STREAM_ENTRY)
		trailer = entry_is_trailer(entry);
	stream_close(reader);
	return status == STREAM_END && trailer;
}

void
skip_finished_parts(struct export *x)
{
	int k, finished = 0;

	for (k = 0; k < x->part_count; k++) {
		char *path = output_path(x, x->parts[k]->file);

		x->parts[k]->done = part_complete(path);
		finished += x->parts[k]->done;
		free(path);
	}
	if (finished > 0)
		warnmsg("%s: %d of %d parts already complete, skipped", x->config->output, finished,
		    x->part_count);
}
