#!/usr/bin/env bats
# oplogkit-migrate's command line: --help against the man page, --version,
# usage errors, and values that would be shell code if the script ever
# built a command string (it runs every program from an argv array).

load lib/helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	db=$(unique_db mcli)
}

# A failed test must not leave the hostile run's streams running.
teardown() {
	[[ ! -d $BATS_TEST_TMPDIR/$EVIL ]] || oplogkit-migrate stop -w "$BATS_TEST_TMPDIR/$EVIL" >/dev/null 2>&1 3>&- || true
}

# A value that runs a command wherever a shell reads it as code.
EVIL='a b'"'"'$(touch pwned1)'"'"'"$(touch pwned2)"`touch pwned3`;touch pwned4 #'

# Nothing ran: no pwned file anywhere under the test's directory.
assert_nothing_ran() {
	run find "$BATS_TEST_TMPDIR" -name 'pwned*'
	assert_output ""
}

@test "oplogkit-migrate --help lists every option of the man page; --version; -h" {
	run oplogkit-migrate --help
	assert_success
	assert_line --index 0 --partial 'usage: oplogkit-migrate [options] [SOURCE_URI TARGET_URI]'
	help=$output
	options=$(sed -n '/^\.Ss Options/,/^\.Sh /p' "$ROOT/man/oplogkit-migrate.1" |
		grep '^\.It' | grep -o 'Fl -\{0,1\}[a-z][a-z-]*' | sed 's/^Fl /-/' | sort -u)
	(($(wc -l <<<"$options") >= 18)) || fail "too few options read from the man page: $options"
	for option in $options; do
		[[ $help =~ (^|[ ,])$option([ ,=]|$) ]] || fail "--help does not list $option"
	done
	run oplogkit-migrate -h
	assert_success
	assert_equal "$output" "$help"
	run oplogkit-migrate --version
	assert_success
	assert_output --regexp '^oplogkit-migrate \(oplogkit\) [0-9]+\.[0-9]+\.[0-9]+$'
	run oplogkit-migrate status --help
	assert_success
}

@test "oplogkit-migrate: extra operands, unknown or misplaced options and bad numbers are usage errors, exit 2, nothing run" {
	w=$BATS_TEST_TMPDIR/w
	for args in "-w $w a b c" "-w $w --bogus a b" "-w $w --jobs 0 a b" "-w $w --jobs 65 a b" "-w $w --jobs x a b" \
		"-w $w --rechecks -1 a b" "-w $w --max-lag 5parsecs a b" "-w $w --max-lag= a b" "-w $w a b --name" \
		"-w $w --switch=yes a b" "status -w $w extra" "stop -w $w extra" "status -w $w --switch" "-w $w --yes a b" \
		"retire -w $w --since 12 a b" "-w $w --json a b" "retire -w $w --jobs 3 a b"; do
		run -2 oplogkit-migrate $args
		assert_line --partial 'usage: oplogkit-migrate'
	done
	run -2 oplogkit-migrate -w "$BATS_TEST_TMPDIR/w" a b c
	assert_line --index 0 "oplogkit-migrate: extra operand 'c'"
	# No URI at all: a usage error that says where URIs come from.
	OPLOGKIT_SOURCE_URI= OPLOGKIT_TARGET_URI= run -2 oplogkit-migrate -w "$BATS_TEST_TMPDIR/w"
	assert_line --index 0 --partial 'no source URI: give it as an operand, with --source-uri-file, or in $OPLOGKIT_SOURCE_URI'
	assert_not_exist "$BATS_TEST_TMPDIR/w"
}

@test "oplogkit-migrate: die does not print its status into the message" {
	# The lost-history path and the usage path both end in die.
	run -2 oplogkit-migrate status -w "$BATS_TEST_TMPDIR/none"
	assert_output "oplogkit-migrate: $BATS_TEST_TMPDIR/none: no such work directory"
}

@test "oplogkit-migrate: hostile values in every option run nothing and arrive intact" {
	echo old >entry
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1}]}' >/dev/null
	# Numbers and timestamps are checked before anything runs.
	for option in --jobs --max-lag --rechecks; do
		run -2 oplogkit-migrate -w "$EVIL" "$option" "$EVIL" "$SRC_URI" "$DST_URI"
		assert_output --partial "$option: "
	done
	for option in --since --rechecks; do
		run -2 oplogkit-migrate retire -w "$EVIL" "$option" "$EVIL" "$SRC_URI" "$DST_URI"
	done
	assert_not_exist "$EVIL"
	assert_nothing_ran

	# A whole run with them: every phase, the switch attempt included (its
	# fence fails, so nothing is switched).
	run oplogkit-migrate -w "$EVIL" --name "$EVIL" --ns "$db.*" --exclude "$EVIL" --switch \
		--proxy "$EVIL" "$SRC_URI" "$DST_URI" -- --fence-cmd false --unfence-cmd true \
		--entry-file "$PWD/entry" --entry-value "$EVIL" 3>&-
	echo "$output"
	assert_failure
	assert_output --partial '[check]'
	# The name reached the target intact: the replay's checkpoint is there.
	name_json=$(jq -Rn --arg v "$EVIL" '$v')
	assert_equal "$(mongo_cmd "$DST_URI" oplogkit "{\"count\": \"checkpoints\", \"query\": {\"_id\": $name_json}}" | jq .n)" 1
	run oplogkit-migrate status -w "$EVIL"
	assert_success
	assert_line --regexp '^reader: running'
	run oplogkit-migrate stop -w "$EVIL" 3>&-
	assert_success
	# retire with a valid ts and the hostile name: source-retire runs, refuses without --yes.
	run oplogkit-migrate retire -w "$EVIL" --name "$EVIL" --ns "$db.*" --exclude "$EVIL" --since 1,1 3>&-
	assert_failure
	assert_nothing_ran
	assert_equal "$(cat entry)" old
}
