# pair.bash - sourced by tests/run, the benchmarks (bench/lib.sh) and test
# files that want a pair of their own (rollback.bats): start servers.sh's
# source and target and take their URIs from what it prints.

# server_pair_start: servers.sh start under $OPLOGKIT_SERVERS_DIR; exports
# OPLOGKIT_TEST_SOURCE_URI and OPLOGKIT_TEST_TARGET_URI. Fails as
# servers.sh does.
server_pair_start() {
	local uris
	uris=$("$(dirname "${BASH_SOURCE[0]}")/servers.sh" start) || return
	OPLOGKIT_TEST_SOURCE_URI=$(sed -n 's/^OPLOGKIT_TEST_SOURCE_URI=//p' <<<"$uris")
	OPLOGKIT_TEST_TARGET_URI=$(sed -n 's/^OPLOGKIT_TEST_TARGET_URI=//p' <<<"$uris")
	export OPLOGKIT_TEST_SOURCE_URI OPLOGKIT_TEST_TARGET_URI
}
