#!/bin/sh
# replay-mongodump-oplog.sh - restore a `mongodump --oplog` directory into a
# server, offline, as `mongorestore --oplogReplay` would: load the dump,
# then replay the oplog.bson that mongodump captured while it ran, so the
# server ends in the state the source had when the dump finished.
#
#   replay-mongodump-oplog.sh DUMPDIR [URI]
#
# URI defaults to $OPLOGKIT_TARGET_URI; setting that instead of passing URI
# keeps a password out of `ps`. Optional environment:
#   RENAME='db1.*=db2.*'  load and replay the data under another name
#   UNTIL=T[,I]           replay only the entries up to this ts, inclusive
#                         (point-in-time restore; mongorestore's
#                         --oplogLimit is the same, exclusive)
#   NAME=replay           the checkpoint oplog-apply writes on the server,
#                         in oplogkit.checkpoints
#
# Example:
#   mongodump --oplog --out dump/ --uri mongodb://old/
#   OPLOGKIT_TARGET_URI=mongodb://new/ ./replay-mongodump-oplog.sh dump
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: replay-mongodump-oplog.sh DUMPDIR [URI]" >&2
	exit 2
fi
dump=$1
[ $# -lt 2 ] || OPLOGKIT_TARGET_URI=$2
if [ -z "${OPLOGKIT_TARGET_URI:-}" ]; then
	echo "replay-mongodump-oplog.sh: no server: pass URI or set OPLOGKIT_TARGET_URI" >&2
	exit 2
fi
export OPLOGKIT_TARGET_URI
if [ ! -f "$dump/oplog.bson" ]; then
	echo "replay-mongodump-oplog.sh: $dump/oplog.bson: no such file (was the dump taken with --oplog?)" >&2
	exit 2
fi

# 1. The collections of the dump, with their options and indexes.
# snap-import reads the db/coll.bson + coll.metadata.json layout as it is,
# leaves admin.*, config.* and local.* out, and says it skipped oplog.bson.
snap-import ${RENAME:+--rename "$RENAME"} "$dump"

# 2. The oplog, from its first entry. mongodump copies collections while
# writes go on, so the dump may already hold some of these changes: replay
# is idempotent (an insert that finds its document replaces it, a delete of
# a missing document is no error), so applying them again is harmless.
# oplog-filter renames the namespaces, also inside applyOps, and cuts the
# stream at UNTIL; without either it just validates the stream.
#
# sh has no pipefail: keep oplog-filter's status in a file, so a corrupt
# oplog.bson (exit 3) fails the script even though oplog-apply applied the
# good entries before the bad one.
status=$(mktemp "${TMPDIR:-/tmp}/replay.XXXXXX")
trap 'rm -f "$status"' EXIT
{
	st=0
	oplog-filter ${RENAME:+--rename "$RENAME"} ${UNTIL:+--until "$UNTIL"} "$dump/oplog.bson" || st=$?
	echo "$st" >"$status"
} | oplog-apply --name "${NAME:-replay}"
filter_status=$(cat "$status")
if [ "$filter_status" -ne 0 ]; then
	echo "replay-mongodump-oplog.sh: $dump/oplog.bson was replayed only up to the error above" >&2
	exit "$filter_status"
fi
