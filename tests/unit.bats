#!/usr/bin/env bats
# The C unit tests (tests/unit/*.c, built into $OPLOGKIT_UNIT_DIR): each
# binary exits 0 when all its checks hold. bats 1.8 (Debian 12) cannot
# make one @test per binary at run time, so one test runs them all and
# names every one that failed, with its output.

load lib/helpers

@test "every C unit test binary exits 0" {
	dir=${OPLOGKIT_UNIT_DIR:-$ROOT/build/plain/unit}
	shopt -s nullglob
	binaries=("$dir"/*)
	((${#binaries[@]})) || fail "no unit test binaries in $dir: the build made none"
	failed=()
	cd "$ROOT"
	for binary in "${binaries[@]}"; do
		[[ -x $binary ]] || continue
		if timeout 60 "$binary" >"$BATS_TEST_TMPDIR/out" 2>&1; then
			echo "ok ${binary##*/}"
		else
			echo "FAILED ${binary##*/} (status $?):"
			sed 's/^/    /' "$BATS_TEST_TMPDIR/out"
			failed+=("${binary##*/}")
		fi
	done
	if ((${#failed[@]})); then
		echo "failed: ${failed[*]}"
		return 1
	fi
}
