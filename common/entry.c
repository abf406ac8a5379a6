/*
 * entry.c - the oplog entry model: timestamps, accessors, markers, and
 * the namespaces a command acts on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

int
ts_compare(timestamp_t a, timestamp_t b)
{
	if (a.t != b.t)
		return a.t < b.t ? -1 : 1;
	if (a.i != b.i)
		return a.i < b.i ? -1 : 1;
	return 0;
}

static bool
parse_u32(const char *text, char **end, uint32_t *out)
{
	unsigned long long value;

	if (*text < '0' || *text > '9')
		return false;
	errno = 0;
	value = strtoull(text, end, 10);
	if (errno != 0 || value > UINT32_MAX)
		return false;
	*out = (uint32_t)value;
	return true;
}

static bool
ts_parse_json(const char *text, timestamp_t *out)
{
	bson_t *doc;
	bson_iter_t iter;
	bool found = false;

	doc = bson_new_from_json((const uint8_t *)text, -1, NULL);
	if (doc == NULL)
		return false;
	/* Either {"$timestamp": ...} itself or {"ts": {"$timestamp": ...}}. */
	if (bson_iter_init(&iter, doc) && bson_iter_next(&iter) &&
	    BSON_ITER_HOLDS_TIMESTAMP(&iter)) {
		bson_iter_timestamp(&iter, &out->t, &out->i);
		found = true;
	}
	bson_destroy(doc);
	return found;
}

bool
ts_parse(const char *text, timestamp_t *out)
{
	char *end;
	timestamp_t ts = { 0, 0 };

	if (text == NULL)
		return false;
	if (text[0] == '{') {
		/* libbson parses {"$timestamp":...} only as a field value. */
		char wrapped[512];

		if (strstr(text, "\"$timestamp\"") == NULL)
			return false;
		if (strncmp(text, "{\"$timestamp\"", 13) == 0 || strncmp(text, "{ \"$timestamp\"", 14) == 0) {
			if ((size_t)snprintf(wrapped, sizeof(wrapped), "{\"ts\": %s}", text) >= sizeof(wrapped))
				return false;
			return ts_parse_json(wrapped, out);
		}
		return ts_parse_json(text, out);
	}
	if (!parse_u32(text, &end, &ts.t))
		return false;
	if (*end == ',' || *end == '.' || *end == ':') {
		if (!parse_u32(end + 1, &end, &ts.i))
			return false;
	}
	if (*end != '\0')
		return false;
	*out = ts;
	return true;
}

char *
ts_format(timestamp_t ts, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu32 ",%" PRIu32, ts.t, ts.i);
	return buf;
}

timestamp_t
entry_ts(const bson_t *entry)
{
	timestamp_t ts = { 0, 0 };
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, entry, "ts") && BSON_ITER_HOLDS_TIMESTAMP(&iter))
		bson_iter_timestamp(&iter, &ts.t, &ts.i);
	return ts;
}

static const char *
string_field(const bson_t *entry, const char *field)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, entry, field) && BSON_ITER_HOLDS_UTF8(&iter))
		return bson_iter_utf8(&iter, NULL);
	return "";
}

const char *
entry_op(const bson_t *entry)
{
	return string_field(entry, "op");
}

const char *
entry_ns(const bson_t *entry)
{
	return string_field(entry, "ns");
}

bool
entry_flag(const bson_t *entry, const char *field)
{
	bson_iter_t iter;

	return bson_iter_init_find(&iter, entry, field) && bson_iter_as_bool(&iter);
}

bool
entry_object(const bson_t *entry, const char *field, bson_t *out)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t length;

	if (!bson_iter_init_find(&iter, entry, field) || !BSON_ITER_HOLDS_DOCUMENT(&iter))
		return false;
	bson_iter_document(&iter, &length, &data);
	return bson_init_static(out, data, length);
}

bool
entry_count(const bson_t *doc, const char *field, uint64_t *out)
{
	bson_iter_t iter;
	double value;

	if (!bson_iter_init_find(&iter, doc, field) || !BSON_ITER_HOLDS_NUMBER(&iter))
		return false;
	value = bson_iter_as_double(&iter);
	if (!(value >= 0))
		return false;
	*out = value < 18446744073709551616.0 ? (uint64_t)value : UINT64_MAX;
	return true;
}

const char *
entry_command(const bson_t *entry)
{
	bson_t o;
	bson_iter_t iter;

	if (strcmp(entry_op(entry), "c") != 0 || !entry_object(entry, "o", &o))
		return "";
	if (!bson_iter_init(&iter, &o) || !bson_iter_next(&iter))
		return "";
	return bson_iter_key(&iter);
}

/* A marker's no-op frame up to its o, which holds msg; the caller ends o. */
static void
marker_begin(bson_t *out, bson_t *o, timestamp_t ts, const char *msg)
{
	bson_init(out);
	BSON_APPEND_TIMESTAMP(out, "ts", ts.t, ts.i);
	BSON_APPEND_UTF8(out, "op", "n");
	BSON_APPEND_UTF8(out, "ns", "");
	BSON_APPEND_DOCUMENT_BEGIN(out, "o", o);
	BSON_APPEND_UTF8(o, "msg", msg);
}

void
marker_header(bson_t *out, const char *kind, const char *source, timestamp_t t0)
{
	bson_t o;

	marker_begin(out, &o, t0, MARKER_HEADER_MSG);
	BSON_APPEND_INT32(&o, "version", 1);
	BSON_APPEND_UTF8(&o, "kind", kind);
	BSON_APPEND_UTF8(&o, "source", source != NULL ? source : "");
	BSON_APPEND_TIMESTAMP(&o, "t0", t0.t, t0.i);
	bson_append_document_end(out, &o);
}

void
marker_trailer(bson_t *out, uint64_t count, timestamp_t last)
{
	bson_t o;

	marker_begin(out, &o, last, MARKER_TRAILER_MSG);
	BSON_APPEND_INT64(&o, "count", (int64_t)count);
	BSON_APPEND_TIMESTAMP(&o, "last", last.t, last.i);
	bson_append_document_end(out, &o);
}

static bool
marker_is(const bson_t *entry, const char *msg)
{
	bson_t o;

	if (strcmp(entry_op(entry), "n") != 0 || entry_ns(entry)[0] != '\0')
		return false;
	if (!entry_object(entry, "o", &o))
		return false;
	return strcmp(string_field(&o, "msg"), msg) == 0;
}

bool
entry_is_header(const bson_t *entry)
{
	return marker_is(entry, MARKER_HEADER_MSG);
}

bool
entry_is_trailer(const bson_t *entry)
{
	return marker_is(entry, MARKER_TRAILER_MSG);
}

const char *
entry_stream_kind(const bson_t *entry)
{
	bson_t o;

	if (!entry_is_header(entry) || !entry_object(entry, "o", &o))
		return "";
	return string_field(&o, "kind");
}

void
ns_database(const char *ns, char *buf, size_t size)
{
	const char *dot = strchr(ns, '.');
	size_t length = dot != NULL ? (size_t)(dot - ns) : strlen(ns);

	if (size == 0)
		return;
	if (length >= size)
		length = size - 1;
	memcpy(buf, ns, length);
	buf[length] = '\0';
}

/* Commands whose first field's value is a collection of the entry's db. */
static const char *const collection_commands[] = {
	"create", "drop", "collMod", "createIndexes", "commitIndexBuild",
	"startIndexBuild", "abortIndexBuild", "dropIndexes", "deleteIndexes", "emptycapped",
	"convertToCapped",
	NULL,
};

static bool
is_collection_command(const char *name)
{
	const char *const *c;

	for (c = collection_commands; *c != NULL; c++)
		if (strcmp(*c, name) == 0)
			return true;
	return false;
}

static bool
copy_ns(char *out, const char *db, const char *coll)
{
	int n;

	if (coll == NULL)
		n = snprintf(out, 256, "%s", db);
	else
		n = snprintf(out, 256, "%s.%s", db, coll);
	return n >= 0 && n < 256;
}

int
command_namespaces(const bson_t *entry, char ns[2][256])
{
	const char *name = entry_command(entry);
	char db[256];
	bson_t o;

	if (name[0] == '\0' || !entry_object(entry, "o", &o))
		return 0;
	ns_database(entry_ns(entry), db, sizeof(db));
	if (is_collection_command(name)) {
		const char *coll = string_field(&o, name);

		if (coll[0] == '\0' || !copy_ns(ns[0], db, coll))
			return 0;
		return 1;
	}
	if (strcmp(name, "renameCollection") == 0) {
		if (!copy_ns(ns[0], string_field(&o, "renameCollection"), NULL) ||
		    !copy_ns(ns[1], string_field(&o, "to"), NULL))
			return 0;
		return 2;
	}
	if (strcmp(name, "dropDatabase") == 0) {
		if (!copy_ns(ns[0], db, "*"))
			return 0;
		return 1;
	}
	return 0;
}

void
entry_txn_name(const bson_t *entry, char *buf, size_t size)
{
	bson_iter_t iter;
	char *lsid = NULL;
	int64_t number = 0;

	if (size > 0)
		buf[0] = '\0';
	if (bson_iter_init_find(&iter, entry, "lsid") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
		const uint8_t *data;
		uint32_t length;
		bson_t doc;

		bson_iter_document(&iter, &length, &data);
		if (bson_init_static(&doc, data, length))
			lsid = bson_as_relaxed_extended_json(&doc, NULL);
	}
	if (bson_iter_init_find(&iter, entry, "txnNumber") && BSON_ITER_HOLDS_NUMBER(&iter))
		number = bson_iter_as_int64(&iter);
	if (lsid != NULL)
		snprintf(buf, size, "%s txnNumber %" PRId64, lsid, number);
	bson_free(lsid);
}
