#!/bin/sh
# rename-database.sh - move database FROM to the name TO, on another server
# or the same one, while the application keeps writing to FROM: copy FROM
# as of T0 under the new name, then replay every change made to FROM after
# T0 under the new name too, until you stop it (Ctrl-C or SIGTERM).
#
#   rename-database.sh FROM TO [SOURCE_URI [TARGET_URI]]
#
# URIs default to $OPLOGKIT_SOURCE_URI and $OPLOGKIT_TARGET_URI (TARGET_URI
# to the source: a rename in place, which MongoDB itself cannot do for a
# database). Setting the variables keeps passwords out of `ps`. The replay
# checkpoint is "rename-TO" in oplogkit.checkpoints on the target, so
#   sync-check --lag-only --name rename-TO
# says how far behind TO is. Once the application writes to TO, stop this
# script: the reader writes its trailer, the applier applies everything up
# to it, and the script exits 0.
set -eu

prog=rename-database.sh
if [ $# -lt 2 ] || [ $# -gt 4 ]; then
	echo "usage: $prog FROM TO [SOURCE_URI [TARGET_URI]]" >&2
	exit 2
fi
from=$1
to=$2
[ $# -lt 3 ] || OPLOGKIT_SOURCE_URI=$3
[ $# -lt 4 ] || OPLOGKIT_TARGET_URI=$4
OPLOGKIT_TARGET_URI=${OPLOGKIT_TARGET_URI:-${OPLOGKIT_SOURCE_URI:-}}
if [ -z "${OPLOGKIT_SOURCE_URI:-}" ]; then
	echo "$prog: no source: pass SOURCE_URI or set OPLOGKIT_SOURCE_URI" >&2
	exit 2
fi
export OPLOGKIT_SOURCE_URI OPLOGKIT_TARGET_URI
rename="$from.*=$to.*"

# 1. T0, the newest entry of the source's oplog, before anything is copied.
t0=$(oplog-read --now)
echo "$prog: T0 is $t0" >&2

# 2. The copy of FROM as of about T0, under the new name. No pipefail is
# needed here: snap-import refuses a snapshot stream without the trailer
# snap-export writes last, so a failed export fails the import too.
snap-export --t0 "$t0" --ns "$from.*" | snap-import --rename "$rename"
echo "$prog: $from copied to $to; replaying the changes after $t0" >&2

# 3. The changes after T0, renamed on the way (oplog-filter renames inside
# commands and applyOps too). The copy is fuzzy: documents may already hold
# some of these changes, and replaying them again is harmless.
#
# The reader writes into a named pipe (reader.sh) so that the script knows
# its pid: on SIGTERM (kill PID) only the reader is told to stop; it ends
# the stream with a trailer, and the filter and the applier finish what it
# read.
# Ctrl-C in a terminal reaches the applier too: it stops after its current
# batch and records it in its checkpoint, which is just as clean but may
# leave the last changes the reader had seen unapplied.
. "$(dirname "$0")/reader.sh"
reader_start rename --since "$t0"
oplog-filter --ns "$from.*" --rename "$rename" <"$stream" |
	oplog-apply --name "rename-$to" &
reader_wait $!
[ "$reader_status" -eq 0 ] || exit "$reader_status"
exit "$status"
