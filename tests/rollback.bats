#!/usr/bin/env bats
# After the switch: the reverse stream that keeps the old cluster current,
# switching back to it, switching again, and retiring it (oplogkit-migrate
# reverse, switch-back, retire; source-retire). Real servers, the example
# application (oplogkit-loadgen) writing through an entry file and pausing
# on a fence file, as in the demo. Write volumes stay in the hundreds: the
# FerretDB oplog costs every reader a scan of all it holds.

load lib/helpers
load lib/pair
bats_require_minimum_version 1.5.0
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}

COLLECTIONS="users orders events"

# A pair of servers of this file's own, where tests/run manages FerretDB:
# the suite's pair carries every earlier file's oplog by now, and on
# FerretDB each look at the oplog (every poll of a reader, every lag and
# switch ts) scans all of it. Servers given by the environment are used
# as they are.
setup_file() {
	[[ -n ${OPLOGKIT_SERVERS_DIR:-} ]] || return 0
	export OPLOGKIT_SERVERS_DIR=$BATS_FILE_TMPDIR/servers
	server_pair_start
}

teardown_file() {
	[[ ${OPLOGKIT_SERVERS_DIR:-} != "$BATS_FILE_TMPDIR/servers" ]] ||
		"$ROOT/tests/lib/servers.sh" stop
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	export TMPDIR=$BATS_TEST_TMPDIR
	db=$(unique_db rollback)
	name=$db
	work=$BATS_TEST_TMPDIR/work
	app_pid=
}

# A failed test must not leave a stream or the application running.
teardown() {
	[[ -z $app_pid ]] || kill -TERM "$app_pid" 2>/dev/null || true
	[[ -z ${reader:-} ]] || kill -TERM "$reader" 2>/dev/null || true
	oplogkit-migrate stop -w "$work" >/dev/null 2>&1 3>&- || true
}

# The application: writes to the URI in ./entry, pauses on ./fence.
start_app() {
	echo "$SRC_URI" >entry
	oplogkit-loadgen --entry-file entry --fence-file "$PWD/fence" --rate "${1:-10}" --db "$db" \
		>app.out 2>app.err 3>&- &
	app_pid=$!
}

# Stop it; $errors, $inserts, $deletes from its last line.
stop_app() {
	kill -TERM "$app_pid"
	wait "$app_pid" || true
	app_pid=
	cat app.out
	errors=$(sed -n 's/.* errors \([0-9]*\).*/\1/p' app.out)
	inserts=$(sed -n 's/.*inserts \([0-9]*\).*/\1/p' app.out)
	deletes=$(sed -n 's/.* deletes \([0-9]*\).*/\1/p' app.out)
}

# oplogkit-migrate, its output in ./out, $output and $lines for the
# assertions, shown when the test fails. Its background streams must not
# hold bats' descriptors (a pipe would never close).
migrate() {
	local rc=0
	oplogkit-migrate "$@" >out 2>&1 3>&- || rc=$?
	cat out
	output=$(<out)
	mapfile -t lines <out
	return "$rc"
}

# entry-switch options moving the application to URI.
switch_to() {
	printf '%s\n' --lag 2s --entry-file "$PWD/entry" --entry-value "$1" \
		--fence-cmd "$ROOT/examples/app-fence up $PWD/fence" \
		--unfence-cmd "$ROOT/examples/app-fence down $PWD/fence"
}

migrate_and_switch() {
	local args
	mapfile -t args < <(switch_to "$DST_URI")
	migrate -w "$work" --name "$name" --max-lag 2s --rechecks 10 --ns "$db.*" "$@" --switch \
		"$SRC_URI" "$DST_URI" -- "${args[@]}"
}

# Wait until the application's collections hold the same documents on
# both servers. Cheaper than polling the lag: on FerretDB every look at
# the oplog scans all of it.
converged() {
	local i
	for i in {1..120}; do
		same_dumps && return 0
		sleep 0.5
	done
	return 1
}

same_dumps() {
	local c
	for c in $COLLECTIONS; do
		cmp -s <(mongo_dump "$SRC_URI" "$db.$c") <(mongo_dump "$DST_URI" "$db.$c") || return 1
	done
}

# Every collection of the application equal on both servers, and sync-check agrees.
assert_same() {
	local c
	for c in $COLLECTIONS; do
		diff <(mongo_dump "$SRC_URI" "$db.$c") <(mongo_dump "$DST_URI" "$db.$c")
	done
	run sync-check --ns "$db.*" --exclude "$db.keep" "$SRC_URI" "$DST_URI"
	assert_success
	assert_output --partial ' 0 missing, 0 extra, 0 differ'
}

documents_on() {
	local c total=0 n
	for c in $COLLECTIONS; do
		n=$(mongo_dump "$1" "$db.$c" | wc -l)
		total=$((total + n))
	done
	echo "$total"
}

window_of() { sed -n 's/^window *\([0-9]*\) ms$/\1/p' "$1"; }

@test "full cycle under load: switch, switch back, switch again, retire - no error, every window reported, nothing lost" {
	mongo_cmd "$SRC_URI" "$db" '{"insert": "keep", "documents": [{"_id": 1, "v": "not migrated"}]}' >/dev/null
	other=$(unique_db rollback_other)
	mongo_cmd "$SRC_URI" "$other" '{"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]}' >/dev/null
	mongo_dump "$SRC_URI" "$db.keep" >keep.before
	mongo_dump "$SRC_URI" "$other.c" >other.before
	start_app
	sleep 1
	migrate_and_switch --reverse --exclude "$db.keep"
	sleep 1

	# Back to the source while the application writes.
	mapfile -t args < <(switch_to "$SRC_URI")
	migrate switch-back -w "$work" -- "${args[@]}"
	assert_equal "$(cat entry)" "$SRC_URI"
	assert_file_exist "$work/switch-back.report"
	back=$(window_of "$work/switch-back.report")
	[[ -n $back ]]
	grep -q '^result *switched$' "$work/switch-back.report"
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^reader: running'
	assert_line 'reverse: stopped'
	# Retiring the cluster the applications are on again is refused.
	run oplogkit-migrate retire -w "$work" --yes 3>&-
	assert_failure 1
	assert_output --partial 'switched back to the source'
	sleep 1

	# And to the target again, with the same command as the first time.
	first=$(window_of "$work/switch.report")
	migrate_and_switch --reverse --exclude "$db.keep"
	again=$(window_of "$work/switch.report")
	[[ -n $again ]]
	assert_equal "$(cat entry)" "$DST_URI"
	sleep 1
	stop_app
	assert_equal "$errors" 0
	converged
	assert_same
	assert_equal "$(documents_on "$DST_URI")" "$((inserts - deletes))"
	echo "# windows: switch $first ms, back $back ms, again $again ms" >&3

	# Retire: nothing without --yes, then exactly the migrated namespaces.
	run oplogkit-migrate retire -w "$work" 3>&-
	assert_failure 1
	assert_line --regexp "^would drop $db\.users [0-9]+ documents$"
	assert_output --partial 'refused: give --yes'
	migrate retire -w "$work" --yes
	for c in $COLLECTIONS; do
		assert_line --regexp "^dropped $db\.$c [0-9]+ documents$"
		assert_equal "$(mongo_dump "$SRC_URI" "$db.$c" | wc -l)" 0
	done
	assert_line --regexp '^retired 3 namespaces, [0-9]+ documents$'
	diff keep.before <(mongo_dump "$SRC_URI" "$db.keep")
	diff other.before <(mongo_dump "$SRC_URI" "$other.c")
	# The target keeps everything; the reverse stream was stopped first.
	assert_equal "$(documents_on "$DST_URI")" "$((inserts - deletes))"
	run oplogkit-migrate status -w "$work"
	assert_line 'reverse: stopped'
}

@test "the reverse stream brings every write made on the target back to the source, across a kill -9 of its applier" {
	start_app
	sleep 1
	migrate_and_switch --reverse
	assert_equal "$(cat entry)" "$DST_URI"
	sleep 1 # the application writes to the target now
	kill -9 "$(cat "$work/reverse.pid")"
	sleep 1 # writes that only the reverse spool holds
	run oplogkit-migrate status -w "$work"
	# What became of it: killed, not merely stopped.
	assert_line --regexp '^reverse: killed: oplog-apply killed by SIGKILL \(killed by a signal\)'
	migrate reverse -w "$work"
	assert_output --partial 'reader already running'
	run oplogkit-migrate status -w "$work"
	assert_line --regexp '^reverse: running'
	sleep 1
	stop_app
	assert_equal "$errors" 0
	converged
	assert_same
	# Every write of the application, before and after the switch, is on the source.
	assert_equal "$(documents_on "$SRC_URI")" "$((inserts - deletes))"
	# No bookkeeping travelled back: the forward checkpoint stays on the target.
	run mongo_dump "$SRC_URI" oplogkit.checkpoints
	refute_output --partial "\"_id\" : \"$name\""
}

# The source as it is now, every selected and unselected collection.
snapshot_source() {
	local c
	for c in a b keep; do mongo_dump "$SRC_URI" "$db.$c"; done >"$1"
}

assert_source_untouched() {
	snapshot_source now
	diff "$1" now
}

retire() {
	run --separate-stderr source-retire --since "$since" --reverse-name "$name-reverse" \
		--rechecks 1 --ns "$db.*" --exclude "$db.keep" "$@" "$SRC_URI" "$DST_URI"
	echo "$output"
	echo "$stderr"
}

# A reverse stream by hand: the target's oplog after $target_since onto the source.
start_reverse() {
	rm -f rev.bson
	oplog-read --since "$target_since" -o rev.bson "$DST_URI" 2>rev-read.log 3>&- &
	reader=$!
	for _ in {1..100}; do [[ -e rev.bson ]] && break; sleep 0.1; done
	oplog-apply --follow --resume --name "$name-reverse" --ns "$db.*" rev.bson "$SRC_URI" \
		2>rev-apply.log 3>&- &
	applier=$!
}

stop_reverse() {
	kill -TERM "$reader"
	wait "$reader" "$applier" || true
	reader= applier=
}

# Wait until NS on the source holds N documents.
source_holds() {
	for _ in {1..120}; do
		[[ $(mongo_dump "$SRC_URI" "$1" | wc -l) == "$2" ]] && return 0
		sleep 0.5
	done
	return 1
}

@test "source-retire refuses every unsafe case and drops nothing; the safe case drops exactly the selection" {
	# Both sides hold the same data, as after a migration; db.keep is not migrated.
	for c in a b; do
		for uri in "$SRC_URI" "$DST_URI"; do
			mongo_cmd "$uri" "$db" "{\"insert\": \"$c\", \"documents\": [{\"_id\": 1, \"c\": \"$c\"}, {\"_id\": 2}]}" >/dev/null
		done
	done
	mongo_cmd "$SRC_URI" "$db" '{"insert": "keep", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 3}]}' >/dev/null
	since=$(oplog-read --now "$SRC_URI")
	target_since=$(oplog-read --now "$DST_URI")
	snapshot_source before

	# Without --yes: the list, and nothing else.
	retire
	assert_failure 1
	assert_line "would drop $db.a 2 documents"
	assert_line "would drop $db.b 2 documents"
	refute_output --partial "$db.keep"
	[[ $stderr == *'refused: give --yes'* ]]
	assert_source_untouched before

	# The target took a write after the switch; no reverse stream brought it back.
	mongo_cmd "$DST_URI" "$db" '{"insert": "a", "documents": [{"_id": 3}]}' >/dev/null
	retire --yes
	assert_failure 1
	[[ $stderr == *'no writes on the selected namespaces after'* ]]
	[[ $stderr == *'the source and the target differ'* ]]
	assert_source_untouched before

	# The source took a write after the switch, and no reverse stream accounts for it.
	mongo_cmd "$SRC_URI" "$db" '{"insert": "b", "documents": [{"_id": "stray"}]}' >/dev/null
	snapshot_source before
	retire --yes
	assert_failure 1
	[[ $stderr == *"no reverse stream: no checkpoint $name-reverse"* ]]
	[[ $stderr == *"$db.b: 1 writes"* ]]
	[[ $stderr == *'something may still write there'* ]]
	assert_source_untouched before

	# A reverse stream accounts for the source's writes (it has caught up,
	# or wrote its checkpoint within --fresh), but the stray write differs.
	# (Stopped once caught up: a reader polling FerretDB slows every check.)
	start_reverse
	source_holds "$db.a" 3
	stop_reverse
	snapshot_source before
	retire --yes
	assert_failure 1
	[[ $stderr =~ "reverse stream $name-reverse: "(caught up|running) ]]
	[[ $stderr == *'the source and the target differ'* ]]
	assert_source_untouched before

	# A reverse stream that stopped behind the target does not count.
	mongo_cmd "$DST_URI" "$db" '{"insert": "a", "documents": [{"_id": 4}]}' >/dev/null
	retire --fresh 0s --yes
	assert_failure 1
	[[ $stderr == *"reverse stream $name-reverse: not running"* ]]
	[[ $stderr != *'sync-check'* ]]
	assert_source_untouched before
	# Within --fresh it counts as running; then the comparison refuses.
	retire --fresh 1h --yes
	assert_failure 1
	[[ $stderr == *"reverse stream $name-reverse: running (checkpoint"* ]]
	[[ $stderr == *'the source and the target differ'* ]]
	assert_source_untouched before

	# Made safe: the target holds the stray document too, the stream has
	# brought everything over.
	mongo_cmd "$DST_URI" "$db" '{"insert": "b", "documents": [{"_id": "stray"}]}' >/dev/null
	start_reverse
	source_holds "$db.a" 4
	stop_reverse
	retire --dry-run
	assert_success
	assert_line "would drop $db.a 4 documents"
	assert_line "would drop $db.b 3 documents"
	assert_line 'dry run: 2 namespaces, 7 documents; nothing dropped'
	assert_equal "$(mongo_dump "$SRC_URI" "$db.a" | wc -l)" 4

	mongo_dump "$SRC_URI" "$db.keep" >keep.before
	retire --yes --stop-cmd 'touch stopped'
	assert_success
	assert_output "dropped $db.a 4 documents
dropped $db.b 3 documents
retired 2 namespaces, 7 documents"
	assert_file_exist stopped
	assert_equal "$(mongo_dump "$SRC_URI" "$db.a" | wc -l)" 0
	assert_equal "$(mongo_dump "$SRC_URI" "$db.b" | wc -l)" 0
	diff keep.before <(mongo_dump "$SRC_URI" "$db.keep")
	# The target is not touched.
	assert_equal "$(mongo_dump "$DST_URI" "$db.a" | wc -l)" 4
	retire --yes
	assert_success
	assert_output 'nothing to retire: no selected namespace on the source'
}

@test "source-retire: bad usage is status 2 and --help is status 0" {
	run source-retire --yes
	assert_failure 2
	assert_output --partial 'ts at the switch is required'
	run source-retire --since nope
	assert_failure 2
	run source-retire --since 1,1 --yes --dry-run
	assert_failure 2
	run source-retire --help
	assert_success
	assert_output --partial 'usage: source-retire'
}
