# migrate.bash - what the oplogkit-migrate*.bats files share: each test in
# its own directory, on its own database and work directory, and no
# migration of a test outliving it. `load lib/migrate` after lib/helpers.

# migrate_setup NAME: into the test's directory; $db (unique_db NAME) and
# $work, the migration's work directory.
migrate_setup() {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db "$1")
	work=$BATS_TEST_TMPDIR/work
}

# migrate_teardown: stop what the test's migration still runs.
migrate_teardown() {
	[[ ! -d $work ]] || oplogkit-migrate stop -w "$work" >/dev/null 2>&1 3>&- || true
}

# gone PID: the process has exited (a zombie not yet reaped by init counts).
gone() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	[[ -z $state || $state == Z* ]]
}
