/*
 * filter.h - oplog-filter's engine: the streams and their trailers
 * (run.c), the rules for one entry (rules.c), the commands that straddle
 * the selection, renameCollection and dropDatabase (straddle.c), and the
 * entries a rule writes in place of one (rewrite.c).
 * filters/oplog-filter.c is the command line; tests/fuzz/fuzz_filter.c
 * drives filter_stream directly.
 *
 * The engine's state is one struct filter, passed to every function: the
 * configuration (read only), the output and its segment counters, and
 * where we are in the input for messages. Nothing lives at file scope.
 */
#ifndef OPLOGKIT_FILTER_H
#define OPLOGKIT_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "entry.h"
#include "ns.h"
#include "stream.h"

#define NS_MAX 256
#define FILTER_OPS "iudcn"	/* the ops --op takes, in the order of ops[] */

/* What the command line asks for. */
struct filter_config {
	ns_filter *filter;	/* --ns/--exclude/--ns-regex/--rename; owned by the caller */
	bool op_given;		/* --op given: only the ops in ops[] pass */
	bool ops[sizeof(FILTER_OPS) - 1];
	bool have_since, have_until;
	timestamp_t since, until;	/* since exclusive, until inclusive */
	const char *output;	/* NULL: stdout */
	int zstd_level;		/* 0: uncompressed */
};

/* The engine's state: where we are, for messages; the output with its segment counters. */
struct filter {
	const struct filter_config *config;
	bool selecting;		/* some --ns/--exclude/--ns-regex/--rename given */
	bool renaming;
	stream_writer *out;
	const char *name;	/* the input being read */
	uint64_t entry;		/* its entry number */
	uint64_t written;	/* data entries written since the last header */
	bool modified;		/* some entry dropped or rewritten since then */
	uint64_t warnings;
};

/* Where a filtered entry goes: the output stream, or an applyOps array. */
struct sink {
	bson_t *array;		/* NULL: the output stream */
	uint32_t next_index;
};

/* run.c */

/* Add op (one of FILTER_OPS) to --op's list; false when it is not one. */
bool filter_select_op(struct filter_config *config, char op);

/*
 * The whole program past its command line: every file of files (stdin
 * when count is 0) filtered into config->output, which is finished
 * whole even on SIGINT/SIGTERM. Returns die.h's exit status; a corrupt
 * input or a failed write exits on the spot, the valid prefix written.
 */
int filter_run(const struct filter_config *config, char *const files[], int count);

/* A context writing to out (the caller creates and finishes it). */
void filter_init(struct filter *x, const struct filter_config *config, stream_writer *out);

/* One input stream through the rules into x->out; a corrupt stream exits 3. */
void filter_stream(struct filter *x, stream_reader *reader);

/* Write doc to the sink; a failed write or an overflowing applyOps exits. */
void sink_put(struct filter *x, struct sink *sink, const bson_t *doc);

/* A warning, naming the entry, about an entry the destination cannot get exactly right. */
void lossy(struct filter *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit naming the entry whose rewrite outgrew a BSON document. */
void too_large(const struct filter *x) __attribute__((noreturn));

/* rules.c */

/*
 * Whether the entry passes unchanged (the caller copies it). Otherwise
 * the replacement, if any (none, one or several entries), went to sink.
 */
bool filter_entry(struct filter *x, const bson_t *entry, struct sink *sink);

/* straddle.c */

bool filter_rename_collection(struct filter *x, const bson_t *entry, const char ns[2][NS_MAX],
    struct sink *sink);
bool filter_drop_database(struct filter *x, const bson_t *entry, struct sink *sink);

/* rewrite.c: copying a document with some top-level fields replaced or removed */

enum edit_kind { EDIT_UTF8, EDIT_DOCUMENT, EDIT_ARRAY, EDIT_REMOVE };

struct edit {
	const char *key;
	enum edit_kind kind;
	const char *text;
	const bson_t *doc;
};

/* out gets src with edits applied; fields that src lacks are not added. */
void copy_edited(const struct filter *x, const bson_t *src, bson_t *out,
    const struct edit *edits, size_t count);

/* Borrow a document or array field of doc (false when absent). */
bool borrow_field(const bson_t *doc, const char *key, bool array, bson_t *out);

/* A string field of doc, or NULL. */
const char *utf8_field(const bson_t *doc, const char *key);

/* An index spec with its "ns" field (older servers write one) renamed. */
void spec_renamed(const struct filter *x, const bson_t *spec, const char *ns, bson_t *out);

/* Rename ns into out (NS_MAX bytes); false when it stays as it is. */
bool renamed(const struct filter *x, const char *ns, char *out);

/*
 * A collection command (create, drop, collMod, index commands) moved to
 * new_ns: ns becomes "db.$cmd", o's first field the collection, and the
 * index specs' ns fields follow.
 */
void put_command_renamed(struct filter *x, const bson_t *entry, const char *name,
    const char *new_ns, struct sink *sink);

/* The entry turned into a drop of ns (ui and o2 go: they described the old command). */
void put_drop(struct filter *x, const bson_t *entry, const char *ns, struct sink *sink);

#endif
