/*
 * checkpoint.h - how far oplog-apply got, kept on the target: the
 * checkpoint {_id: NAME, ts, count, wall} of oplogkit.checkpoints
 * (checkpoint.c), and the lease that lets one applier at a time hold
 * NAME (lease.c).
 *
 * Private to oplog-apply.
 */
#ifndef OPLOGKIT_CHECKPOINT_H
#define OPLOGKIT_CHECKPOINT_H

#include "apply.h"

/* checkpoint.c */

/* Entries applied in this run, inner ops included. */
uint64_t counters_applied(const struct counters *count);

/* The checkpoint's ts into *ts and its count into app->applied_total; zero when none yet. */
void checkpoint_read(struct applier *app, timestamp_t *ts);

/*
 * Move the checkpoint to ts when ts is past app->saved_ts (a run that
 * starts behind it replays without moving it back). The write holds only
 * while the stored ts is not past ts: one that would move it back exits
 * EXIT_LEASE_HELD; EXIT_SERVER when the server fails for good.
 */
void checkpoint_advance(struct applier *app, timestamp_t ts);

/* lease.c */

/*
 * Hold name for this process, connecting to uri itself, and renew the
 * lease every lease_ms / 3 from a thread until lease_release (also run
 * at exit). Exits EXIT_LEASE_HELD naming the holder when another applier
 * holds it and its lease has not expired (a holder of this host that is
 * gone, a zombie, or whose pid runs another program does not count).
 */
void lease_take(const char *uri, const char *tls_ca_file, const char *name, long lease_ms);

/* Exits EXIT_LEASE_HELD when the lease was lost or went unrenewed for its length. */
void lease_check(void);

/* Stop renewing and let the next applier take the name at once. */
void lease_release(void);

#endif
