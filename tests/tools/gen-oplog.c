/*
 * gen-oplog - write a synthetic but realistic oplog stream of any size,
 * for benchmarks and large-stream tests.
 *
 * Entries look like mongod's: ts/t/v/wall/ui, inserts of documents from
 * 100 B to 16 KiB, updates as $v:2 diffs (field sets, deletes, inserts,
 * sub-diffs of objects and arrays) and as $v:1 $set, deletes, and now
 * and then a command (create, createIndexes). Updates and deletes name
 * documents inserted earlier and still alive, so the stream also applies
 * cleanly to an empty server. The same --seed gives the same bytes.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "options.h"
#include "stream.h"
#include "synth.h"

#define MAX_ALIVE_PER_NS 100000

struct namespace {
	char db[32], coll[32], ns[64];
	uint8_t uuid[16];
	int64_t *alive;
	size_t alive_count;
	bool created;
};

struct generator {
	struct namespace *namespaces;
	int namespace_count;
	struct synth synth;
	uint32_t ts_t, ts_i;
	int64_t next_id;
	bool oid;		/* --oid: _ids are ObjectIds (made from the counter) */
	char *pad;
};

/* The _id numbered id: the number, or an ObjectId that holds it (--oid). */
static void
append_id(const struct generator *gen, bson_t *doc, int64_t id)
{
	uint8_t bytes[12] = { 0x65, 0x5f, 0x00, 0x00, 0x0d, 0x1c };
	bson_oid_t oid;
	int k;

	if (!gen->oid) {
		BSON_APPEND_INT64(doc, "_id", id);
		return;
	}
	for (k = 0; k < 6; k++)
		bytes[11 - k] = (uint8_t)((uint64_t)id >> (8 * k));
	bson_oid_init_from_data(&oid, bytes);
	BSON_APPEND_OID(doc, "_id", &oid);
}

static uint32_t
below(struct generator *gen, uint32_t bound)
{
	return synth_below(&gen->synth, bound);
}

static void
append_header(struct generator *gen, bson_t *entry, const char *op, const char *ns,
    const struct namespace *space)
{
	if (++gen->ts_i > 1000) {
		gen->ts_t++;
		gen->ts_i = 1;
	}
	BSON_APPEND_UTF8(entry, "op", op);
	BSON_APPEND_UTF8(entry, "ns", ns);
	if (space != NULL)
		BSON_APPEND_BINARY(entry, "ui", BSON_SUBTYPE_UUID, space->uuid, 16);
	BSON_APPEND_TIMESTAMP(entry, "ts", gen->ts_t, gen->ts_i);
	BSON_APPEND_INT64(entry, "t", 7);
	BSON_APPEND_INT32(entry, "v", 2);
	BSON_APPEND_DATE_TIME(entry, "wall", (int64_t)gen->ts_t * 1000 + gen->ts_i % 1000);
}

static void
append_document(struct generator *gen, bson_t *doc, int64_t id)
{
	append_id(gen, doc, id);
	synth_append_fields(&gen->synth, doc, gen->pad);
}

static void
write_or_die(stream_writer *writer, const bson_t *entry)
{
	if (!stream_write(writer, entry))
		exit(EXIT_DIFFERENT);
}

static uint64_t
emit_create(struct generator *gen, stream_writer *writer, struct namespace *space)
{
	char command_ns[64];
	bson_t entry = BSON_INITIALIZER, o, key;
	uint64_t bytes;

	snprintf(command_ns, sizeof(command_ns), "%s.$cmd", space->db);
	append_header(gen, &entry, "c", command_ns, space);
	BSON_APPEND_DOCUMENT_BEGIN(&entry, "o", &o);
	BSON_APPEND_UTF8(&o, "create", space->coll);
	bson_append_document_end(&entry, &o);
	write_or_die(writer, &entry);
	bytes = entry.len;
	bson_reinit(&entry);
	append_header(gen, &entry, "c", command_ns, space);
	BSON_APPEND_DOCUMENT_BEGIN(&entry, "o", &o);
	BSON_APPEND_UTF8(&o, "createIndexes", space->coll);
	BSON_APPEND_INT32(&o, "v", 2);
	BSON_APPEND_DOCUMENT_BEGIN(&o, "key", &key);
	BSON_APPEND_INT32(&key, "n", 1);
	bson_append_document_end(&o, &key);
	BSON_APPEND_UTF8(&o, "name", "n_1");
	bson_append_document_end(&entry, &o);
	write_or_die(writer, &entry);
	bytes += entry.len;
	bson_destroy(&entry);
	space->created = true;
	return bytes;
}

static void
append_diff(struct generator *gen, bson_t *o)
{
	bson_t diff, section, sub;

	BSON_APPEND_INT32(o, "$v", 2);
	BSON_APPEND_DOCUMENT_BEGIN(o, "diff", &diff);
	BSON_APPEND_DOCUMENT_BEGIN(&diff, "u", &section);
	BSON_APPEND_INT64(&section, "n", (int64_t)below(gen, 1000000));
	bson_append_document_end(&diff, &section);
	switch (below(gen, 3)) {
	case 0:
		BSON_APPEND_DOCUMENT_BEGIN(&diff, "snested", &sub);
		BSON_APPEND_DOCUMENT_BEGIN(&sub, "u", &section);
		BSON_APPEND_INT32(&section, "a", (int32_t)below(gen, 100));
		bson_append_document_end(&sub, &section);
		bson_append_document_end(&diff, &sub);
		break;
	case 1:
		BSON_APPEND_DOCUMENT_BEGIN(&diff, "stags", &sub);
		BSON_APPEND_BOOL(&sub, "a", true);
		BSON_APPEND_UTF8(&sub, "u1", "c");
		bson_append_document_end(&diff, &sub);
		break;
	default:
		BSON_APPEND_DOCUMENT_BEGIN(&diff, "i", &section);
		BSON_APPEND_UTF8(&section, "touched", "yes");
		bson_append_document_end(&diff, &section);
	}
	bson_append_document_end(o, &diff);
}

static uint64_t
emit_data(struct generator *gen, stream_writer *writer, struct namespace *space)
{
	uint32_t dice = below(gen, 100);
	bson_t entry = BSON_INITIALIZER, o, o2;
	uint64_t bytes;

	if (space->alive_count < 10 || dice < 50) {
		int64_t id = gen->next_id++;

		append_header(gen, &entry, "i", space->ns, space);
		BSON_APPEND_DOCUMENT_BEGIN(&entry, "o", &o);
		append_document(gen, &o, id);
		bson_append_document_end(&entry, &o);
		if (space->alive_count < MAX_ALIVE_PER_NS)
			space->alive[space->alive_count++] = id;
	} else {
		size_t pick = below(gen, (uint32_t)space->alive_count);
		int64_t id = space->alive[pick];

		append_header(gen, &entry, dice < 85 ? "u" : "d", space->ns, space);
		BSON_APPEND_DOCUMENT_BEGIN(&entry, "o", &o);
		if (dice < 70) {
			append_diff(gen, &o);
		} else if (dice < 85) {
			bson_t set;

			BSON_APPEND_INT32(&o, "$v", 1);
			BSON_APPEND_DOCUMENT_BEGIN(&o, "$set", &set);
			BSON_APPEND_INT64(&set, "n", (int64_t)below(gen, 1000000));
			BSON_APPEND_UTF8(&set, "name", "updated");
			bson_append_document_end(&o, &set);
		} else {
			append_id(gen, &o, id);
			space->alive[pick] = space->alive[--space->alive_count];
		}
		bson_append_document_end(&entry, &o);
		if (dice < 85) {
			BSON_APPEND_DOCUMENT_BEGIN(&entry, "o2", &o2);
			append_id(gen, &o2, id);
			bson_append_document_end(&entry, &o2);
		}
	}
	write_or_die(writer, &entry);
	bytes = entry.len;
	bson_destroy(&entry);
	return bytes;
}

int
main(int argc, char *argv[])
{
	static const struct program program = {
		.name = "gen-oplog",
		.synopsis = "[--bytes N | --entries N] [--namespaces K] [--seed S] [--oid] [-z]",
		.summary = "Write a synthetic oplog stream (i, u as $v:2 and $v:1, d, some c) to stdout.",
		.min_operands = 0, .max_operands = 0,
	};
	struct generator gen;
	stream_writer *writer;
	uint64_t bytes = 0, entries = 0, max_bytes, max_entries;
	long opt_bytes = 0, opt_entries = 0, namespaces = 8, seed = 0;
	bool oid = false;
	int k, level = 0;
	const struct option_def table[] = {
		OPT_NUMBER('b', "bytes", "N", &opt_bytes, 0, LONG_MAX, "stop after about N bytes"),
		OPT_NUMBER('e', "entries", "N", &opt_entries, 0, LONG_MAX, "stop after N entries"),
		OPT_NUMBER('k', "namespaces", "K", &namespaces, 1, 1000,
		    "spread the entries over K collections (default 8)"),
		OPT_NUMBER('s', "seed", "S", &seed, 0, LONG_MAX, "another stream (the same S, the same bytes)"),
		OPT_BOOL('o', "oid", &oid, "ObjectId _ids instead of numbers"),
		OPT_ZSTD(&level),
		OPT_END(),
	};

	die_init(argv[0]);
	options_parse(&program, table, argc, argv);
	memset(&gen, 0, sizeof(gen));
	gen.synth.state = 88172645463325252ULL + (uint64_t)seed * 7919;
	gen.oid = oid;
	max_bytes = (uint64_t)opt_bytes;
	max_entries = (uint64_t)opt_entries;
	if ((max_bytes == 0) == (max_entries == 0))
		die(EXIT_USAGE, "give one of --bytes and --entries");
	gen.namespace_count = (int)namespaces;
	gen.namespaces = xcalloc((size_t)namespaces, sizeof(*gen.namespaces));
	for (k = 0; k < namespaces; k++) {
		struct namespace *space = &gen.namespaces[k];

		snprintf(space->db, sizeof(space->db), "bench%d", k % 3);
		snprintf(space->coll, sizeof(space->coll), "c%d", k);
		snprintf(space->ns, sizeof(space->ns), "%s.%s", space->db, space->coll);
		memset(space->uuid, k + 1, sizeof(space->uuid));
		space->alive = xmalloc(MAX_ALIVE_PER_NS * sizeof(int64_t));
	}
	gen.pad = xmalloc(SYNTH_PAD_MAX);
	memset(gen.pad, 'p', SYNTH_PAD_MAX);
	gen.ts_t = 1700000000;
	gen.next_id = 1;
	writer = stream_create(NULL, level, false);
	if (writer == NULL)
		exit(EXIT_DIFFERENT);
	while ((max_bytes == 0 || bytes < max_bytes) && (max_entries == 0 || entries < max_entries)) {
		struct namespace *space = &gen.namespaces[below(&gen, (uint32_t)namespaces)];

		if (!space->created || below(&gen, 5000) == 0) {
			bytes += emit_create(&gen, writer, space);
			entries += 2;
			continue;
		}
		bytes += emit_data(&gen, writer, space);
		entries++;
	}
	if (!stream_finish(writer))
		exit(EXIT_DIFFERENT);
	for (k = 0; k < namespaces; k++)
		free(gen.namespaces[k].alive);
	free(gen.namespaces);
	free(gen.pad);
	return EXIT_DONE;
}
