/*
 * wire.c - the little of the MongoDB wire protocol entry-proxy reads:
 * message headers, OP_MSG flags, a request's command name, the cursor id
 * of a reply, and the error replies the proxy writes itself.
 *
 * The proxy forwards bytes; it parses only what decides where they go.
 * Requests are small and inspected whole; replies may be 48 MB and pass
 * in pieces, so their cursor id is found by a streaming reader.
 */
#include <string.h>

#include <bson/bson.h>

#include "proxy.h"

uint32_t
wire_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t
wire_le64(const unsigned char *p)
{
	return (int64_t)((uint64_t)wire_le32(p) | (uint64_t)wire_le32(p + 4) << 32);
}

/*
 * The OP_MSG body (the kind 0 section) when it is whole within the size
 * bytes at msg. Kind 1 sections before it are skipped by their length.
 */
static bool
msg_body(const unsigned char *msg, size_t size, uint32_t length, bson_t *body)
{
	size_t at = WIRE_HEADER + 4, end = size < length ? size : length;
	uint32_t section, doc;

	while (at + 5 <= end) {
		if (msg[at] == 1) {
			section = wire_le32(msg + at + 1);
			if (section < 4 || section > end - at - 1)
				return false;
			at += 1 + section;
			continue;
		}
		if (msg[at] != 0)
			return false;
		doc = wire_le32(msg + at + 1);
		if (doc < 5 || doc > end - at - 1)
			return false;
		return bson_init_static(body, msg + at + 1, doc);
	}
	return false;
}

/* The OP_QUERY query document, and whether the query is a command. */
static bool
query_body(const unsigned char *msg, size_t size, uint32_t length, bson_t *body)
{
	size_t end = size < length ? size : length, at = WIRE_HEADER + 4;
	const unsigned char *nul;
	uint32_t doc;

	if (at >= end || (nul = memchr(msg + at, 0, end - at)) == NULL)
		return false;
	if ((size_t)(nul - (msg + at)) < 5 || memcmp(nul - 5, ".$cmd", 5) != 0)
		return false;
	at = (size_t)(nul - msg) + 1 + 8;	/* numberToSkip, numberToReturn */
	if (at + 5 > end)
		return false;
	doc = wire_le32(msg + at);
	if (doc < 5 || doc > end - at)
		return false;
	return bson_init_static(body, msg + at, doc);
}

static bool
is_hello(const char *name)
{
	return strcmp(name, "hello") == 0 || strcmp(name, "isMaster") == 0 ||
	    strcmp(name, "ismaster") == 0;
}

static void
inspect_command(const bson_t *body, struct wire_request *request)
{
	bson_iter_t iter;

	if (!bson_iter_init(&iter, body) || !bson_iter_next(&iter))
		return;
	snprintf(request->command, sizeof(request->command), "%s", bson_iter_key(&iter));
	if (strcmp(request->command, "saslStart") == 0 ||
	    strcmp(request->command, "saslContinue") == 0 ||
	    strcmp(request->command, "authenticate") == 0)
		request->auth = true;
	if (strcmp(request->command, "getMore") == 0 && BSON_ITER_HOLDS_INT64(&iter)) {
		request->get_more = true;
		request->cursor_id = bson_iter_int64(&iter);
	}
	if (strcmp(request->command, "killCursors") == 0)
		request->kill_cursors = true;
	/* A hello may carry the first step of authentication. */
	if (is_hello(request->command) && bson_iter_init_find(&iter, body, "speculativeAuthenticate"))
		request->auth = true;
}

void
wire_request_inspect(const unsigned char *msg, size_t size, uint32_t length,
    struct wire_request *request)
{
	bson_t body;

	memset(request, 0, sizeof(*request));
	request->request_id = (int32_t)wire_le32(msg + 4);
	request->opcode = (int32_t)wire_le32(msg + 12);
	switch (request->opcode) {
	case OP_MSG:
		request->expects_reply = size < WIRE_HEADER + 4 ||
		    !(wire_le32(msg + WIRE_HEADER) & MSG_MORE_TO_COME);
		if (msg_body(msg, size, length, &body))
			inspect_command(&body, request);
		break;
	case OP_QUERY:
		request->expects_reply = true;
		if (query_body(msg, size, length, &body))
			inspect_command(&body, request);
		break;
	case OP_GET_MORE:
		request->expects_reply = true;
		request->legacy_cursor = true;
		break;
	case OP_KILL_CURSORS:
		request->legacy_cursor = true;
		break;
	case OP_INSERT: case OP_UPDATE: case OP_DELETE:
		break;
	default:
		/* OP_COMPRESSED hides its flags: assume the usual, one reply. */
		request->expects_reply = true;
		break;
	}
}

bool
wire_kill_ids_known(const unsigned char *msg, uint32_t length,
    bool (*known)(int64_t id, void *arg), void *arg)
{
	bson_iter_t iter, ids;
	bson_t body;
	bool any = false;

	if (!msg_body(msg, length, length, &body) ||
	    !bson_iter_init_find(&iter, &body, "cursors") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
	    !bson_iter_recurse(&iter, &ids))
		return false;
	while (bson_iter_next(&ids)) {
		if (!BSON_ITER_HOLDS_INT64(&ids) || !known(bson_iter_int64(&ids), arg))
			return false;
		any = true;
	}
	return any;
}

/* Frame body as an OP_MSG reply to response_to into out. */
static size_t
wire_reply(unsigned char *out, size_t size, int32_t response_to, const bson_t *body)
{
	static uint32_t next_id = 0x7e000000;	/* away from the drivers' small counters */
	size_t length = WIRE_HEADER + 4 + 1 + body->len;
	uint32_t fields[4];
	int k;

	if (length > size)
		return 0;
	fields[0] = (uint32_t)length;
	fields[1] = next_id++;
	fields[2] = (uint32_t)response_to;
	fields[3] = OP_MSG;
	for (k = 0; k < 4; k++) {
		out[4 * k] = (unsigned char)fields[k];
		out[4 * k + 1] = (unsigned char)(fields[k] >> 8);
		out[4 * k + 2] = (unsigned char)(fields[k] >> 16);
		out[4 * k + 3] = (unsigned char)(fields[k] >> 24);
	}
	memset(out + WIRE_HEADER, 0, 5);	/* flagBits 0, section kind 0 */
	memcpy(out + WIRE_HEADER + 5, bson_get_data(body), body->len);
	return length;
}

size_t
wire_error_reply(unsigned char *out, size_t size, int32_t response_to, int32_t code,
    const char *code_name, const char *errmsg)
{
	bson_t *body = BCON_NEW("ok", BCON_DOUBLE(0), "errmsg", BCON_UTF8(errmsg),
	    "code", BCON_INT32(code), "codeName", BCON_UTF8(code_name));
	size_t length = wire_reply(out, size, response_to, body);

	bson_destroy(body);
	return length;
}

size_t
wire_kill_reply(unsigned char *out, size_t size, const unsigned char *request, uint32_t length,
    int32_t response_to)
{
	bson_t reply = BSON_INITIALIZER, not_found, empty;
	bson_iter_t iter, ids;
	bson_t body;
	size_t written;
	uint32_t k = 0;
	char key[16];
	const char *name;

	BSON_APPEND_ARRAY_BEGIN(&reply, "cursorsKilled", &empty);
	bson_append_array_end(&reply, &empty);
	BSON_APPEND_ARRAY_BEGIN(&reply, "cursorsNotFound", &not_found);
	if (msg_body(request, length, length, &body) &&
	    bson_iter_init_find(&iter, &body, "cursors") && BSON_ITER_HOLDS_ARRAY(&iter) &&
	    bson_iter_recurse(&iter, &ids))
		while (bson_iter_next(&ids))
			if (BSON_ITER_HOLDS_INT64(&ids)) {
				bson_uint32_to_string(k++, &name, key, sizeof(key));
				bson_append_int64(&not_found, name, -1, bson_iter_int64(&ids));
			}
	bson_append_array_end(&reply, &not_found);
	BSON_APPEND_ARRAY_BEGIN(&reply, "cursorsAlive", &empty);
	bson_append_array_end(&reply, &empty);
	BSON_APPEND_ARRAY_BEGIN(&reply, "cursorsUnknown", &empty);
	bson_append_array_end(&reply, &empty);
	BSON_APPEND_DOUBLE(&reply, "ok", 1);
	written = wire_reply(out, size, response_to, &reply);
	bson_destroy(&reply);
	return written;
}

/* ---- the streaming cursor.id reader ---- */

enum { S_KIND, S_TYPE, S_KEY, S_FIELD, S_CSTRING, S_DONE };
enum { FIELD_ID, FIELD_LENGTH };

void
cursor_scan_start(struct cursor_scan *scan)
{
	memset(scan, 0, sizeof(*scan));
	scan->state = S_KIND;
	scan->skip = WIRE_HEADER + 4;	/* header, flagBits */
}

static void
scan_finish(struct cursor_scan *scan, bool found)
{
	scan->state = S_DONE;
	scan->purpose = found ? SCAN_FOUND : SCAN_NONE;
}

static void
scan_want(struct cursor_scan *scan, unsigned bytes, int purpose)
{
	scan->state = S_FIELD;
	scan->field_length = 0;
	scan->field_want = bytes;
	scan->purpose = purpose;
}

/* An element's key is read: descend into cursor, read id, or skip the value. */
static void
scan_value(struct cursor_scan *scan)
{
	static const signed char fixed[256] = {
		[0x01] = 8, [0x06] = 0, [0x07] = 12, [0x08] = 1, [0x09] = 8, [0x0A] = 0,
		[0x10] = 4, [0x11] = 8, [0x12] = 8, [0x13] = 16, [0x7F] = 0, [0xFF] = 0,
	};
	int type = scan->type;

	scan->state = S_TYPE;
	if (scan->level == 0 && type == 0x03 && !scan->key_long &&
	    strcmp(scan->key, "cursor") == 0) {
		scan->level = 1;
		scan->skip = 4;
		return;
	}
	if (scan->level == 1 && type == 0x12 && !scan->key_long && strcmp(scan->key, "id") == 0) {
		scan_want(scan, 8, FIELD_ID);
		return;
	}
	switch (type) {
	case 0x02: case 0x03: case 0x04: case 0x05: case 0x0C: case 0x0D: case 0x0E: case 0x0F:
		scan_want(scan, 4, FIELD_LENGTH);
		return;
	case 0x0B:
		scan->state = S_CSTRING;
		scan->cstrings = 2;
		return;
	case 0x06: case 0x0A: case 0x7F: case 0xFF:
		return;
	}
	if (fixed[type] == 0)
		scan_finish(scan, false);	/* a type we do not know: stop, know nothing */
	else
		scan->skip = (uint32_t)fixed[type];
}

static void
scan_field(struct cursor_scan *scan)
{
	uint32_t length = wire_le32(scan->field);

	if (scan->purpose == FIELD_ID) {
		scan->id = wire_le64(scan->field);
		scan_finish(scan, true);
		return;
	}
	scan->state = S_TYPE;
	if (length > WIRE_MAX) {
		scan_finish(scan, false);
		return;
	}
	switch (scan->type) {
	case 0x03: case 0x04: case 0x0F:
		if (length < 5) {
			scan_finish(scan, false);
			return;
		}
		scan->skip = length - 4;	/* the length counts itself */
		break;
	case 0x05:
		scan->skip = length + 1;	/* subtype */
		break;
	case 0x0C:
		scan->skip = length + 12;	/* the ObjectId after the string */
		break;
	default:
		if (length < 1) {
			scan_finish(scan, false);
			return;
		}
		scan->skip = length;
		break;
	}
}

static void
scan_byte(struct cursor_scan *scan, unsigned char byte)
{
	switch (scan->state) {
	case S_KIND:
		if (byte != 0) {
			scan_finish(scan, false);	/* replies put the body first */
			break;
		}
		scan->state = S_TYPE;
		scan->skip = 4;
		break;
	case S_TYPE:
		if (byte == 0) {
			scan_finish(scan, false);	/* the end of cursor or of the body */
			break;
		}
		scan->type = byte;
		scan->key_length = 0;
		scan->key_long = false;
		scan->state = S_KEY;
		break;
	case S_KEY:
		if (byte == 0) {
			scan->key[scan->key_length] = '\0';
			scan_value(scan);
		} else if (scan->key_length + 1 < sizeof(scan->key)) {
			scan->key[scan->key_length++] = (char)byte;
		} else {
			scan->key_long = true;
		}
		break;
	case S_FIELD:
		scan->field[scan->field_length++] = byte;
		if (scan->field_length == scan->field_want)
			scan_field(scan);
		break;
	case S_CSTRING:
		if (byte == 0 && --scan->cstrings == 0)
			scan->state = S_TYPE;
		break;
	}
}

void
cursor_scan_feed(struct cursor_scan *scan, const unsigned char *bytes, size_t size)
{
	size_t take;

	while (size > 0 && scan->state != S_DONE) {
		if (scan->skip > 0) {
			take = size < scan->skip ? size : scan->skip;
			scan->skip -= (uint32_t)take;
			bytes += take;
			size -= take;
			continue;
		}
		scan_byte(scan, *bytes++);
		size--;
	}
}

int
cursor_scan_result(const struct cursor_scan *scan)
{
	return scan->state == S_DONE ? scan->purpose : SCAN_RUNNING;
}

/* ---- the cursor id set: open addressing, linear probing ---- */

static size_t
id_slot(const struct idset *set, int64_t id)
{
	uint64_t x = (uint64_t)id;

	/* splitmix64's finalizer: FerretDB's ids are sequential. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x & (set->capacity - 1);
}

bool
idset_has(const struct idset *set, int64_t id)
{
	size_t k;

	if (id == 0 || set->capacity == 0)
		return false;
	for (k = id_slot(set, id); set->slots[k] != 0; k = (k + 1) & (set->capacity - 1))
		if (set->slots[k] == id)
			return true;
	return false;
}

static void
idset_grow(struct idset *set)
{
	struct idset bigger = { NULL, set->capacity ? set->capacity * 2 : 64, 0 };
	size_t k;

	bigger.slots = bson_malloc0(bigger.capacity * sizeof(int64_t));
	for (k = 0; k < set->capacity; k++)
		if (set->slots[k] != 0)
			idset_add(&bigger, set->slots[k]);
	bson_free(set->slots);
	*set = bigger;
}

void
idset_add(struct idset *set, int64_t id)
{
	size_t k;

	if (id == 0 || idset_has(set, id))
		return;
	if ((set->count + 1) * 2 > set->capacity)
		idset_grow(set);
	for (k = id_slot(set, id); set->slots[k] != 0; k = (k + 1) & (set->capacity - 1))
		continue;
	set->slots[k] = id;
	set->count++;
}

/* Remove by shifting the rest of the probe run back: no tombstones. */
void
idset_remove(struct idset *set, int64_t id)
{
	size_t hole, k, home, mask = set->capacity - 1;

	if (id == 0 || set->capacity == 0)
		return;
	for (hole = id_slot(set, id); set->slots[hole] != id; hole = (hole + 1) & mask)
		if (set->slots[hole] == 0)
			return;
	set->slots[hole] = 0;
	set->count--;
	for (k = (hole + 1) & mask; set->slots[k] != 0; k = (k + 1) & mask) {
		home = id_slot(set, set->slots[k]);
		/* Move it into the hole unless its home lies cyclically in (hole, k]. */
		if (((k - home) & mask) >= ((k - hole) & mask)) {
			set->slots[hole] = set->slots[k];
			set->slots[k] = 0;
			hole = k;
		}
	}
}

void
idset_clear(struct idset *set)
{
	bson_free(set->slots);
	set->slots = NULL;
	set->capacity = set->count = 0;
}
