#!/usr/bin/env bash
# zstd.sh - what -z costs on the spool: oplog-filter writing the 1 GB
# stream plain and with -z (levels 1 and 3, the default), the size it
# saves, and reading the compressed spool back.
source "$(dirname "$0")/lib.sh"
bench_init zstd

bytes=${BENCH_FILTER_BYTES:-1000000000}
stream=$(stream_file "$bytes")
size=$(stat -c %s "$stream")
spool=$WORK/zstd-spool.bson
cat "$stream" >/dev/null

# Written to a real file, as a spool is (the page cache absorbs it).
measure PLAIN "oplog-filter -o '$spool' < '$stream'"
measure Z1 "oplog-filter --zstd=1 -o '$spool.z1' < '$stream'"
measure Z3 "oplog-filter -z -o '$spool.z3' < '$stream'"
measure READ_PLAIN "oplog-filter < '$spool' > /dev/null"
measure READ_Z3 "oplog-filter < '$spool.z3' > /dev/null"
z1=$(stat -c %s "$spool.z1")
z3=$(stat -c %s "$spool.z3")
# The same stream through the zstd CLI at level 3, for scale.
measure ZSTD_CLI "zstd -q -3 -c < '$stream' > '$spool.cli'"
cli=$(stat -c %s "$spool.cli")
rm -f "$spool" "$spool.z1" "$spool.z3" "$spool.cli"

table=$WORK/zstd.table
{
	echo "Stream: $(calc0 "$size / 1e6") MB gen-oplog (padding is repetitive, so it compresses better than most real data)."
	echo
	echo "| run | median s | MB/s of plain stream | × plain write | compressed size | size ratio |"
	echo "|---|---|---|---|---|---|"
	echo "| oplog-filter -o spool (baseline) | $PLAIN_SECS | $(mb_per_s "$size" "$PLAIN_SECS") | 1.00 | $(calc0 "$size / 1e6") MB | 1.00 |"
	echo "| oplog-filter --zstd=1 -o spool | $Z1_SECS | $(mb_per_s "$size" "$Z1_SECS") | $(calc "$PLAIN_SECS / $Z1_SECS") | $(calc0 "$z1 / 1e6") MB | $(calc "$size / $z1") |"
	echo "| oplog-filter -z (level 3) -o spool | $Z3_SECS | $(mb_per_s "$size" "$Z3_SECS") | $(calc "$PLAIN_SECS / $Z3_SECS") | $(calc0 "$z3 / 1e6") MB | $(calc "$size / $z3") |"
	echo "| zstd -3 CLI, for scale | $ZSTD_CLI_SECS | $(mb_per_s "$size" "$ZSTD_CLI_SECS") | $(calc "$PLAIN_SECS / $ZSTD_CLI_SECS") | $(calc0 "$cli / 1e6") MB | $(calc "$size / $cli") |"
	echo "| read plain spool (oplog-filter) | $READ_PLAIN_SECS | $(mb_per_s "$size" "$READ_PLAIN_SECS") | | | |"
	echo "| read -z spool (oplog-filter) | $READ_Z3_SECS | $(mb_per_s "$size" "$READ_Z3_SECS") | $(calc "$READ_PLAIN_SECS / $READ_Z3_SECS") of plain read | | |"
} >"$table"
notes=$WORK/zstd.notes
{
	echo "Every run (s): plain $PLAIN_ALL; -z1 $Z1_ALL; -z3 $Z3_ALL; zstd CLI $ZSTD_CLI_ALL; read plain $READ_PLAIN_ALL; read -z $READ_Z3_ALL."
	echo
	echo "No goal in the issue. '× plain write' below 1 is the slowdown -z costs;"
	echo "the size ratio is plain bytes / compressed bytes."
} >"$notes"
results_write "zstd on the spool: cost of -z and size ratio" "$table" "$notes"
