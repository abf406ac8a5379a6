#!/usr/bin/env bash
# filter.sh - stream throughput: oplog-filter (validating copy, and with
# --ns) and oplog-show on a 1 GB gen-oplog stream, against `cat` through
# a pipe and against bsondump, the peer that reads the same format.
# Goals (issue 7): oplog-filter >= 0.5x cat, >= 10x bsondump.
source "$(dirname "$0")/lib.sh"
bench_init filter
need_peers bsondump

bytes=${BENCH_FILTER_BYTES:-1000000000}
stream=$(stream_file "$bytes")
size=$(stat -c %s "$stream")
cat "$stream" >/dev/null # into the page cache before the first timing

# Every command reads through a pipe, as in a pipeline, and writes to
# /dev/null; what is timed is the whole pipeline.
measure CAT "cat '$stream' | cat > /dev/null"
measure FILTER "cat '$stream' | oplog-filter > /dev/null"
measure FILTER_NS "cat '$stream' | oplog-filter --ns 'bench0.*' > /dev/null"
measure SHOW "cat '$stream' | oplog-show > /dev/null"
measure BSONDUMP "cat '$stream' | '$PEERS/bsondump' --quiet > /dev/null"
measure BSONDUMP_CHECK "cat '$stream' | '$PEERS/bsondump' --quiet --objcheck > /dev/null"

table=$WORK/filter.table
notes=$WORK/filter.notes
row() { # name secs goal
	local secs=$2
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$secs" "$(mb_per_s "$size" "$secs")" \
		"$(calc "$CAT_SECS / $secs")" "$(calc "$BSONDUMP_SECS / $secs")" "$3"
}
{
	echo "Stream: $(calc0 "$size / 1e6") MB, $(oplog-show --stats "$stream" | awk '/^entries/ { print $2 }') entries (gen-oplog --namespaces 20 --seed 1), read from the page cache through a pipe."
	echo
	echo "| pipeline | median s | MB/s | × cat | × bsondump | goal |"
	echo "|---|---|---|---|---|---|"
	row "cat \| cat (baseline)" "$CAT_SECS" ""
	row "oplog-filter (validating copy)" "$FILTER_SECS" \
		"≥ 0.5× cat: $(verdict "$(calc "$CAT_SECS / $FILTER_SECS")" '>=' 0.5); ≥ 10× bsondump: $(verdict "$(calc "$BSONDUMP_SECS / $FILTER_SECS")" '>=' 10)"
	row "oplog-filter --ns 'bench0.*'" "$FILTER_NS_SECS" ""
	row "oplog-show (canonical Extended JSON)" "$SHOW_SECS" ""
	row "bsondump --quiet (baseline)" "$BSONDUMP_SECS" ""
	row "bsondump --quiet --objcheck" "$BSONDUMP_CHECK_SECS" ""
} >"$table"
{
	echo "Every run (s): cat $CAT_ALL; filter $FILTER_ALL; filter --ns $FILTER_NS_ALL; show $SHOW_ALL; bsondump $BSONDUMP_ALL; bsondump --objcheck $BSONDUMP_CHECK_ALL."
	echo
	echo "oplog-filter and bsondump do different work: the filter checks and copies"
	echo "BSON, bsondump converts it to JSON. oplog-show against bsondump is the"
	echo "like-for-like pair (both print Extended JSON; bsondump's default is"
	echo "relaxed-ish JSON, oplog-show's canonical)."
} >"$notes"
if [[ -f $BENCH/notes/filter.md ]]; then
	{ echo; cat "$BENCH/notes/filter.md"; } >>"$notes"
fi
results_write "oplog-filter and oplog-show throughput" "$table" "$notes"
