#!/usr/bin/env bats
# README.md's "A migration in a few lines" runs as written: its lines are
# taken from README.md as they stand and run on two servers that
# scripts/local-servers starts (the documented helper; a pair of our own,
# since the recipe migrates a whole server and the suite's servers hold
# every other test's data), under a write load that the recipe's fence
# stops. Then the target holds the source's documents, byte for byte.

load lib/helpers
bats_require_minimum_version 1.5.0

setup_file() {
	export OPLOGKIT_SERVERS_DIR=$BATS_FILE_TMPDIR/servers
	eval "$("$ROOT/scripts/local-servers" start)"
	export SRC DST
}

teardown_file() {
	"$ROOT/scripts/local-servers" clean || true
}

# The recipe block: from its first line (T0=...) to the blank line after.
recipe() {
	awk '/^## A migration in a few lines/ { in_section = 1; next }
	    /^## / { in_section = 0 }
	    in_section && /^    T0=/ { in_block = 1 }
	    in_block && /^$/ { exit }
	    in_block { sub(/^    /, ""); print }' "$ROOT/README.md"
}

# A small application: inserts, updates and deletes on SRC until the
# fence file appears; then it says so (fenced) and writes no more.
write_load() {
	local dir=$1 n=0
	while [[ ! -e $dir/fence ]]; do
		n=$((n + 1))
		mongo_cmd "$SRC" shop "{\"insert\": \"orders\", \"documents\": [{\"_id\": $((1000 + n)), \"n\": $n, \"item\": \"i$((n % 7))\", \"lines\": [1, 2.5, \"x\"]}]}" >/dev/null
		if ((n % 3 == 0)); then
			mongo_cmd "$SRC" shop "{\"update\": \"orders\", \"updates\": [{\"q\": {\"_id\": $((1000 + n - 2))}, \"u\": {\"\$set\": {\"paid\": true}, \"\$unset\": {\"item\": 1}}}]}" >/dev/null
		fi
		if ((n % 5 == 0)); then
			mongo_cmd "$SRC" shop "{\"delete\": \"orders\", \"deletes\": [{\"q\": {\"_id\": $((1000 + n - 4))}, \"limit\": 1}]}" >/dev/null
		fi
		sleep 0.05
	done
	touch "$dir/fenced"
}

@test "scripts/local-servers gives two servers that answer, each with an oplog" {
	run mongo_cmd "$SRC" local '{"find": "oplog.rs", "limit": 1}'
	assert_success
	run mongo_cmd "$DST" admin '{"ping": 1}'
	assert_success
	run "$ROOT/scripts/local-servers" status
	assert_success
	assert_line "export SRC='$SRC'"
	assert_line "export DST='$DST'"
}

@test "README's migration recipe runs as written and the target ends equal to the source" {
	work=$BATS_TEST_TMPDIR/work
	mkdir -p "$work"
	cd "$work"
	recipe >recipe.sh
	# The lines the README promises are all there (a README edit that
	# drops one fails here, not silently).
	for program in 'oplog-read --now' 'oplog-read --since' snap-export snap-import \
	    'oplog-apply --follow' sync-check '--in-flight-ok' entry-switch '--verify-cmd' 'kill -TERM' \
	    'wait "$applier"'; do
		grep -qF -- "$program" recipe.sh || fail "the recipe lost '$program'"
	done
	# Data before T0, for the snapshot; an index, for it to copy too.
	for n in $(seq 1 200); do
		echo "{\"_id\": $n, \"n\": $n, \"item\": \"i$((n % 7))\", \"nested\": {\"a\": [1, {\"b\": $n}]}}"
	done | mongo_insert "$SRC" shop.orders
	mongo_cmd "$SRC" shop '{"createIndexes": "orders", "indexes": [{"key": {"item": 1}, "name": "item_1"}]}' >/dev/null
	write_load "$work" 3>&- &
	load=$!
	echo "$SRC" >app.conf
	export FENCE="touch '$work/fence'; while [ ! -e '$work/fenced' ]; do sleep 0.1; done"
	export UNFENCE=true
	# Run it with -e: every line must succeed, as a reader pasting it
	# expects. In a process group of its own: when a line fails, the
	# reader and applier it started in the background are stopped with it.
	set -m
	bash -e recipe.sh >recipe.out 2>&1 3>&- &
	recipe=$!
	set +m
	recipe_status=0
	wait "$recipe" || recipe_status=$?
	kill -TERM -- "-$recipe" 2>/dev/null || true
	touch "$work/fence"
	wait "$load" || true
	run cat recipe.out
	echo "$output"
	assert_equal "$recipe_status" 0
	assert_line "oplog-read: exit 0"
	assert_line "oplog-apply: exit 0"
	# The load wrote during the migration and stopped at the fence.
	[[ -e $work/fenced ]] || fail "the fence never ran"
	# The entry now names the target.
	assert_equal "$(cat app.conf)" "$DST"
	# The documents, field order included, equal on both sides.
	mongo_dump "$SRC" shop.orders >src.json
	mongo_dump "$DST" shop.orders >dst.json
	[[ $(wc -l <src.json) -gt 200 ]] || fail "the load wrote nothing: $(wc -l <src.json) documents"
	diff src.json dst.json
	run mongo_cmd "$DST" shop '{"listIndexes": "orders"}'
	assert_output --partial '"item_1"'
}
