#!/usr/bin/env bash
# apply.sh - oplog-apply entries/s on a mixed gen-oplog stream applied
# to the FerretDB target, against (a) bulk-writer inserting the same
# final documents in unordered batches of 1000 on the same server (goal
# >= 0.9x) and (b) oplog-apply one entry at a time (goal >= 5x).
source "$(dirname "$0")/lib.sh"
bench_init apply
servers_start

entries=${BENCH_APPLY_ENTRIES:-2000}
# FerretDB v1.24.2 deadlocks on an update command of about 100 statements
# or more (each statement keeps its SQLite connection until the command
# ends; the pool has 100): oplog-apply's default --batch 1000 hangs it.
batch=${BENCH_APPLY_BATCH:-50}
stream=$WORK/apply-$entries.bson
"$TOOLS/gen-oplog" --entries "$entries" --namespaces 4 --seed 7 >"$stream"
dbs="bench0 bench1 bench2 bench3 oplogkit"
namespaces=$(oplog-show --stats "$stream" | awk '$1 ~ /^bench[0-9]+\.c/ { print $1 }')

# The final documents, once: apply, dump every collection as BSON.
oplog-apply -q --batch "$batch" "$stream" "$DST"
finals=0
for ns in $namespaces; do
	mongo_cmd --dump-bson "$DST" "$ns" >"$WORK/apply-final-$ns.bson"
	finals=$((finals + $(count_docs "$DST" "$ns")))
done
bulk_cmd=""
for ns in $namespaces; do
	bulk_cmd+="bulk-writer --batch 1000 '$DST' 'bulk_${ns%%.*}.${ns#*.}' '$WORK/apply-final-$ns.bson' && "
done
bulk_cmd+=true
bulk_dbs=$(for ns in $namespaces; do echo "bulk_${ns%%.*}"; done | sort -u | tr '\n' ' ')

reset="$(declare -f drop_databases mongo_cmd); TOOLS='$TOOLS'; drop_databases '$DST' $dbs $bulk_dbs"
measure BULK "$bulk_cmd" "$reset"
measure BATCHED "oplog-apply -q --batch $batch '$stream' '$DST'" "$reset"
measure ONE "oplog-apply -q --one-at-a-time '$stream' '$DST'" "$reset"
# Same final state as the baseline's, or the comparison means nothing.
for ns in $namespaces; do
	mongo_cmd --dump-bson "$DST" "$ns" | cmp -s - "$WORK/apply-final-$ns.bson" ||
		bench_die "$ns differs after the one-at-a-time apply"
done
rm -f "$WORK"/apply-final-*.bson

rate() { calc0 "$entries / $1"; }
table=$WORK/apply.table
{
	echo "Stream: $entries entries, gen-oplog --namespaces 4 (i, u as \$v:2 and \$v:1, d, some c);"
	echo "final state $finals documents. Target: FerretDB on this machine."
	echo
	echo "| writer | median s | entries/s | oplog-apply batched × this | goal |"
	echo "|---|---|---|---|---|"
	echo "| bulk-writer: the $finals final documents, unordered batches of 1000 (baseline a) | $BULK_SECS | $(rate "$BULK_SECS") | $(calc "$BULK_SECS / $BATCHED_SECS") | ≥ 0.9×: $(verdict "$(calc "$BULK_SECS / $BATCHED_SECS")" '>=' 0.9) |"
	echo "| oplog-apply --batch $batch | $BATCHED_SECS | $(rate "$BATCHED_SECS") | 1.00 | |"
	echo "| oplog-apply --one-at-a-time (baseline b) | $ONE_SECS | $(rate "$ONE_SECS") | $(calc "$ONE_SECS / $BATCHED_SECS") | ≥ 5×: $(verdict "$(calc "$ONE_SECS / $BATCHED_SECS")" '>=' 5) |"
} >"$table"
notes=$WORK/apply.notes
{
	echo "Every run (s): bulk-writer $BULK_ALL; oplog-apply --batch $batch $BATCHED_ALL; one at a time $ONE_ALL."
	echo "entries/s of bulk-writer is the stream's entries over its time: how fast the same end state is reached."
	echo
	echo "--batch $batch, not the default 1000: FerretDB v1.24.2 hangs for good on an"
	echo "update command of about 100 statements or more (msg_update.go defers each"
	echo "statement's iterator close to the end of the command, so every statement holds"
	echo "one of the SQLite pool's 100 connections). oplog-apply turns inserts into"
	echo "replace-upserts, so any batch of 100 data entries is such a command."
} >"$notes"
[[ ! -f $BENCH/notes/apply.md ]] || { echo; cat "$BENCH/notes/apply.md"; } >>"$notes"
results_write "oplog-apply throughput" "$table" "$notes"
