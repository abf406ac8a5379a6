/*
 * view.c - an entry decoded once into what oplog-apply acts on: the op
 * as an enum, ns, o, o2, the command and the transaction fields. Before,
 * each part found what it needed again by name and string comparison;
 * now the dispatcher, the batch, the commands and the transactions read
 * the view. The fields read as entry.h's accessors read them: the first
 * of a repeated key, a missing or mistyped one as empty.
 */
#include <stdio.h>
#include <string.h>

#include "apply.h"

#define SYSTEM_INDEXES ".system.indexes"

static enum op_kind
op_kind_of(const char *op)
{
	static const struct { const char *name; enum op_kind kind; } kinds[] = {
		{ "i", OP_INSERT }, { "u", OP_UPDATE }, { "d", OP_DELETE }, { "c", OP_COMMAND },
		{ "n", OP_NOOP }, { "db", OP_DB },
	};
	size_t k;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(op, kinds[k].name) == 0)
			return kinds[k].kind;
	return OP_UNKNOWN;
}

static enum command_kind
command_kind_of(const char *name)
{
	if (name[0] == '\0')
		return CMD_NONE;
	if (strcmp(name, "applyOps") == 0)
		return CMD_APPLY_OPS;
	if (strcmp(name, "commitTransaction") == 0)
		return CMD_COMMIT;
	if (strcmp(name, "abortTransaction") == 0)
		return CMD_ABORT;
	return CMD_OTHER;
}

static bool
borrow_document(bson_iter_t *iter, bson_t *out)
{
	const uint8_t *data;
	uint32_t length;

	if (!BSON_ITER_HOLDS_DOCUMENT(iter))
		return false;
	bson_iter_document(iter, &length, &data);
	return bson_init_static(out, data, length);
}

/* o's first key (the command of a c op), and the transaction flags o carries. */
static void
decode_o(struct op_view *view)
{
	bson_iter_t iter;
	bool first = true, partial = false, prepare = false;

	if (!bson_iter_init(&iter, &view->o))
		return;
	while (bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);

		if (first && view->kind == OP_COMMAND)
			view->command = key;
		first = false;
		if (!partial && strcmp(key, "partialTxn") == 0) {
			partial = true;
			view->partial_txn |= bson_iter_as_bool(&iter);
		} else if (!prepare && strcmp(key, "prepare") == 0) {
			prepare = true;
			view->prepare = bson_iter_as_bool(&iter);
		}
	}
}

bool
op_view_decode(const bson_t *entry, struct op_view *view, char *why, size_t why_size)
{
	bson_iter_t iter;
	unsigned seen = 0;
	bson_t previous;
	size_t length;

	enum { OP = 1, NS = 2, O = 4, O2 = 8, TS = 16, B = 32, MIGRATE = 64, PARTIAL = 128,
		PREVIOUS = 256, LSID = 512, NUMBER = 1024 };

	memset(view, 0, sizeof(*view));
	view->entry = entry;
	view->op = view->ns = view->command = "";
	if (!bson_iter_init(&iter, entry)) {
		snprintf(why, why_size, "entry is corrupt");
		return false;
	}
	/* One pass; only the first of a repeated key counts, as bson_iter_init_find would. */
	while (bson_iter_next(&iter)) {
		const char *key = bson_iter_key(&iter);
		unsigned field = strcmp(key, "op") == 0 ? OP : strcmp(key, "ns") == 0 ? NS :
		    strcmp(key, "o") == 0 ? O : strcmp(key, "o2") == 0 ? O2 :
		    strcmp(key, "ts") == 0 ? TS : strcmp(key, "b") == 0 ? B :
		    strcmp(key, "fromMigrate") == 0 ? MIGRATE : strcmp(key, "partialTxn") == 0 ? PARTIAL :
		    strcmp(key, "prevOpTime") == 0 ? PREVIOUS : strcmp(key, "lsid") == 0 ? LSID :
		    strcmp(key, "txnNumber") == 0 ? NUMBER : 0;

		if (strcmp(key, "multiOpType") == 0)
			view->multi_op_type = true;
		if (field == 0 || (seen & field) != 0)
			continue;
		seen |= field;
		switch (field) {
		case OP:
		case NS:
			if (BSON_ITER_HOLDS_UTF8(&iter))
				*(field == OP ? &view->op : &view->ns) = bson_iter_utf8(&iter, NULL);
			break;
		case O: view->has_o = borrow_document(&iter, &view->o); break;
		case O2: view->has_o2 = borrow_document(&iter, &view->o2); break;
		case TS:
			if (BSON_ITER_HOLDS_TIMESTAMP(&iter))
				bson_iter_timestamp(&iter, &view->ts.t, &view->ts.i);
			break;
		case B: view->upsert = bson_iter_as_bool(&iter); break;
		case MIGRATE: view->from_migrate = bson_iter_as_bool(&iter); break;
		case PARTIAL: view->partial_txn |= bson_iter_as_bool(&iter); break;
		case PREVIOUS:
			if (borrow_document(&iter, &previous))
				view->previous = entry_ts(&previous);
			break;
		case LSID:
			if (BSON_ITER_HOLDS_DOCUMENT(&iter))
				bson_iter_document(&iter, &view->lsid_length, &view->lsid);
			break;
		case NUMBER:
			if (BSON_ITER_HOLDS_NUMBER(&iter))
				view->txn_number = bson_iter_as_int64(&iter);
			break;
		}
	}
	view->kind = op_kind_of(view->op);
	if (view->has_o)
		decode_o(view);
	view->command_kind = command_kind_of(view->command);
	length = strlen(view->ns);
	view->index_insert = view->kind == OP_INSERT && length > strlen(SYSTEM_INDEXES) &&
	    strcmp(view->ns + length - strlen(SYSTEM_INDEXES), SYSTEM_INDEXES) == 0;
	return true;
}
