#!/usr/bin/env bats
# The libFuzzer harnesses of tests/fuzz/ (see its README): each replays
# its regressions (every crash found so far) and then fuzzes for 10 s
# over the corpus seeded from the fixtures. A crash, a sanitizer report,
# a leak or a broken property fails the test. The long form is
# `make fuzz-short` (60 s each) or `tests/fuzz/run SECONDS`.

load lib/helpers

# clang is installed by scripts/setup: without it these tests fail, as
# any missing tool of the suite must (a skip would hide it from CI).
setup_file() {
	make -C "$ROOT" -s fuzz >&2
}

fuzz() {
	run timeout 120 "$ROOT/tests/fuzz/run" 10 "$1"
	echo "$output"
	assert_success
	assert_output --partial "$1: ok"
}

@test "fuzz: the frame reader survives hostile streams and its regressions" {
	fuzz fuzz_stream
}

@test "fuzz: namespace globs, regexes, renames and command namespaces keep ns.h's contracts" {
	fuzz fuzz_ns
}

@test "fuzz: oplog-filter's rules give a valid stream, copy without rules, and are idempotent" {
	fuzz fuzz_filter
}

@test "fuzz: the \$v:2 diff applier and translator agree and stay in bounds" {
	fuzz fuzz_diff
}

@test "fuzz: the \$set/\$unset applier gives valid documents and is idempotent" {
	fuzz fuzz_operators
}

@test "fuzz: oplog-show's bsondump text reads back its doubles and indents without changing a byte" {
	fuzz fuzz_extjson
}

@test "fuzz: timestamp, duration, number and zstd level arguments parse without undefined behaviour" {
	fuzz fuzz_args
}
