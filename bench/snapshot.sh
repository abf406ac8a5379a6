#!/usr/bin/env bash
# snapshot.sh - copying a collection from the source to the target:
# snap-export | snap-import against mongodump --archive | mongorestore
# --archive on the same two servers, documents/s and MB/s. Goal >= 1.5x.
source "$(dirname "$0")/lib.sh"
bench_init snapshot
need_peers mongodump mongorestore
servers_start

docs=${BENCH_SNAPSHOT_DOCS:-50000}
bulk-writer --generate "$docs" --seed 3 "$SRC" snapbench.docs >/dev/null
# The bytes moved: the snapshot stream's size (documents plus the entry
# envelope around each; the documents alone are a little less).
snap-export --ns 'snapbench.*' "$SRC" >"$WORK/snapshot.bson"
bytes=$(stat -c %s "$WORK/snapshot.bson")
rm -f "$WORK/snapshot.bson"

reset="$(declare -f drop_databases mongo_cmd); TOOLS='$TOOLS'; drop_databases '$DST' snapbench"
measure OURS "snap-export --ns 'snapbench.*' '$SRC' | snap-import '$DST'" "$reset"
[[ $(count_docs "$DST" snapbench.docs) == "$docs" ]] || bench_die "snap-import left $(count_docs "$DST" snapbench.docs) of $docs documents"
# mongorestore's index creation fails on FerretDB ("Index option ns is
# unknown"): --noIndexRestore, so neither side builds more than _id.
measure PEER "'$PEERS/mongodump' --quiet --uri='$SRC' --db=snapbench --archive | '$PEERS/mongorestore' --quiet --uri='$DST' --archive --noIndexRestore" "$reset"
[[ $(count_docs "$DST" snapbench.docs) == "$docs" ]] || bench_die "mongorestore left $(count_docs "$DST" snapbench.docs) of $docs documents"
measure EXPORT "snap-export --ns 'snapbench.*' '$SRC' > /dev/null"
measure DUMP "'$PEERS/mongodump' --quiet --uri='$SRC' --db=snapbench --archive > /dev/null"

ratio=$(calc "$PEER_SECS / $OURS_SECS")
table=$WORK/snapshot.table
{
	echo "$docs documents of 100 B to 16 KiB (bulk-writer --generate), $(calc0 "$bytes / 1e6") MB as a snapshot stream, FerretDB to FerretDB on this machine."
	echo
	echo "| copy | median s | documents/s | MB/s | × mongodump \| mongorestore | goal |"
	echo "|---|---|---|---|---|---|"
	echo "| mongodump --archive \| mongorestore --archive --noIndexRestore (baseline) | $PEER_SECS | $(calc0 "$docs / $PEER_SECS") | $(mb_per_s "$bytes" "$PEER_SECS") | 1.00 | |"
	echo "| snap-export \| snap-import | $OURS_SECS | $(calc0 "$docs / $OURS_SECS") | $(mb_per_s "$bytes" "$OURS_SECS") | $ratio | ≥ 1.5×: $(verdict "$ratio" '>=' 1.5) |"
	echo "| mongodump --archive alone | $DUMP_SECS | $(calc0 "$docs / $DUMP_SECS") | $(mb_per_s "$bytes" "$DUMP_SECS") | | |"
	echo "| snap-export alone | $EXPORT_SECS | $(calc0 "$docs / $EXPORT_SECS") | $(mb_per_s "$bytes" "$EXPORT_SECS") | $(calc "$DUMP_SECS / $EXPORT_SECS") of mongodump | |"
} >"$table"
notes=$WORK/snapshot.notes
{
	echo "Every run (s): ours $OURS_ALL; mongodump | mongorestore $PEER_ALL; snap-export $EXPORT_ALL; mongodump $DUMP_ALL."
	echo
	echo "mongorestore runs with --noIndexRestore: against FerretDB v1.24.2 its index"
	echo "creation fails ('Index option \"ns\" is unknown'). The collection has only"
	echo "the _id index, so both sides do the same work."
} >"$notes"
[[ ! -f $BENCH/notes/snapshot.md ]] || { echo; cat "$BENCH/notes/snapshot.md"; } >>"$notes"
results_write "Snapshot copy: snap-export | snap-import vs mongodump | mongorestore" "$table" "$notes"
