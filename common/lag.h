/*
 * lag.h - how far the target is behind the source: the source's newest
 * oplog ts against the checkpoint oplog-apply keeps on the target, the
 * document {_id: NAME, ts, count, wall} of oplogkit.checkpoints.
 * sync-check reports it; entry-switch waits on it.
 */
#ifndef OPLOGKIT_LAG_H
#define OPLOGKIT_LAG_H

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "entry.h"

#define LAG_CHECKPOINT_DB "oplogkit"
#define LAG_CHECKPOINT_COLLECTION "checkpoints"

struct lag {
	timestamp_t newest;	/* the source's newest oplog ts */
	timestamp_t checkpoint;	/* the target's checkpoint ts (zero without one) */
	bool has_checkpoint;
	long seconds;		/* the age now of the first entry after the checkpoint (the
				 * oldest change not applied); 0 once the checkpoint is there */
};

/*
 * The ts of checkpoint name on target. *found is false (and the call
 * true) when there is no such checkpoint, or it has no Timestamp ts.
 */
bool lag_checkpoint(mongoc_client_t *target, const char *name, timestamp_t *ts,
    bool *found, bson_error_t *error);

/* Read both ends into lag. False with error set when a server fails or
 * the source has no oplog. */
bool lag_measure(mongoc_client_t *source, mongoc_client_t *target, const char *name,
    struct lag *lag, bson_error_t *error);

/* Whether the target's checkpoint has reached (>=) the source's newest ts. */
bool lag_caught_up(const struct lag *lag);

/* Whether the lag is at most max_ms; 0 means caught up (ts has whole seconds). */
bool lag_within(const struct lag *lag, long max_ms);

/*
 * The ts of the first entry of the source's oplog after ts: the oldest
 * change not yet applied. *found is false (and the call true) when there
 * is none.
 */
bool lag_first_after(mongoc_client_t *source, timestamp_t ts, timestamp_t *first, bool *found,
    bson_error_t *error);

/* The same, of the entries after ts that also match the conditions in also. */
bool lag_first_matching(mongoc_client_t *source, timestamp_t ts, const bson_t *also,
    timestamp_t *first, bool *found, bson_error_t *error);

/* How many entries of the source's oplog come after ts. */
bool lag_entries_after(mongoc_client_t *source, timestamp_t ts, int64_t *count,
    bson_error_t *error);

#endif
