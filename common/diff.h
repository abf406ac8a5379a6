/*
 * diff.h - MongoDB's $v:2 update diff ("o: {$v: 2, diff: D}"), applied in
 * C exactly as mongod's document_diff_applier does, and translated into
 * $set/$unset where that gives the very same document, field order included.
 *
 * A diff is untrusted input: every function checks the whole diff first
 * (sections, their order, duplicate names, array indexes, nesting depth)
 * and bounds the result at 16 MiB, so a hostile index never becomes a
 * giant allocation.
 *
 * D is a document of sections, in this order: d {field: false} deletes,
 * u {field: value} sets (in place if present, else appended), i {field:
 * value} inserts (appended), b {field: {o: offset, d: BinData}} patches the
 * bytes of a BinData field (MongoDB 8.0's time-series bucket columns: keep
 * the first o bytes, then d's; the field keeps its subtype and its place;
 * an o past the value's end, or a missing field, changes nothing), then
 * s<field>: D' sub-diffs. D' is
 * an array diff when its first field is a: true; then l: N resizes (cut, or
 * pad with null), u<idx>: value sets an element (padding with null) and
 * s<idx>: D'' diffs an element.
 *
 * For an applier, per $v:2 entry: diff_from_oplog(o, &d); if
 * diff_to_update(&d, &update, &filter, &error), run update on {_id, ...filter};
 * when that matches nothing, or diff_to_update says DIFF_ERROR_INEXACT,
 * read the document (missing: count and skip), diff_apply, replace it.
 * DIFF_ERROR_MALFORMED and DIFF_ERROR_UNSUPPORTED mean a bad entry. A diff
 * with a b entry never translates (DIFF_ERROR_INEXACT): its result keeps
 * bytes of the old value.
 * The translation's order rules are mongod's (the destination DESIGN.md
 * targets); another server's $set may order new fields differently.
 */
#ifndef OPLOGKIT_DIFF_H
#define OPLOGKIT_DIFF_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

/* bson_error_t domain and codes of diff_to_update. */
#define DIFF_ERROR_DOMAIN	0x64696666	/* "diff" */
#define DIFF_ERROR_MALFORMED	1	/* the diff is not a valid $v:2 diff */
#define DIFF_ERROR_INEXACT	2	/* valid, but $set/$unset cannot say it exactly */
#define DIFF_ERROR_UNSUPPORTED	3	/* valid, but this code does not apply it (a b entry of subtype 2) */

/* The largest document a diff may produce (MongoDB's BSON user limit). */
#define DIFF_MAX_DOCUMENT	(16 * 1024 * 1024)

/* Deepest diff nesting accepted (mongod's documents nest at most 100 deep + slack). */
#define DIFF_MAX_DEPTH		200

/*
 * Whether the o of an update entry is the $v:2 form ({$v: 2, diff: D}).
 * If so, points *diff at D: a read-only view into o, valid while o lives
 * (do not bson_destroy it).
 */
bool diff_from_oplog(const bson_t *o, bson_t *diff);

/* Check a whole diff. False with a message naming the path on a malformed one. */
bool diff_validate(const bson_t *diff, char *errbuf, size_t errsize);

/*
 * Apply diff to doc into out, as mongod would: unchanged and u-updated
 * fields keep their place; u fields that were missing, then i fields, are
 * appended in the order listed (an i field already present moves to the
 * end, as mongod does when it checks for existence; without the check it
 * would write the field twice); a sub-diff of a
 * missing field does nothing; a sub-diff whose field has the wrong type
 * (object vs array vs scalar) sets it to null, as does an array element
 * sub-diff past the end; a b entry patches a BinData field as above. out
 * is always initialized (empty on failure); the caller destroys it. False
 * with a message on a malformed diff, a b entry whose field holds no
 * BinData (mongod's applier fails the entry too) or BinData of subtype 2,
 * or a result over DIFF_MAX_DOCUMENT.
 */
bool diff_apply(const bson_t *doc, const bson_t *diff, bson_t *out, char *errbuf, size_t errsize);

/*
 * Translate diff into an update {$set: {...}, $unset: {...}} with dotted
 * paths, and *filter into the conditions under which that update gives
 * exactly what diff_apply gives: each field a sub-diff descends into is
 * an object (or an array, for an array diff), and each i field is absent.
 * Those hold on the pre-image MongoDB computed the diff from; when the
 * caller's update, with filter added to its {_id} query, matches nothing,
 * the document is not in that shape (a replay over a newer document):
 * read it, diff_apply, replace.
 *
 * filter may be NULL: then only diffs that need no condition translate.
 *
 * False, with error->code DIFF_ERROR_INEXACT, when it cannot be said
 * exactly: l (array resize), an element sub-diff s<idx>, a field name
 * (in the diff or inside a value it sets) with '.', a leading '$' or
 * empty, anything touching _id, new fields at one level whose listed order
 * is not mongod's sorted order (mongod appends new $set fields sorted by
 * name, numbers by value since 4.4: both orders must agree), an index past
 * 1000000 (mongod pads at most 1500000), a b entry, or a diff that
 * changes nothing. DIFF_ERROR_MALFORMED for a bad diff,
 * DIFF_ERROR_UNSUPPORTED for a b entry of subtype 2.
 * update and filter are always initialized (empty on failure); the caller
 * destroys them. error may be NULL.
 */
bool diff_to_update(const bson_t *diff, bson_t *update, bson_t *filter, bson_error_t *error);

#endif
