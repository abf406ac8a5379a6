#!/usr/bin/env bats
# One command-line shape for every program: --help lists every option its
# man page lists, --version answers, extra operands are a usage error
# (exit 2, naming the operand), and a short option means one thing in
# every program: all of it is decided at parsing. The last test runs the
# MongoDB Database Tools spellings against the real servers.
#
# PROGRAMS lists each program with a command line that has one operand
# too many; a program alone (oplog-show, oplog-filter, migrate-report)
# takes any number of operands. Not listed: oplogkit-migrate, a script,
# has no --version yet (issue 18).
# Shorts that clashed got one meaning: -p is --progress, -r oplog-apply's
# --resume, -f its --follow (oplog-show's --pretty, --relaxed, --format
# keep their long names only).

load lib/helpers
bats_require_minimum_version 1.5.0

PROGRAMS=(
	"snap-export a b"
	"snap-import a b c"
	"sync-check a b c"
	"entry-switch a b c"
	"source-retire a b c"
	"entry-proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:1 --control ctl extra"
	"oplog-show"
	"oplog-filter"
	"oplog-read a b"
	"oplog-apply a b c"
	"migrate-report"
)

# Every option a man page names in an .It line: "-o", "--output", ...
man_options() {
	sed -n 's/^\.It //p' "$ROOT/man/$1.1" | grep -o 'Fl -\?[A-Za-z0-9][A-Za-z0-9-]*' |
		sed 's/^Fl /-/' | sort -u
}

@test "--help lists every option the man page lists, for every program" {
	missing=()
	for line in "${PROGRAMS[@]}"; do
		program=${line%% *}
		run --separate-stderr "$program" --help
		assert_success
		help=$output
		[[ $help == "usage: $program "* ]]
		while read -r option; do
			[[ -n $option ]] || continue
			if ! grep -qE -- "(^|[ ,])$option([ ,=[]|\$)" <<<"$help"; then
				missing+=("$program $option")
			fi
		done < <(man_options "$program")
	done
	if ((${#missing[@]})); then
		printf 'not in --help: %s\n' "${missing[@]}"
		return 1
	fi
}

@test "-h is --help and --version prints the version, for every program" {
	for line in "${PROGRAMS[@]}"; do
		program=${line%% *}
		run --separate-stderr "$program" -h
		assert_success
		[[ $output == "usage: $program "* ]]
		run --separate-stderr "$program" --version
		assert_success
		assert_output "$program (oplogkit) 0.1.0"
	done
}

@test "an operand too many is a usage error: exit 2 naming it, nothing done" {
	mkdir "$BATS_TEST_TMPDIR/cwd"
	cd "$BATS_TEST_TMPDIR/cwd"
	for line in "${PROGRAMS[@]}"; do
		read -ra words <<<"$line"
		((${#words[@]} > 1)) || continue
		run --separate-stderr "${words[@]}"
		assert_failure 2
		[[ $stderr == *"unexpected argument '${words[-1]}'"* ]]
		[[ $stderr == *"usage: ${words[0]} "* ]]
	done
	# Nothing ran: no file appeared (entry-proxy binds its socket only after parsing).
	assert_equal "$(ls -A)" ''
}

@test "an unknown option is a usage error with the usage line, for every program" {
	for line in "${PROGRAMS[@]}"; do
		program=${line%% *}
		run --separate-stderr "$program" --no-such-option
		assert_failure 2
		[[ $stderr == *"usage: $program "* ]]
	done
}

@test "a short option means one thing in every program that has it" {
	declare -A meaning
	clashes=()
	for line in "${PROGRAMS[@]}"; do
		program=${line%% *}
		while read -r short long; do
			if [[ -n ${meaning[$short]:-} && ${meaning[$short]%% *} != "$long" ]]; then
				clashes+=("$short: ${meaning[$short]} and $long in $program")
			fi
			meaning[$short]="$long in $program"
		done < <("$program" --help | sed -n 's/^  \(-[A-Za-z0-9]\), \(--[a-z0-9-]*\).*/\1 \2/p')
	done
	if ((${#clashes[@]})); then
		printf '%s\n' "${clashes[@]}"
		return 1
	fi
}

@test "the MongoDB Database Tools spellings work: --uri URI, --nsInclude, --nsFrom/--nsTo" {
	db=$(unique_db tools_habits)
	printf '{"_id": 1, "a": "kept"}\n{"_id": 2, "b": {"$numberLong": "9007199254740993"}}\n' |
		mongo_insert "$SRC_URI" "$db.keep"
	printf '{"_id": 1, "a": "left out"}\n' | mongo_insert "$SRC_URI" "$db.skip"
	# --uri takes the URI itself (it was an abbreviation of --uri-file).
	run --separate-stderr snap-export --uri "$SRC_URI" --nsInclude "$db.*" --nsExclude "$db.skip" \
		-o "$BATS_TEST_TMPDIR/snap.bson"
	assert_success
	run --separate-stderr snap-import --uri "$DST_URI" --nsFrom "$db.keep" --nsTo "$db.renamed" \
		"$BATS_TEST_TMPDIR/snap.bson"
	assert_success
	assert_equal "$(mongo_dump "$DST_URI" "$db.renamed")" "$(mongo_dump "$SRC_URI" "$db.keep")"
	assert_equal "$(mongo_dump "$DST_URI" "$db.keep")" ''
	assert_equal "$(mongo_dump "$DST_URI" "$db.skip")" ''
	# An operand and --uri, or an --nsFrom without its --nsTo: usage errors.
	run --separate-stderr snap-export --uri "$SRC_URI" "$SRC_URI"
	assert_failure 2
	run --separate-stderr snap-import --nsFrom "$db.keep" "$BATS_TEST_TMPDIR/snap.bson" "$DST_URI"
	assert_failure 2
	[[ $stderr == *"--nsFrom '$db.keep' has no --nsTo"* ]]
}
