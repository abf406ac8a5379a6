# metrics.bash - reading a --metrics file in tests: `load lib/metrics`
# after lib/helpers.

# metric FILE NAME: the value of NAME's sample in FILE ("" if none).
metric() {
	sed -n "s/^$2{[^}]*} \\(.*\\)\$/\\1/p" "$1" | head -n 1
}

# metric_phase FILE: the phase label of FILE's oplogkit_phase sample.
metric_phase() {
	sed -n 's/^oplogkit_phase{.*,phase="\([^"]*\)"} 1$/\1/p' "$1"
}

# Every line is a comment (# HELP / # TYPE) or NAME{LABELS} VALUE.
assert_prometheus_text() {
	local bad
	bad=$(grep -v -E '^# (HELP|TYPE) oplogkit_[a-z_]+ .+$|^oplogkit_[a-z_]+\{program="[a-z-]+",name="[^"]*"(,phase="[a-z]+")?\} [0-9]+(\.[0-9]+)?$' "$1" || true)
	[[ -z $bad ]] || fail "not Prometheus text in $1: $bad"
	[[ -s $1 ]] || fail "$1 is empty"
}

# clock_past T N: our clock is at least N seconds past T (a ts's seconds).
clock_past() {
	(($(date +%s) >= $1 + $2))
}

# wait_for DESCRIPTION COMMAND...: until COMMAND succeeds (at most 60 s).
wait_for() {
	local what=$1
	shift
	for _ in $(seq 1 600); do
		"$@" && return 0
		sleep 0.1
	done
	fail "waited 60 s for $what"
}

# phase_is FILE PHASE: FILE exists and says PHASE.
phase_is() {
	[[ -s $1 && $(metric_phase "$1") == "$2" ]]
}
