/*
 * extjson.h - Extended JSON beyond what libbson's writer says: the exact
 * text of MongoDB's bsondump, and relaxed JSON that jq cannot round.
 *
 * bsondump (mongo-tools, Go driver v2) writes canonical Extended JSON v2
 * without spaces, doubles in their shortest round-trip form ("17.76",
 * "1.0", "1E+21"), strings escaped as Go escapes them. extjson_bsondump
 * gives the same bytes, so `diff` between the two tools' output works.
 * Kept in common/ (one user, oplog-show) so the unit test and the fuzz
 * harness can hold it to bsondump's rules alone.
 */
#ifndef OPLOGKIT_EXTJSON_H
#define OPLOGKIT_EXTJSON_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * doc as bsondump prints it, one line without its newline, *length bytes
 * (a DBPointer's namespace goes out raw, NUL bytes too, as bsondump writes
 * it). Every string returned here is freed with bson_free, as libbson's
 * own. NULL when doc is corrupt (libbson's iterator stops early).
 * *left_out (if not NULL) says bsondump prints nothing for doc: it reads
 * each line back and leaves out one it cannot read, nested too deep (see
 * below) or with a DBPointer namespace that breaks its JSON string.
 */
char *extjson_bsondump(const bson_t *doc, size_t *length, bool *left_out);

/*
 * bsondump reads each line back before printing it, and prints nothing for
 * a document whose line nests objects deeper than this (the top level, and
 * each {"$numberInt": ...} wrapper, count; arrays do not).
 */
#define EXTJSON_BSONDUMP_DEPTH	200

/* How deep objects nest in json (len bytes), as bsondump's reader counts them. */
int extjson_depth(const char *json, size_t len);

/*
 * json (as extjson_bsondump writes it) indented as bsondump --pretty does
 * (Go's json.Indent with a tab): a newline and the depth in tabs after
 * each opening bracket and comma, ": " after a key, "{}" and "[]" kept
 * whole.
 */
char *extjson_indent(const char *json, size_t len, size_t *length);

/*
 * The same with unit ("  ") for each level instead of a tab, for any JSON:
 * spaces outside strings (libbson writes { "a" : 1 }) are dropped first,
 * so its "{ }" comes out "{}" too. Free with bson_free.
 */
char *extjson_indent_by(const char *json, size_t len, size_t *length, const char *unit);

/*
 * The shortest text that reads back as d, formatted as Go's
 * strconv.FormatFloat(d, 'G', -1, 64) and then bsondump ("1.0" for whole
 * numbers, "Infinity", "NaN"). buf holds at least 32 bytes.
 */
void extjson_double(double d, char *buf, size_t size);

/*
 * Relaxed Extended JSON as libbson writes it, except that an int64 a
 * double cannot hold exactly (beyond +-2^53, where jq and JavaScript
 * round) keeps its canonical form {"$numberLong": "..."}. NULL when doc
 * cannot be shown (libbson's rules: a string that is not UTF-8).
 */
char *extjson_relaxed(const bson_t *doc, size_t *length);

#endif
