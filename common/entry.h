/*
 * entry.h - the oplog entry model: timestamps, field accessors, stream
 * markers, and the namespaces a command touches.
 *
 * Accessors never fail: a field that is missing or of the wrong type
 * reads as empty ("" or a zero timestamp), so callers test one thing.
 */
#ifndef OPLOGKIT_ENTRY_H
#define OPLOGKIT_ENTRY_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	uint32_t t;	/* seconds */
	uint32_t i;	/* ordinal within the second */
} timestamp_t;

/*
 * How far, in seconds, an entry's ts can trail the newest one already
 * visible in a server's oplog. FerretDB takes ts before it inserts the
 * entry, so concurrent writers race; readers look back this far and
 * appliers resuming from a checkpoint replay this far back.
 */
#define OPLOG_LATE_WINDOW_S 2

/* -1, 0, 1 as a is before, equal to, after b. */
int ts_compare(timestamp_t a, timestamp_t b);

/* Parse "T", "T,I", "T.I" or {"$timestamp":{"t":T,"i":I}}. */
bool ts_parse(const char *text, timestamp_t *out);

/* Format as "T,I" into buf (at least 24 bytes). Returns buf. */
char *ts_format(timestamp_t ts, char *buf, size_t size);

/* The entry's ts (zero when absent). */
timestamp_t entry_ts(const bson_t *entry);

/* The entry's op ("" when absent), ns ("" when absent). */
const char *entry_op(const bson_t *entry);
const char *entry_ns(const bson_t *entry);

/* Whether a boolean field of the entry is present and true (partialTxn, fromMigrate, ...). */
bool entry_flag(const bson_t *entry, const char *field);

/* Borrow the document field o or o2 into *out (false when absent). */
bool entry_object(const bson_t *entry, const char *field, bson_t *out);

/* field of doc as a count: a number >= 0, truncated; false when absent, not a number, or < 0. */
bool entry_count(const bson_t *doc, const char *field, uint64_t *out);

/* For op "c": the command name, the first key of o ("" otherwise). */
const char *entry_command(const bson_t *entry);

/*
 * A transaction entry's lsid (relaxed Extended JSON) and txnNumber, as
 * "LSID txnNumber N", into buf, for messages; "" without an lsid.
 */
void entry_txn_name(const bson_t *entry, char *buf, size_t size);

/*
 * Stream markers are no-op entries (op "n", ns "") whose o.msg says what
 * they are. The header opens a stream, the trailer closes it cleanly.
 */
#define MARKER_HEADER_MSG "oplogkit stream"
#define MARKER_TRAILER_MSG "oplogkit end"

/* kind: "oplog" or "snapshot"; source: a URI already masked. */
void marker_header(bson_t *out, const char *kind, const char *source, timestamp_t t0);
void marker_trailer(bson_t *out, uint64_t count, timestamp_t last);

bool entry_is_header(const bson_t *entry);
bool entry_is_trailer(const bson_t *entry);

/* A header's kind ("oplog", "snapshot", ...); "" for any other entry. */
const char *entry_stream_kind(const bson_t *entry);

/*
 * The collection namespaces a command entry acts on, as DESIGN.md lists
 * them: create/drop/collMod/createIndexes/commitIndexBuild/startIndexBuild/
 * abortIndexBuild/dropIndexes/deleteIndexes name a collection of the
 * entry's db in o; renameCollection names from (o.renameCollection) and to
 * (o.to); dropDatabase names the whole db as "db.*" ... callers match
 * whatever the entry says. Fills up to two namespaces into ns[0..1]
 * (each at most size bytes) and returns how many, 0 for a command with
 * no collection (applyOps, commitTransaction, ...).
 */
int command_namespaces(const bson_t *entry, char ns[2][256]);

/* The database part of a namespace, copied into buf. */
void ns_database(const char *ns, char *buf, size_t size);

#endif
