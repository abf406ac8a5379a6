#!/bin/sh
# ship-over-ssh.sh - replay a source's changes on a server in another
# datacenter that only ssh reaches: the oplog stream, zstd-compressed,
# goes through ssh to oplog-apply on the far side, which keeps a copy of
# it (the spool) and applies it to the server there. Runs until stopped
# (kill PID: the stream ends with its trailer and everything is applied).
#
#   ship-over-ssh.sh HOST [SINCE]
#
# SINCE is where the changes start, exclusive (a ts "T,I", as printed by
# `oplog-read --now`, usually the T0 of a snapshot); default: from now on.
# Environment:
#   OPLOGKIT_SOURCE_URI  the source, read here
#   OPLOGKIT_REMOTE      how to run a command on HOST (default "ssh HOST";
#                        "ssh -p 2222 -i key HOST", or "sh -c" to try it
#                        on one machine); no need for ssh -C, the stream
#                        is compressed already
#   REMOTE_URI_FILE      file on HOST holding the target URI (default: the
#                        remote shell's $OPLOGKIT_TARGET_URI); keeps the
#                        password off both command lines
#   REMOTE_SPOOL         file on HOST to keep the stream in, compressed
#                        (default oplogkit-spool.bson.zst, in the remote
#                        home directory for ssh); `oplog-apply --resume`
#                        replays it again there without the source
#   NAME                 the checkpoint on the target (default "shipped")
set -eu

prog=ship-over-ssh.sh
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $prog HOST [SINCE]" >&2
	exit 2
fi
host=$1
since=${2:-}
remote=${OPLOGKIT_REMOTE:-ssh $host}
spool=${REMOTE_SPOOL:-oplogkit-spool.bson.zst}
name=${NAME:-shipped}

# quote WORD: WORD as one word for the remote shell.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# The far side: keep the compressed bytes as they arrive, apply them. tee
# writes the spool before oplog-apply sees an entry, so what was applied is
# always in the spool; pipefail is not in every sh, so oplog-apply's status
# is what the remote command returns.
apply="oplog-apply --name $(quote "$name")"
[ -z "${REMOTE_URI_FILE:-}" ] || apply="$apply --uri-file $(quote "$REMOTE_URI_FILE")"
remote_cmd="umask 077 && tee $(quote "$spool") | $apply"

# The near side: the reader writes into a named pipe (reader.sh), so that the script
# knows its pid and a SIGTERM stops only the reader. It ends the stream
# with a trailer; ssh carries the rest and the remote oplog-apply applies
# it and exits, then so does this script.
. "$(dirname "$0")/reader.sh"
reader_start ship -z ${since:+--since "$since"}
# $remote is split into words on purpose: "ssh -p 2222 HOST".
$remote "$remote_cmd" <"$stream" &
reader_wait $!
if [ "$status" -ne 0 ]; then
	echo "$prog: the far side failed (status $status); rerun with SINCE = the checkpoint's ts" >&2
	exit "$status"
fi
exit "$reader_status"
