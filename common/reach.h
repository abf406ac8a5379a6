/*
 * reach.h - a connection failure in an operator's words.
 *
 * The driver says "No suitable servers found (`serverSelectionTryOnce`
 * set): [connection refused calling hello on '127.0.0.1:1']"; an operator
 * wants "cannot reach 127.0.0.1:1 (connection refused)". These turn the
 * one into the other, and durations into the form --retry-for takes.
 */
#ifndef OPLOGKIT_REACH_H
#define OPLOGKIT_REACH_H

#include <bson/bson.h>
#include <stddef.h>

/*
 * Describe error into out. When the driver names the hosts it tried:
 * "cannot reach H1, H2 (REASON)" or "cannot reach H1 (R1), H2 (R2)".
 * Else a network or selection error is "cannot reach HOSTS (MESSAGE)",
 * and any other error "HOSTS: MESSAGE", with hosts (NULL: "the server")
 * standing for the server the caller talked to. True when the driver
 * named hosts and reasons (the more telling kind of message).
 */
bool reach_describe(const bson_error_t *error, const char *hosts, char *out, size_t size);

/* ms as people write it: "250ms", "1.5s", "5s", "5m", "4m30s", "1h2m" (rounded down). */
void reach_duration(long ms, char *out, size_t size);

#endif
