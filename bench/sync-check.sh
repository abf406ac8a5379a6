#!/usr/bin/env bash
# sync-check.sh - sync-check documents/s and peak RSS on two equal
# collections. The issue's figure is 1M documents; loading FerretDB runs
# at a few thousand documents a second here, so the default is what
# loads in about three minutes (BENCH_SYNC_DOCS to change it).
source "$(dirname "$0")/lib.sh"
bench_init sync-check
servers_start

docs=${BENCH_SYNC_DOCS:-100000}
started=$(date +%s.%N)
bulk-writer --generate "$docs" --seed 9 "$SRC" syncbench.docs >/dev/null &
loader=$!
bulk-writer --generate "$docs" --seed 9 "$DST" syncbench.docs >/dev/null
wait "$loader"
load_secs=$(calc "$(date +%s.%N) - $started")

measure CHECK "sync-check --ns 'syncbench.*' '$SRC' '$DST' > '$WORK/sync-check.out' 2> '$WORK/sync-check.report'"
# The same documents read once, by each side's plain dump, for scale.
measure DUMP "'$TOOLS/mongo-cmd' --dump-bson '$SRC' syncbench.docs > /dev/null"

table=$WORK/sync-check.table
{
	echo "$docs documents of 100 B to 16 KiB in syncbench.docs on both servers (equal; loaded in $load_secs s, both at once)."
	echo
	echo "| run | median s | documents/s | peak RSS MiB | × one-side dump |"
	echo "|---|---|---|---|---|"
	echo "| sync-check (both sides, in _id order, merged) | $CHECK_SECS | $(calc0 "$docs / $CHECK_SECS") | $(calc "$CHECK_RSS / 1024") | $(calc "$DUMP_SECS / $CHECK_SECS") |"
	echo "| mongo-cmd --dump-bson, one side (baseline for scale) | $DUMP_SECS | $(calc0 "$docs / $DUMP_SECS") | $(calc "$DUMP_RSS / 1024") | 1.00 |"
} >"$table"
notes=$WORK/sync-check.notes
{
	echo "Every run (s): sync-check $CHECK_ALL; dump $DUMP_ALL. sync-check's report: $(tr '\n' ' ' <"$WORK/sync-check.report")"
	echo
	echo "No goal in the issue besides the figure. 1M documents (the issue's figure)"
	echo "would take about $(calc0 "1000000 / $docs * $load_secs / 60") minutes to load into the two servers here, so"
	echo "this runs $docs; memory does not depend on the count (both sides are streamed)."
} >"$notes"
[[ ! -f $BENCH/notes/sync-check.md ]] || { echo; cat "$BENCH/notes/sync-check.md"; } >>"$notes"
results_write "sync-check throughput and memory" "$table" "$notes"
