/*
 * diff-internal.h - what the pieces of the $v:2 diff code share; not a
 * contract for anyone else (diff.h is that).
 *
 *   diff-read.c      the error context, and readers for a diff's parts:
 *                    its sections as a table of changes, an array diff's
 *                    entries, a b entry's {o, d}
 *   diff-validate.c  diff_validate, diff_from_oplog: the whole-diff check
 *   diff-apply.c     diff_apply: a diff meets a document, as mongod does
 *   diff-update.c    diff_to_update: a diff said as $set/$unset + a filter
 *
 * Every entry point checks the whole diff (diff_check_bson, then
 * diff_validate_object) before anything reads it for real, so the readers
 * may trust its shape; they still check what they read.
 */
#ifndef OPLOGKIT_DIFF_INTERNAL_H
#define OPLOGKIT_DIFF_INTERNAL_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diff.h"

/* Nesting accepted in the documents themselves before libbson walks them. */
#define MAX_BSON_NESTING	1024
/* An array element costs at least 3 bytes, so no index past this fits a document. */
#define MAX_INDEX		((uint32_t)(DIFF_MAX_DOCUMENT / 3))

/* Sections of a document diff, in the only order they may appear. */
enum kind { KIND_DELETE = 1, KIND_UPDATE, KIND_INSERT, KIND_BINARY, KIND_SUBDIFF };

/* One field a document diff names; the value is found again by offset. */
struct change {
	const char *name;
	const uint8_t *container;	/* the document holding the element */
	uint32_t container_len;
	uint32_t offset;		/* of the element in container */
	uint32_t keylen;		/* of the element's own key */
	uint32_t namelen;
	uint8_t kind;
	bool done;			/* a u field written in place: not appended */
};

struct table {
	struct change *changes;		/* in diff order */
	struct change **sorted;		/* by name, for lookup */
	size_t count;
};

/* An array diff being read: after a: true and l, the u<idx>/s<idx> entries. */
struct array_reader {
	bson_iter_t iter;
	uint32_t size;			/* l, when has_size */
	uint32_t last;			/* index of the previous entry, when any */
	bool has_size;
	bool any;
};

struct array_mod {
	bson_iter_t value;
	uint32_t index;
	bool is_update;
};

/*
 * A b entry patches the bytes of a BinData field (MongoDB 8.0 writes them
 * for time-series bucket columns): {o: offset, d: BinData}. mongod keeps
 * the first o bytes of the field, appends d's bytes after them (dropping
 * whatever followed) and keeps the field's own subtype; d's subtype is
 * ignored. mongod reads o with getIntField (any number, cut to an int):
 * here only a number that converts exactly is taken, and anything else in
 * the entry is refused by name rather than guessed at.
 */
struct patch {
	uint32_t offset;
	const uint8_t *data;
	uint32_t len;
};

/* One call's state: where the error goes, where in the diff it is, what it wrote. */
struct ctx {
	char *errbuf;
	size_t errsize;
	size_t written;			/* bytes appended to the result so far */
	int code;			/* DIFF_ERROR_* of the failure */
	bool failed;
	size_t pathlen;
	char path[512];			/* where in the diff, for messages */
};

/* Start a call: no failure yet, errbuf (may be NULL) emptied. */
void diff_ctx_init(struct ctx *ctx, char *errbuf, size_t errsize);

/*
 * Record the first failure, with its DIFF_ERROR_* code and a message that
 * names the path; always returns false. fail: a malformed diff (or a
 * result too large); unsupported: valid, but this code does not handle
 * it; inexact: valid, but $set/$unset cannot say it exactly.
 */
bool diff_fail(struct ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define fail(ctx, ...)		diff_fail((ctx), DIFF_ERROR_MALFORMED, __VA_ARGS__)
#define unsupported(ctx, ...)	diff_fail((ctx), DIFF_ERROR_UNSUPPORTED, __VA_ARGS__)
#define inexact(ctx, ...)	diff_fail((ctx), DIFF_ERROR_INEXACT, __VA_ARGS__)

/* Append ".key" to the message path; returns the length diff_path_pop goes back to. */
size_t diff_path_push(struct ctx *ctx, const char *key, uint32_t keylen);
void diff_path_pop(struct ctx *ctx, size_t old);

/* Check a whole document (what: "document" or "diff", for the message): BSON, nesting bounded. */
bool diff_check_bson(struct ctx *ctx, const bson_t *bson, const char *what);

/*
 * Read a document diff into a table: its sections checked (non-empty, d u
 * i b s in order), its changes in order, and by name with no name twice.
 * The caller frees t with diff_table_free, whatever this returns.
 */
bool diff_table_build(struct ctx *ctx, const uint8_t *data, uint32_t len, struct table *t);
void diff_table_free(struct table *t);
/* The change naming this field, or NULL. */
struct change *diff_table_find(const struct table *t, const char *name, uint32_t namelen);
/* Position it on the change's element (the sub-diff, for s). */
bool diff_change_value(struct ctx *ctx, const struct change *c, bson_iter_t *it);

/* mongod's rule: a sub-diff is an array diff when its first field is named a. */
bool diff_is_array(const uint8_t *data, uint32_t len);
/* Read the header of an array diff: a: true, then an optional l: N. */
bool diff_array_open(struct ctx *ctx, const uint8_t *data, uint32_t len, struct array_reader *r);
/* The next u<idx> or s<idx> of an array diff: 1, 0 at the end, -1 on a bad entry. */
int diff_array_next(struct ctx *ctx, struct array_reader *r, struct array_mod *mod);

/* Read and check a b entry's value: exactly o and d, each once. */
bool diff_patch_read(struct ctx *ctx, const bson_iter_t *entry, struct patch *p);
/* A value's type, with its article, for messages. */
const char *diff_type_name(bson_type_t type);

/* Check a document diff whole, sub-diffs and b entries included (depth: its nesting). */
bool diff_validate_object(struct ctx *ctx, const uint8_t *data, uint32_t len, int depth);

#endif
