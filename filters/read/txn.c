/*
 * txn.c - the transactions open at the start of a fresh stream.
 *
 * A transaction's links name the one before in prevOpTime (the first
 * names ts 0); a commit after --since whose chain starts at or before it
 * would reach the applier without its first links, and be refused. So before tailing, the stream gets the
 * links at or before the start of every transaction open there, found as
 * the links after the start whose prevOpTime is at or before it (a scan
 * of the oplog that works on every server) and, on mongod, the prepared
 * transactions config.transactions lists (their commit may come later),
 * each followed back along prevOpTime. Only those earlier links are
 * emitted: nothing else before the start.
 *
 * Later, each link tailed is checked: one whose chain reaches at or
 * before the start and that the prelude did not find is fatal (exit 5).
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "die.h"
#include "entry.h"
#include "read.h"
#include "stream.h"

/* The ts of entry's prevOpTime when entry is a transaction link; zero otherwise. */
static timestamp_t
txn_previous(const bson_t *entry)
{
	const char *command = entry_command(entry);
	timestamp_t none = { 0, 0 };
	bson_t previous;

	/* Retryable writes chain prevOpTime too (CRUD ops, multiOpType applyOps). */
	if (strcmp(entry_op(entry), "c") != 0 || bson_has_field(entry, "multiOpType") ||
	    (strcmp(command, "applyOps") != 0 && strcmp(command, "commitTransaction") != 0 &&
	    strcmp(command, "abortTransaction") != 0) ||
	    !entry_object(entry, "prevOpTime", &previous))
		return none;
	return entry_ts(&previous);
}

static bool
ts_is_zero(timestamp_t ts)
{
	return ts.t == 0 && ts.i == 0;
}

/* A link after the start of a transaction that began at or before it and was not emitted. */
void
txn_link_check(struct session *s, const bson_t *entry)
{
	timestamp_t previous = txn_previous(entry);
	char key[512], at[32];
	size_t k;

	if (ts_is_zero(previous) || ts_compare(previous, s->start) > 0)
		return;
	entry_txn_name(entry, key, sizeof(key));
	for (k = 0; k < s->open_txn_count; k++)
		if (strcmp(s->open_txns[k], key) == 0)
			return;
	stream_finish(s->out);
	die(EXIT_HISTORY_LOST, "transaction lsid %s began at or before %s %s (link at %s) and "
	    "was not found open when the capture started: its first entries are not in %s; "
	    "start the capture earlier", key, s->start_name, ts_format(s->start, at, sizeof(at)),
	    ts_format(previous, at, sizeof(at)), s->out_name);
}

/* The copies of the links found, to sort and write. */
struct links {
	bson_t **entries;
	size_t count;
};

/* Run a find on local.oplog.rs; calls found(s, doc, data) for each document. */
static void
oplog_find(struct session *s, const char *ns_coll, const char *db, const bson_t *filter,
    void (*found)(struct session *, const bson_t *, void *), void *data)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(s->client, db, ns_coll);
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	bson_error_t error;

	while (mongoc_cursor_next(cursor, &doc))
		found(s, doc, data);
	if (mongoc_cursor_error(cursor, &error) && strcmp(ns_coll, "oplog.rs") == 0)
		die(EXIT_SERVER, "%s: looking for transactions open at %s: %s",
		    conn_masked(s->client), s->start_name, error.message);
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
}

static void
tip_found(struct session *s, const bson_t *doc, void *data)
{
	struct links *tips = data;
	timestamp_t previous = txn_previous(doc);
	char key[512];

	if (ts_is_zero(previous) || ts_compare(previous, s->start) > 0)
		return;
	entry_txn_name(doc, key, sizeof(key));
	s->open_txns = xrealloc(s->open_txns, (s->open_txn_count + 1) * sizeof(char *));
	s->open_txns[s->open_txn_count++] = xstrdup(key);
	tips->entries = xrealloc(tips->entries, (tips->count + 1) * sizeof(bson_t *));
	tips->entries[tips->count++] = BCON_NEW("ts", BCON_TIMESTAMP(previous.t, previous.i));
}

/* config.transactions (mongod): a prepared transaction's lastWriteOpTime is its prepare. */
static void
prepared_found(struct session *s, const bson_t *doc, void *data)
{
	struct links *tips = data;
	bson_iter_t iter, ts;
	timestamp_t at;

	if (!bson_iter_init(&iter, doc) || !bson_iter_find_descendant(&iter, "lastWriteOpTime.ts", &ts) ||
	    !BSON_ITER_HOLDS_TIMESTAMP(&ts))
		return;
	bson_iter_timestamp(&ts, &at.t, &at.i);
	if (ts_is_zero(at) || ts_compare(at, s->start) > 0)
		return;
	tips->entries = xrealloc(tips->entries, (tips->count + 1) * sizeof(bson_t *));
	tips->entries[tips->count++] = BCON_NEW("ts", BCON_TIMESTAMP(at.t, at.i));
}

static void
link_found(struct session *s, const bson_t *doc, void *data)
{
	bson_t **found = data;

	(void)s;
	if (*found == NULL)
		*found = bson_copy(doc);
}

static int
link_order(const void *a, const void *b)
{
	return ts_compare(entry_ts(*(bson_t *const *)a), entry_ts(*(bson_t *const *)b));
}

/* Follow the chain back from the link at ts, adding every link to chain. */
static void
chain_follow(struct session *s, timestamp_t ts, struct links *chain)
{
	char at[32];
	size_t k;

	while (!ts_is_zero(ts)) {
		bson_t *filter = BCON_NEW("ts", BCON_TIMESTAMP(ts.t, ts.i));
		bson_t *link = NULL;
		char key[512];

		for (k = 0; k < chain->count; k++)
			if (ts_compare(entry_ts(chain->entries[k]), ts) == 0)
				break;
		if (k < chain->count) {
			bson_destroy(filter);
			return;	/* the rest of this chain is in already */
		}
		oplog_find(s, "oplog.rs", "local", filter, link_found, &link);
		bson_destroy(filter);
		if (link == NULL) {
			stream_finish(s->out);
			die(EXIT_HISTORY_LOST, "history lost: a transaction open at %s %s has a link at "
			    "%s no longer in the oplog", s->start_name, ts_format(s->start, key,
			    sizeof(key)), ts_format(ts, at, sizeof(at)));
		}
		chain->entries = xrealloc(chain->entries, (chain->count + 1) * sizeof(bson_t *));
		chain->entries[chain->count++] = link;
		ts = txn_previous(link);
	}
}

static void
links_free(struct links *links)
{
	while (links->count > 0)
		bson_destroy(links->entries[--links->count]);
	free(links->entries);
}

void
txn_prelude_write(struct session *s)
{
	struct links tips = { NULL, 0 }, chain = { NULL, 0 };
	bson_t *after, *prepared;
	size_t k;

	s->check_txns = true;
	if (ts_is_zero(s->start))
		return;	/* the whole oplog: every first link is in it */
	after = BCON_NEW("ts", "{", "$gt", BCON_TIMESTAMP(s->start.t, s->start.i), "}",
	    "op", BCON_UTF8("c"),
	    "prevOpTime.ts", "{", "$lte", BCON_TIMESTAMP(s->start.t, s->start.i),
	    "$gt", BCON_TIMESTAMP(0, 0), "}");
	oplog_find(s, "oplog.rs", "local", after, tip_found, &tips);
	bson_destroy(after);
	prepared = BCON_NEW("state", BCON_UTF8("prepared"));
	oplog_find(s, "transactions", "config", prepared, prepared_found, &tips);
	bson_destroy(prepared);
	for (k = 0; k < tips.count; k++)
		chain_follow(s, entry_ts(tips.entries[k]), &chain);
	if (chain.count > 0) {
		qsort(chain.entries, chain.count, sizeof(bson_t *), link_order);
		for (k = 0; k < chain.count; k++) {
			char key[512];

			entry_txn_name(chain.entries[k], key, sizeof(key));
			if (!stream_write(s->out, chain.entries[k]))
				exit(EXIT_LOCAL);
			s->total++;
			s->written++;
			s->bytes += chain.entries[k]->len;
			/* A prepared one found in config.transactions is open too. */
			s->open_txns = xrealloc(s->open_txns, (s->open_txn_count + 1) * sizeof(char *));
			s->open_txns[s->open_txn_count++] = xstrdup(key);
		}
		if (!stream_flush(s->out))
			exit(EXIT_LOCAL);
		warnmsg("%s falls inside open transactions: the stream starts with the %zu "
		    "link(s) they wrote at or before it", s->start_name, chain.count);
	}
	links_free(&chain);
	links_free(&tips);
}
