#!/usr/bin/env bats
# Crash trials, short form: kill -9 a part of a live migration under a
# load of 30 writes a second (the long form: 80), rerun it,
# and nothing is lost (`make trials` runs the long form: 50 trials over
# oplog-read, oplog-apply, snap-import and the script).

load lib/helpers

@test "kill -9 of each part of a live migration, then a rerun: no document lost or different" {
	for victim in oplog-apply oplogkit-migrate; do
		run env OPLOGKIT_TRIAL_VICTIM=$victim "$ROOT/tests/trials.sh" -n 1 -r 30
		assert_success
		assert_line --regexp "^1 $victim [0-9.]+s (yes|no) 0$"
		assert_output --partial "trials with lost or differing documents: 0"
	done
}
