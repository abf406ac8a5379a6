/*
 * stream.c - snap-import's stream reader: a snapshot stream (header,
 * creates, inserts, createIndexes, trailer), or with --into a plain BSON
 * file of documents.
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
#include "import.h"

static void
import_command(struct import *x, stream_reader *reader, const bson_t *entry)
{
	const char *name = entry_command(entry);
	char ns[2][256];
	struct target *target;
	bson_iter_t iter, list;
	bson_t o, spec;

	if (command_namespaces(entry, ns) < 1 || !entry_object(entry, "o", &o))
		finish_and_die(x, EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: a command without "
		    "a collection", stream_name(reader), (unsigned long long)stream_count(reader),
		    (unsigned long long)stream_offset(reader));
	target = target_of(x, ns[0]);
	if (target == NULL)
		return;
	if (strcmp(name, "create") == 0) {
		flush_batch(x);
		prepare_target(x, target, &o);
	} else if (strcmp(name, "createIndexes") == 0) {
		add_index(target, &o);
	} else if (strcmp(name, "commitIndexBuild") == 0 && bson_iter_init_find(&iter, &o, "indexes") &&
	    bson_iter_recurse(&iter, &list)) {
		while (bson_iter_next(&list)) {
			const uint8_t *data;
			uint32_t length;

			if (!BSON_ITER_HOLDS_DOCUMENT(&list))
				continue;
			bson_iter_document(&list, &length, &data);
			if (bson_init_static(&spec, data, length))
				add_index(target, &spec);
		}
	} else if (strcmp(name, "startIndexBuild") != 0) {
		finish_and_die(x, EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: %s is not a snapshot "
		    "entry (replay oplogs with oplog-apply)", stream_name(reader),
		    (unsigned long long)stream_count(reader),
		    (unsigned long long)stream_offset(reader), name);
	}
}

static void
import_insert(struct import *x, stream_reader *reader, const bson_t *entry)
{
	struct target *target = target_of(x, entry_ns(entry));
	bson_t o;

	if (target == NULL)
		return;
	if (!entry_object(entry, "o", &o))
		finish_and_die(x, EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: insert without o",
		    stream_name(reader), (unsigned long long)stream_count(reader),
		    (unsigned long long)stream_offset(reader));
	if (!target->prepared) {
		flush_batch(x);
		prepare_target(x, target, NULL);
	}
	add_document(x, target, bson_get_data(&o), o.len);
}

static void
check_header(struct import *x, stream_reader *reader, const bson_t *entry)
{
	const char *kind = entry_stream_kind(entry);

	if (kind[0] != '\0' && strcmp(kind, "snapshot") != 0)
		finish_and_die(x, EXIT_BAD_STREAM, "%s: an %s stream, not a snapshot: replay it with "
		    "oplog-apply", stream_name(reader), kind);
}

/*
 * Import every entry. Our streams open with a header; each header must
 * be closed by a trailer before the next header or the end. whole_snapshot
 * requires a header too (a part file of snap-export -o).
 */
void
import_stream(struct import *x, stream_reader *reader, bool whole_snapshot)
{
	const bson_t *entry;
	bool open = false, any_header = false;
	int status = STREAM_END;

	while (!cli_stop && !atomic_load(&x->failed) &&
	    (status = stream_next(reader, &entry)) == STREAM_ENTRY) {
		const char *op = entry_op(entry);

		if (entry_is_header(entry)) {
			if (open)
				break;
			check_header(x, reader, entry);
			import_estimate(x, entry);
			open = any_header = true;
		} else if (entry_is_trailer(entry)) {
			open = false;
		} else if (strcmp(op, "i") == 0) {
			import_insert(x, reader, entry);
		} else if (strcmp(op, "c") == 0) {
			import_command(x, reader, entry);
		} else if (strcmp(op, "n") != 0) {
			finish_and_die(x, EXIT_BAD_STREAM, "%s: entry %llu at byte %llu: op '%s' is not "
			    "a snapshot entry (replay oplogs with oplog-apply)", stream_name(reader),
			    (unsigned long long)stream_count(reader),
			    (unsigned long long)stream_offset(reader), op);
		}
	}
	if (cli_stop || atomic_load(&x->failed))
		return;
	if (status == STREAM_ERROR) {
		drain(x);
		stream_die(reader);
	}
	if (open || (whole_snapshot && !any_header))
		finish_and_die(x, EXIT_BAD_STREAM, "%s: incomplete snapshot: no trailer%s",
		    stream_name(reader), open && status == STREAM_ENTRY ?
		    " before the next header" : "");
}

/*
 * Every frame of reader is a document of target (--into, a mongodump
 * .bson file). A bad frame: what came before is inserted, then exit 3.
 */
void
import_frames(struct import *x, stream_reader *reader, struct target *target)
{
	const bson_t *doc;
	int status = STREAM_END;

	while (!cli_stop && !atomic_load(&x->failed) &&
	    (status = stream_next(reader, &doc)) == STREAM_ENTRY)
		add_document(x, target, bson_get_data(doc), doc->len);
	if (status == STREAM_ERROR) {
		drain(x);
		stream_die(reader);
	}
}

/* --into: every frame is a document of ns. */
void
import_documents(struct import *x, const char *path, const char *ns)
{
	stream_reader *reader = stream_open(path);
	struct target *target = target_of(x, ns);

	if (reader == NULL)
		exit(EXIT_NO_INPUT);
	if (target == NULL)
		die(EXIT_USAGE, "--into %s: excluded by the namespace selection", ns);
	prepare_target(x, target, NULL);
	import_frames(x, reader, target);
	stream_close(reader);
}
