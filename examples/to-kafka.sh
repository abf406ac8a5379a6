#!/bin/sh
# to-kafka.sh - publish a source's oplog to a Kafka topic with kcat, and
# apply it from there to a target: a durable, replayable buffer between
# the clusters, that several consumers can read.
#
# NOT TESTED: the project's tests have no Kafka broker, so this file is
# documentation. Every oplogkit step in it (oplog-read -z with --count,
# concatenated zstd streams into oplog-apply --resume) is covered by the
# programs' own tests; the kcat options are from kcat(1).
#
#   to-kafka.sh produce BROKERS TOPIC [SINCE]   source -> Kafka, until stopped
#   to-kafka.sh consume BROKERS TOPIC           Kafka -> target, until stopped
#
# Environment: OPLOGKIT_SOURCE_URI (produce), OPLOGKIT_TARGET_URI
# (consume); CHUNK entries per message at most (default 1000), SECONDS_MAX
# a message waits for them at most (default 5); NAME the consumer's
# checkpoint on the target (default "kafka").
#
# Why chunks: a stream is BSON, which contains newlines, so kcat's
# line-delimited stdin mode would cut entries apart. Instead each message
# is one file, and each file is a whole stream of its own: oplog-read
# --count CHUNK, stopped after SECONDS_MAX by SIGTERM (which ends it with
# its trailer, exit 0), zstd-compressed. Streams concatenate: a consumer
# that prints the messages back to back gives oplog-apply one stream.
# Keep a chunk under the topic's max.message.bytes (1 MB by default).
#
# Order matters: everything goes to partition 0 of the topic, so consumers
# see the entries in the source's order.
set -eu

prog=to-kafka.sh
usage() {
	echo "usage: $prog produce BROKERS TOPIC [SINCE] | consume BROKERS TOPIC" >&2
	exit 2
}
[ $# -ge 3 ] || usage
mode=$1
brokers=$2
topic=$3
chunk=${CHUNK:-1000}
seconds=${SECONDS_MAX:-5}

produce() {
	dir=$(mktemp -d "${TMPDIR:-/tmp}/to-kafka.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	# Start after SINCE (e.g. a snapshot's T0), or after the newest entry.
	last=${1:-$(oplog-read --now)}
	while :; do
		st=0
		timeout "$seconds" oplog-read -z --since "$last" --count "$chunk" \
			-o "$dir/chunk" || st=$?
		# 124: timeout stopped it, and it wrote its trailer on the way out.
		[ "$st" -eq 0 ] || [ "$st" -eq 124 ] || exit "$st"
		# The trailer says how many entries and the last ts.
		trailer=$(oplog-show --relaxed "$dir/chunk" | tail -n 1)
		count=$(printf '%s\n' "$trailer" | jq -r '.o.count')
		[ "$count" -gt 0 ] || continue
		# One file, one message; -p 0 keeps the order; the key is the
		# chunk's last ts, so a consumer can seek by it.
		next=$(printf '%s\n' "$trailer" | jq -r '.o.last["$timestamp"] | "\(.t),\(.i)"')
		kcat -P -b "$brokers" -t "$topic" -p 0 -k "$next" "$dir/chunk"
		last=$next
	done
}

consume() {
	# -f '%s': the payloads back to back, nothing between them. From the
	# beginning every time: --resume skips what the checkpoint says the
	# target already has, so a restart costs a re-read, never a re-apply.
	kcat -C -b "$brokers" -t "$topic" -p 0 -o beginning -u -f '%s' |
		oplog-apply --resume --name "${NAME:-kafka}"
}

case $mode in
produce) [ $# -le 4 ] || usage; produce ${4:+"$4"} ;;
consume) [ $# -eq 3 ] || usage; consume ;;
*) usage ;;
esac
