/*
 * txn.c - transactions held until they commit.
 *
 * A multi-entry transaction is logged as applyOps entries with
 * partialTxn: true (or one with prepare: true), then the entry that
 * commits it: the last applyOps without partialTxn, or commitTransaction
 * for a prepared one; abortTransaction throws it away. Held entries are
 * kept in memory up to a bound shared by all open transactions, beyond
 * which a transaction moves to a temporary file written with the stream
 * writer, so memory stays flat however large a transaction is.
 *
 * Every link names the one before it in prevOpTime (the first names ts
 * 0). A commit whose chain starts before the stream cannot be applied
 * from it: its first parts are missing, and applying the rest would
 * write part of a transaction. Such a commit is refused (exit 5) unless
 * a --resume checkpoint at or after its earlier links shows them done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "die.h"

struct txn {
	uint8_t *key;		/* lsid's bytes, then txnNumber */
	size_t key_length;
	timestamp_t floor;	/* done_ts before its first entry */
	timestamp_t first_previous;	/* prevOpTime of its first held entry: 0 when whole */
	uint8_t *frames;	/* held entries, back to back */
	size_t used, size;
	char *spill_path;	/* once spilled: the file, and its writer */
	stream_writer *spill;
	struct txn *next;
};

struct txn_table {
	struct txn *open;
	size_t memory, memory_max;
};

/* Spill files still on disk, removed at exit whatever the exit. */
static struct txn_table *cleanup_table;

static void
txn_free(struct txn *txn)
{
	if (txn->spill != NULL)
		stream_finish(txn->spill);
	if (txn->spill_path != NULL) {
		unlink(txn->spill_path);
		free(txn->spill_path);
	}
	free(txn->frames);
	free(txn->key);
	free(txn);
}

static void
remove_spills(void)
{
	struct txn *txn;

	if (cleanup_table == NULL)
		return;
	for (txn = cleanup_table->open; txn != NULL; txn = txn->next)
		if (txn->spill_path != NULL)
			unlink(txn->spill_path);
}

struct txn_table *
txn_table_new(size_t memory_max)
{
	struct txn_table *table = xcalloc(1, sizeof(*table));

	table->memory_max = memory_max;
	cleanup_table = table;
	if (atexit(remove_spills) != 0)
		die(EXIT_DIFFERENT, "atexit failed");
	return table;
}

void
txn_table_free(struct txn_table *table)
{
	struct txn *txn, *next;

	if (table == NULL)
		return;
	for (txn = table->open; txn != NULL; txn = next) {
		next = txn->next;
		txn_free(txn);
	}
	cleanup_table = NULL;
	free(table);
}

/* The key of entry's transaction: lsid's BSON bytes and txnNumber. */
static uint8_t *
txn_key(const struct op_view *entry, size_t *length)
{
	int64_t number = entry->txn_number;
	uint8_t *key;

	*length = entry->lsid_length + sizeof(number);
	key = xmalloc(*length);
	if (entry->lsid_length > 0)
		memcpy(key, entry->lsid, entry->lsid_length);
	memcpy(key + entry->lsid_length, &number, sizeof(number));
	return key;
}

/* Find (and with unlink, remove from the table) entry's transaction. */
static struct txn *
txn_find(struct txn_table *table, const struct op_view *entry, bool unlink_it)
{
	size_t length;
	uint8_t *key = txn_key(entry, &length);
	struct txn **at, *txn = NULL;

	for (at = &table->open; *at != NULL; at = &(*at)->next) {
		if ((*at)->key_length == length && memcmp((*at)->key, key, length) == 0) {
			txn = *at;
			if (unlink_it) {
				*at = txn->next;
				table->memory -= txn->size;
			}
			break;
		}
	}
	free(key);
	return txn;
}

static void
txn_spill(struct txn_table *table, struct txn *txn)
{
	const char *dir = getenv("TMPDIR");
	size_t offset;
	int fd;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	if (asprintf(&txn->spill_path, "%s/oplog-apply-txn-XXXXXX", dir) < 0)
		die(EXIT_DIFFERENT, "out of memory");
	fd = mkstemp(txn->spill_path);
	if (fd < 0)
		die(EXIT_DIFFERENT, "cannot create a spill file in %s: %s", dir, strerror(errno));
	close(fd);
	txn->spill = stream_create(txn->spill_path, 0, false);
	if (txn->spill == NULL)
		die(EXIT_DIFFERENT, "%s: cannot write the held transaction", txn->spill_path);
	for (offset = 0; offset < txn->used;) {
		uint32_t length;

		memcpy(&length, txn->frames + offset, sizeof(length));
		length = BSON_UINT32_FROM_LE(length);
		if (!stream_write_raw(txn->spill, txn->frames + offset, length))
			die(EXIT_DIFFERENT, "%s: cannot write the held transaction", txn->spill_path);
		offset += length;
	}
	table->memory -= txn->size;
	free(txn->frames);
	txn->frames = NULL;
	txn->used = txn->size = 0;
}

void
txn_hold(struct txn_table *table, const struct op_view *view, timestamp_t floor)
{
	struct txn *txn = txn_find(table, view, false);
	const bson_t *entry = view->entry;

	if (txn == NULL) {
		txn = xcalloc(1, sizeof(*txn));
		txn->key = txn_key(view, &txn->key_length);
		txn->floor = floor;
		txn->first_previous = view->previous;
		txn->next = table->open;
		table->open = txn;
	}
	if (txn->spill == NULL && table->memory + entry->len > table->memory_max)
		txn_spill(table, txn);
	if (txn->spill != NULL) {
		if (!stream_write(txn->spill, entry))
			die(EXIT_DIFFERENT, "%s: cannot write the held transaction", txn->spill_path);
		return;
	}
	if (txn->used + entry->len > txn->size) {
		size_t size = (txn->used + entry->len) * 2;

		table->memory += size - txn->size;
		txn->frames = xrealloc(txn->frames, size);
		txn->size = size;
	}
	memcpy(txn->frames + txn->used, bson_get_data(entry), entry->len);
	txn->used += entry->len;
}

bool
txn_held(struct txn_table *table, const struct op_view *entry)
{
	return txn_find(table, entry, false) != NULL;
}

/* A held entry is an applyOps: decoded again from the bytes kept, it applies its ops. */
static void
replay_one(struct applier *app, const bson_t *held)
{
	struct op_view view;
	char why[128];

	if (!op_view_decode(held, &view, why, sizeof(why)))
		die(EXIT_DIFFERENT, "held transaction entry: %s", why);
	apply_ops_array(app, &view, 1);
}

static void
replay_memory(struct txn *txn, struct applier *app)
{
	size_t offset;

	for (offset = 0; offset < txn->used;) {
		uint32_t length;
		bson_t held;

		memcpy(&length, txn->frames + offset, sizeof(length));
		length = BSON_UINT32_FROM_LE(length);
		if (!bson_init_static(&held, txn->frames + offset, length))
			die(EXIT_DIFFERENT, "held transaction entry corrupt in memory");
		replay_one(app, &held);
		offset += length;
	}
}

static void
replay_spill(struct txn *txn, struct applier *app)
{
	stream_reader *reader;
	const bson_t *held;
	int status;

	if (!stream_finish(txn->spill))
		die(EXIT_DIFFERENT, "%s: cannot write the held transaction", txn->spill_path);
	txn->spill = NULL;
	reader = stream_open(txn->spill_path);
	if (reader == NULL)
		die(EXIT_DIFFERENT, "%s: cannot read the held transaction back", txn->spill_path);
	while ((status = stream_next(reader, &held)) == STREAM_ENTRY)
		replay_one(app, held);
	if (status != STREAM_END)
		die(EXIT_DIFFERENT, "%s", stream_error(reader));
	stream_close(reader);
}

void
txn_commit(struct txn_table *table, const struct op_view *entry, struct applier *app)
{
	struct txn *txn = txn_find(table, entry, true);

	if (txn == NULL)
		return;
	if (txn->spill_path != NULL)
		replay_spill(txn, app);
	else
		replay_memory(txn, app);
	txn_free(txn);
}

void
txn_discard(struct txn_table *table, const struct op_view *entry)
{
	struct txn *txn = txn_find(table, entry, true);

	if (txn != NULL)
		txn_free(txn);
}

bool
txn_floor(const struct txn_table *table, timestamp_t *floor)
{
	const struct txn *txn;
	bool any = false;

	for (txn = table->open; txn != NULL; txn = txn->next) {
		if (!any || ts_compare(txn->floor, *floor) < 0)
			*floor = txn->floor;
		any = true;
	}
	return any;
}

size_t
txn_open_count(const struct txn_table *table)
{
	const struct txn *txn;
	size_t n = 0;

	for (txn = table->open; txn != NULL; txn = txn->next)
		n++;
	return n;
}

static bool
ts_is_zero(timestamp_t ts)
{
	return ts.t == 0 && ts.i == 0;
}

/*
 * A commit whose chain goes back to previous, a link the stream did not
 * hold: refused, unless the --resume checkpoint is at or after that link
 * (a checkpoint never passes the first entry of a transaction still open,
 * so the transaction was whole and applied when it was written).
 */
static void
require_whole(struct applier *app, const struct op_view *entry, timestamp_t previous)
{
	char name[512], at[32];

	if (ts_compare(previous, app->resumed_ts) <= 0)
		return;
	entry_txn_name(entry->entry, name, sizeof(name));
	entry_die(app, EXIT_HISTORY_LOST, "transaction lsid %s began before this stream (its link "
	    "at %s is not in it): refusing to apply it in part; capture from before its first entry",
	    name[0] != '\0' ? name : "{} txnNumber 0", ts_format(previous, at, sizeof(at)));
}

/* Commit entry's held transaction, if any; false when none is held. */
static bool
commit_held(struct applier *app, const struct op_view *entry)
{
	struct txn *txn = txn_find(app->txns, entry, false);

	if (txn == NULL)
		return false;
	if (!ts_is_zero(txn->first_previous))
		require_whole(app, entry, txn->first_previous);
	applier_flush(app);	/* a commit is a barrier */
	txn_commit(app->txns, entry, app);
	return true;
}

bool
txn_apply_entry(struct applier *app, const struct op_view *entry)
{
	switch (entry->command_kind) {
	case CMD_APPLY_OPS:
		if (entry->partial_txn || entry->prepare) {
			txn_hold(app->txns, entry, app->done_ts);
			return true;
		}
		/* Batched retryable writes (multiOpType) chain prevOpTime too: not a transaction. */
		if (!commit_held(app, entry) && !ts_is_zero(entry->previous) && !entry->multi_op_type)
			require_whole(app, entry, entry->previous);
		apply_ops_array(app, entry, 1);
		return true;
	case CMD_COMMIT:
		if (!commit_held(app, entry)) {
			/* Its prepare is not in the stream. */
			require_whole(app, entry,
			    ts_is_zero(entry->previous) ? entry->ts : entry->previous);
			app->count.skipped++;
		}
		return true;
	case CMD_ABORT:
		txn_discard(app->txns, entry);
		app->count.skipped++;
		return true;
	default:
		return false;
	}
}
