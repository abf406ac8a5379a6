#!/bin/sh
# inspect-with-jq.sh - questions about an oplog stream (a spool, a
# snapshot, mongodump's oplog.bson, zstd or not), answered with oplog-show
# and jq. Each recipe is one pipeline: copy the one you need.
#
#   inspect-with-jq.sh counts [FILE]            entries per operation
#   inspect-with-jq.sh updates NS [FILE]        the updates of one namespace
#   inspect-with-jq.sh between FROM TO [FILE]   entries in a time range
#
# FILE defaults to standard input, so a live stream works too:
#   oplog-read "$SRC" | inspect-with-jq.sh updates shop.orders
#
# oplog-show --relaxed prints one entry per line as relaxed Extended JSON,
# which reads naturally in jq: numbers are numbers, a ts is
# {"$timestamp": {"t": SECONDS, "i": ORDINAL}}, a date {"$date": "..."}.
# jq keeps numbers as doubles, so an int64 beyond 2^53 (which a double
# would round) stays {"$numberLong": "..."}, its digits in a string.
#
# A bad stream: oplog-show names the entry and byte offset on stderr and
# exits 3; jq has seen the entries before it. sh has no pipefail, so show()
# below keeps oplog-show's status for the script's own.
set -eu

prog=inspect-with-jq.sh
usage() {
	sed -n 's/^#   inspect/usage: inspect/p' "$0" >&2
	exit 2
}

failed=$(mktemp "${TMPDIR:-/tmp}/inspect.XXXXXX")
trap 'rm -f "$failed"' EXIT
show() {
	st=0
	oplog-show --relaxed "$@" || st=$?
	[ "$st" -eq 0 ] || echo "$st" >"$failed"
}

# counts: how many entries of each operation (i insert, u update, d delete,
# c command, n no-op: our stream markers among them). reduce over inputs
# keeps one entry in memory at a time, however long the stream. The same
# numbers as the "total" row of `oplog-show --stats`.
counts() {
	show "$@" |
		jq -n -r 'reduce inputs as $e ({}; .[$e.op // "none"] += 1) | to_entries[] | "\(.key) \(.value)"'
}

# updates NS: the updates of one namespace, one line each: when, which
# document, what changed. Updates inside a transaction or applyOps are
# inner entries of a "c" entry: flatten those first so they are found too.
updates() {
	ns=$1
	shift
	show "$@" |
		jq -c --arg ns "$ns" '
			if .op == "c" and (.o.applyOps | type) == "array" then .o.applyOps[] else . end
			| select(.op == "u" and .ns == $ns)
			| {ts: "\(.ts["$timestamp"].t),\(.ts["$timestamp"].i)", _id: .o2._id, change: .o}'
}

# between FROM TO: the entries whose ts falls in [FROM, TO], both given
# as Unix seconds or as UTC dates like 2026-11-25T13:00:00Z. ts.t is the
# second the primary logged the entry (wall, where present, has the ms).
between() {
	from=$1
	to=$2
	shift 2
	show "$@" |
		jq -c --arg from "$from" --arg to "$to" '
			def secs: tonumber? // fromdateiso8601;
			select(.ts["$timestamp"].t as $t | $t >= ($from | secs) and $t <= ($to | secs))'
}

[ $# -ge 1 ] || usage
recipe=$1
shift
case $recipe in
counts) [ $# -le 1 ] || usage; counts "$@" ;;
updates) [ $# -ge 1 ] && [ $# -le 2 ] || usage; updates "$@" ;;
between) [ $# -ge 2 ] && [ $# -le 3 ] || usage; between "$@" ;;
*) echo "$prog: unknown recipe $recipe" >&2; usage ;;
esac
[ ! -s "$failed" ] || exit "$(cat "$failed")"
