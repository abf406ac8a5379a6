#!/usr/bin/env bash
# apply.sh - oplog-apply entries/s on mixed gen-oplog streams (integer
# and ObjectId _ids) applied to the FerretDB target, against a like
# baseline: bulk-writer --oplog issuing the same i, u and d operations
# as a plain libmongoc client (insert, update by _id, delete by _id) in
# bulks of the same size on the same server, over 1 connection and N.
# The figure is the ratio of the two times; no goal is set above 1×: on
# a server that is the bound, no client writes the same operations faster.
source "$(dirname "$0")/lib.sh"
# BENCH_APPLY_BACKEND=postgresql: the target on FerretDB's PostgreSQL
# backend (results in apply-postgresql.md); SQLite otherwise.
backend=${BENCH_APPLY_BACKEND:-sqlite}
if [[ $backend == postgresql ]]; then
	bench_init apply-postgresql
	servers_start
	pg_target_start
else
	bench_init apply
	servers_start
fi

entries=${BENCH_APPLY_ENTRIES:-2000}
# FerretDB v1.24.2 deadlocks on an update command of about 100 statements
# or more (each statement keeps its SQLite connection until the command
# ends; the pool has 100): both writers use bulks of 50.
batch=${BENCH_APPLY_BATCH:-50}
jobs=${BENCH_APPLY_JOBS:-4}
dbs="bench0 bench1 bench2 bench3 oplogkit"
reset="$(declare -f drop_databases mongo_cmd); TOOLS='$TOOLS'; drop_databases '$DST' $dbs"

table=$WORK/apply.table
{
	echo "Streams: $entries entries, gen-oplog --namespaces 4 --seed 7 (i, u as \$v:2 and \$v:1, d, some c)."
	echo "Both writers: bulks of $batch; oplog-apply --jobs N against bulk-writer --oplog --jobs N."
	echo
	echo "| _id | connections | bulk-writer s | oplog-apply s | oplog-apply entries/s | ratio (bulk-writer s / oplog-apply s) |"
	echo "|---|---|---|---|---|---|"
} >"$table"
runs=""
for kind in int oid; do
	stream=$WORK/apply-$kind-$entries.bson
	flag=
	[[ $kind == int ]] || flag=--oid
	"$TOOLS/gen-oplog" --entries "$entries" --namespaces 4 --seed 7 $flag >"$stream"
	namespaces=$(oplog-show --stats "$stream" | awk '$1 ~ /^bench[0-9]+\.c/ { print $1 }')
	for n in 1 "$jobs"; do
		measure WRITER "bulk-writer --oplog '$stream' --batch $batch --jobs $n '$DST'" "$reset"
		measure APPLY "oplog-apply -q --jobs $n --batch $batch '$stream' '$DST'" "$reset"
		# The state one --jobs gives is the state every --jobs gives.
		for ns in $namespaces; do
			if [[ $n == 1 ]]; then
				mongo_cmd --dump-bson "$DST" "$ns" >"$WORK/apply-final-$ns.bson"
			else
				mongo_cmd --dump-bson "$DST" "$ns" | cmp -s - "$WORK/apply-final-$ns.bson" ||
					bench_die "$ns differs between --jobs 1 and --jobs $n ($kind _ids)"
			fi
		done
		echo "| $kind | $n | $WRITER_SECS | $APPLY_SECS | $(calc0 "$entries / $APPLY_SECS") | $(calc "$WRITER_SECS / $APPLY_SECS") |" >>"$table"
		runs+="$kind _ids, $n connection(s): bulk-writer $WRITER_ALL; oplog-apply $APPLY_ALL."$'\n'
	done
	rm -f "$WORK"/apply-final-*.bson
done
notes=$WORK/apply.notes
{
	echo "Every run (s):"
	echo
	printf '%s' "$runs"
	echo
	echo "bulk-writer --oplog sends what a client would for the same entries: inserts,"
	echo "\$set/\$unset by _id for \$v:2 diffs (array resizes left out), \$v:1 updates as"
	echo "they are, deletes by _id; it runs no commands. oplog-apply also reads, validates"
	echo "and translates the stream, runs its commands and writes its checkpoint."
	echo
	echo "--batch $batch, not the default 1000: FerretDB v1.24.2 hangs for good on an"
	echo "update command of about 100 statements or more (msg_update.go defers each"
	echo "statement's iterator close to the end of the command, so every statement holds"
	echo "one of the SQLite pool's 100 connections)."
} >"$notes"
[[ ! -f $BENCH/notes/$BENCH_NAME.md ]] || { echo; cat "$BENCH/notes/$BENCH_NAME.md"; } >>"$notes"
results_write "oplog-apply throughput against a like baseline" "$table" "$notes"
