/*
 * loadgen - the example application: keeps writing a realistic mix to the
 * server named in an entry file, as an application under migration does.
 *
 * Inserts, $set/$unset/$inc/$push updates, replacements and deletes over a
 * few collections (one with a unique index). One thread, so each document
 * has one writer and the source's oplog order is the order of its writes.
 * Before every write it checks the fence file: while it exists the writer
 * pauses and says so by creating FENCE.ack, so a fence command can wait
 * until no write is in flight. After a pause it re-reads the entry file,
 * which is how a cutover moves it to the target without a restart.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "conn.h"
#include "die.h"
#include "options.h"

#define COLLECTIONS 3
#define MAX_ALIVE 200000

struct options {
	const char *entry_file, *uri, *fence_file, *db;
	double rate;		/* writes per second; 0: as fast as possible */
	long duration_ms;	/* 0: until SIGINT/SIGTERM */
	long max_ops;
	unsigned seed;
};

struct writer {
	struct options opt;
	char *uri;
	mongoc_client_t *client;
	mongoc_collection_t *collections[COLLECTIONS];
	int64_t *alive[COLLECTIONS];	/* _ids present, for updates and deletes */
	size_t alive_count[COLLECTIONS];
	int64_t next_id;
	uint64_t inserts, updates, replaces, deletes, errors, pauses;
	long longest_pause_ms;
	char ack_path[4096];
};

static const char *const collection_names[COLLECTIONS] = { "users", "orders", "events" };

static void connect_entry(struct writer *);
static void close_client(struct writer *);
static void run(struct writer *);
static void report(const struct writer *);

int
main(int argc, char *argv[])
{
	static const struct program program = {
		.name = "oplogkit-loadgen",
		.synopsis = "(--entry-file FILE | --uri URI) [options]",
		.summary = "Write a realistic mix of inserts, updates and deletes, like an application.",
		.details = "At the end prints counts and the number of failed writes (exit 1 if any).\n",
		.min_operands = 0, .max_operands = 0,
	};
	struct writer writer;
	long rate = 0, seed = -1;
	int ch;
	const struct option_def table[] = {
		OPT_STRING('e', "entry-file", "FILE", &writer.opt.entry_file,
		    "file holding the URI to write to; re-read after each fence"),
		OPT_STRING('u', "uri", "URI", &writer.opt.uri, "write to URI"),
		OPT_STRING('f', "fence-file", "PATH", &writer.opt.fence_file,
		    "pause while it exists (PATH.ack is created while paused)"),
		OPT_STRING('d', "db", "NAME", &writer.opt.db, "the database written to (default app)"),
		OPT_NUMBER('r', "rate", "OPS_PER_S", &rate, 0, LONG_MAX,
		    "writes per second (default: as fast as the server allows)"),
		OPT_DURATION('t', "duration", "D", &writer.opt.duration_ms,
		    "stop after D (default: at SIGINT or SIGTERM)"),
		OPT_NUMBER('n', "ops", "N", &writer.opt.max_ops, 0, LONG_MAX, "stop after N writes"),
		OPT_NUMBER('s', "seed", "N", &seed, 0, UINT_MAX,
		    "the same N, the same writes (default: the pid)"),
		OPT_END(),
	};

	die_init(argv[0]);
	memset(&writer, 0, sizeof(writer));
	writer.opt.db = "app";
	options_parse(&program, table, argc, argv);
	writer.opt.rate = (double)rate;
	writer.opt.seed = seed >= 0 ? (unsigned)seed : (unsigned)getpid();
	if ((writer.opt.entry_file == NULL) == (writer.opt.uri == NULL))
		die(EXIT_USAGE, "give exactly one of --entry-file and --uri");
	if (writer.opt.fence_file != NULL)
		snprintf(writer.ack_path, sizeof(writer.ack_path), "%s.ack", writer.opt.fence_file);
	cli_catch_signals();
	srandom(writer.opt.seed);
	writer.next_id = (int64_t)writer.opt.seed * 1000000000LL;
	connect_entry(&writer);
	run(&writer);
	report(&writer);
	close_client(&writer);
	for (ch = 0; ch < COLLECTIONS; ch++)
		free(writer.alive[ch]);
	free(writer.uri);
	return writer.errors > 0 ? EXIT_DIFFERENT : EXIT_DONE;
}

static char *
read_entry(const struct writer *writer)
{
	if (writer->opt.uri != NULL)
		return xstrdup(writer->opt.uri);
	return conn_uri_resolve(NULL, writer->opt.entry_file, NULL);
}

static void
close_client(struct writer *writer)
{
	int k;

	for (k = 0; k < COLLECTIONS; k++) {
		mongoc_collection_destroy(writer->collections[k]);
		writer->collections[k] = NULL;
	}
	conn_close(writer->client);
	writer->client = NULL;
}

/* (Re)connect to the URI the entry names, if it changed. */
static void
connect_entry(struct writer *writer)
{
	char *uri = read_entry(writer);
	bson_t *command, reply;
	bson_error_t error;
	int k;

	if (writer->uri != NULL && strcmp(uri, writer->uri) == 0) {
		free(uri);
		return;
	}
	close_client(writer);
	free(writer->uri);
	writer->uri = uri;
	writer->client = conn_open(uri, NULL);
	for (k = 0; k < COLLECTIONS; k++)
		writer->collections[k] = mongoc_client_get_collection(writer->client, writer->opt.db,
		    collection_names[k]);
	/* The unique index exists on the source from the start; the migration copies it. */
	command = BCON_NEW("createIndexes", BCON_UTF8(collection_names[0]), "indexes", "[", "{",
	    "key", "{", "email", BCON_INT32(1), "}", "name", BCON_UTF8("email_1"),
	    "unique", BCON_BOOL(true), "}", "]");
	if (!conn_command(writer->client, writer->opt.db, command, &reply, &error))
		warnmsg("create unique index on %s.users: %s", writer->opt.db, error.message);
	bson_destroy(&reply);
	bson_destroy(command);
}

static bool
file_exists(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0;
}

/* Wait while the fence is up; acknowledge it so the fencer knows no write is in flight. */
static void
honour_fence(struct writer *writer)
{
	long start;
	FILE *ack;

	if (!file_exists(writer->opt.fence_file))
		return;
	start = clock_ms();
	ack = fopen(writer->ack_path, "w");
	if (ack == NULL)
		die(EXIT_DIFFERENT, "%s: %s", writer->ack_path, strerror(errno));
	fclose(ack);
	while (file_exists(writer->opt.fence_file) && !cli_stop)
		clock_sleep_ms(1);
	if (unlink(writer->ack_path) != 0 && errno != ENOENT)
		warnmsg("%s: %s", writer->ack_path, strerror(errno));
	writer->pauses++;
	if (clock_ms() - start > writer->longest_pause_ms)
		writer->longest_pause_ms = clock_ms() - start;
	connect_entry(writer);
}

static void
remember(struct writer *writer, int coll, int64_t id)
{
	if (writer->alive_count[coll] == 0 && writer->alive[coll] == NULL)
		writer->alive[coll] = xmalloc(MAX_ALIVE * sizeof(int64_t));
	if (writer->alive_count[coll] < MAX_ALIVE)
		writer->alive[coll][writer->alive_count[coll]++] = id;
}

static void
append_body(bson_t *doc, int64_t id)
{
	char email[64], note[512];
	bson_t tags;
	size_t length = 40 + (size_t)(random() % 400);

	snprintf(email, sizeof(email), "user%" PRId64 "@example.com", id);
	memset(note, 'a' + (int)(id % 26), length);
	note[length] = '\0';
	BSON_APPEND_UTF8(doc, "email", email);
	BSON_APPEND_INT64(doc, "visits", 0);
	BSON_APPEND_DOUBLE(doc, "score", (double)(random() % 10000) / 100.0);
	BSON_APPEND_DATE_TIME(doc, "created", (int64_t)time(NULL) * 1000);
	BSON_APPEND_ARRAY_BEGIN(doc, "tags", &tags);
	BSON_APPEND_UTF8(&tags, "0", "new");
	bson_append_array_end(doc, &tags);
	BSON_APPEND_UTF8(doc, "note", note);
}

static bson_t *
random_update(int64_t id)
{
	switch (random() % 5) {
	case 0:
		return BCON_NEW("$set", "{", "status", BCON_UTF8("active"), "score",
		    BCON_DOUBLE((double)(random() % 100)), "}");
	case 1:
		return BCON_NEW("$unset", "{", "note", BCON_UTF8(""), "}");
	case 2:
		return BCON_NEW("$inc", "{", "visits", BCON_INT64(1), "}");
	case 3:
		return BCON_NEW("$push", "{", "tags", BCON_INT64(random() % 1000), "}");
	default:
		return BCON_NEW("$set", "{", "profile.city", BCON_UTF8(id % 2 ? "Lyon" : "Oslo"),
		    "profile.zip", BCON_INT32((int32_t)(random() % 99999)), "}");
	}
}

/* One write. Returns false when the server refused it. */
static bool
write_once(struct writer *writer, bson_error_t *error)
{
	int coll = (int)(random() % COLLECTIONS);
	mongoc_collection_t *collection = writer->collections[coll];
	size_t alive = writer->alive_count[coll];
	long dice = random() % 100;
	bson_t *selector, *doc;
	size_t pick;
	bool ok;

	if (alive < 50 || dice < 40) {
		int64_t id = writer->next_id++;

		doc = BCON_NEW("_id", BCON_INT64(id));
		append_body(doc, id);
		ok = mongoc_collection_insert_one(collection, doc, NULL, NULL, error);
		bson_destroy(doc);
		if (ok) {
			remember(writer, coll, id);
			writer->inserts++;
		}
		return ok;
	}
	pick = (size_t)random() % alive;
	selector = BCON_NEW("_id", BCON_INT64(writer->alive[coll][pick]));
	if (dice < 80) {
		doc = random_update(writer->alive[coll][pick]);
		ok = mongoc_collection_update_one(collection, selector, doc, NULL, NULL, error);
		writer->updates += ok;
	} else if (dice < 88) {
		doc = bson_new();
		append_body(doc, writer->alive[coll][pick]);
		BSON_APPEND_UTF8(doc, "replaced", "yes");
		ok = mongoc_collection_replace_one(collection, selector, doc, NULL, NULL, error);
		writer->replaces += ok;
	} else {
		doc = NULL;
		ok = mongoc_collection_delete_one(collection, selector, NULL, NULL, error);
		if (ok) {
			writer->alive[coll][pick] = writer->alive[coll][--writer->alive_count[coll]];
			writer->deletes++;
		}
	}
	bson_destroy(doc);
	bson_destroy(selector);
	return ok;
}

static void
run(struct writer *writer)
{
	long start = clock_ms();
	uint64_t done = 0;
	bson_error_t error;

	while (!cli_stop) {
		long elapsed = clock_ms() - start;

		if (writer->opt.duration_ms > 0 && elapsed >= writer->opt.duration_ms)
			break;
		if (writer->opt.max_ops > 0 && (long)done >= writer->opt.max_ops)
			break;
		if (writer->opt.rate > 0 && done > elapsed * writer->opt.rate / 1000.0) {
			clock_sleep_ms(1);
			continue;
		}
		honour_fence(writer);
		if (!write_once(writer, &error)) {
			writer->errors++;
			warnmsg("write failed: %s", error.message);
		}
		done++;
	}
}

static void
report(const struct writer *writer)
{
	printf("loadgen: inserts %" PRIu64 " updates %" PRIu64 " replaces %" PRIu64 " deletes %" PRIu64
	    " errors %" PRIu64 " pauses %" PRIu64 " longest_pause_ms %ld\n",
	    writer->inserts, writer->updates, writer->replaces, writer->deletes, writer->errors,
	    writer->pauses, writer->longest_pause_ms);
	fflush(stdout);
}
