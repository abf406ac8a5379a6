# helpers.bash - what every test file gets from `load lib/helpers`.
#
# $ROOT (the repo), bin/ on PATH, $FIXTURES (../shared/fixtures, see
# scripts/shared-dir; $OPLOGKIT_FIXTURES wins), $SRC_URI and $DST_URI (the two servers tests/run
# started, or $OPLOGKIT_TEST_SOURCE_URI / _TARGET_URI), and functions to
# talk to them through mongo-cmd, a test tool that shares no code with
# the programs under test. bats-support, bats-assert, bats-file loaded.

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PATH=$ROOT/bin:$PATH
FIXTURES=${OPLOGKIT_FIXTURES:-$("$ROOT/scripts/shared-dir" || echo /nonexistent)/fixtures}
SRC_URI=${OPLOGKIT_TEST_SOURCE_URI:-}
DST_URI=${OPLOGKIT_TEST_TARGET_URI:-}
MONGO_CMD=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/mongo-cmd
export ROOT PATH FIXTURES SRC_URI DST_URI

for _lib in bats-support bats-assert bats-file; do
	load "${OPLOGKIT_BATS_LIB:-/usr/lib/bats}/$_lib/load"
done
unset _lib

# The tool behind these; a missing URI says where servers come from.
_mongo() {
	local mode=$1 uri=${2:-}
	shift 2
	if [[ -z $uri ]]; then
		echo "no server URI: run the tests through tests/run" >&2
		return 1
	fi
	"$MONGO_CMD" ${mode:+"$mode"} "$uri" "$@"
}

# mongo_cmd URI DB JSON: run a command; print the reply as relaxed
# Extended JSON on one line; status 1 when the command fails.
mongo_cmd() { _mongo "" "$@"; }

# mongo_dump URI NS: every document of NS sorted by _id, one canonical
# Extended JSON line each (local.oplog.rs: in the order written).
mongo_dump() { _mongo --dump "$@"; }

# mongo_dump_bson URI NS: the same as raw BSON frames, a stream that
# oplog-show reads (local.oplog.rs: the server's oplog as a stream).
mongo_dump_bson() { _mongo --dump-bson "$@"; }

# mongo_insert URI NS [BATCH]: insert the Extended JSON lines of stdin.
mongo_insert() { _mongo --insert "$@"; }

# unique_db NAME: a database name no other test (or earlier run against
# the same servers) uses; the same NAME gives the same name in one test.
unique_db() {
	local name=${1//[^A-Za-z0-9_]/_}
	echo "${name:0:30}_${BATS_SUITE_TEST_NUMBER:-0}_${BATS_ROOT_PID:-$$}"
}

# server_stop|server_start|server_restart source|target: for fault tests;
# the port and the data stay. Skips where tests/run did not start them.
server_stop() { _servers stop "$1"; }
server_start() { _servers start "$1"; }
server_restart() { _servers restart "$1"; }
_servers() {
	[[ -n ${OPLOGKIT_SERVERS_DIR:-} ]] ||
		skip "the servers are not managed by tests/run"
	"$ROOT/tests/lib/servers.sh" "$@"
}

# free_port: a loopback port nothing listens on now.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
	done
}

# auth_server_start PASSWORD: one more FerretDB, of this test file, with
# authentication (user "user", PASSWORD) and an oplog, so that passwords
# are really used; exports AUTH_PORT and AUTH_URI. auth_server_stop ends it.
auth_server_start() {
	export OPLOGKIT_AUTH_PASSWORD=$1
	OPLOGKIT_SERVERS_DIR=$BATS_FILE_TMPDIR/servers "$ROOT/tests/lib/servers.sh" start auth
	AUTH_PORT=$(<"$BATS_FILE_TMPDIR/servers/auth.port")
	export AUTH_PORT AUTH_URI="mongodb://user:$1@127.0.0.1:$AUTH_PORT/"
}

auth_server_stop() {
	OPLOGKIT_SERVERS_DIR=$BATS_FILE_TMPDIR/servers "$ROOT/tests/lib/servers.sh" stop auth
}

# start_live_migration NAME NS_GLOB: in the current directory, oplog-read
# from now into spool.bson (pid in $reader, stderr in read.err) and, once
# the spool has its header, oplog-apply --follow --name NAME --ns NS_GLOB
# of it to the target (pid in $applier, output in apply.out).
start_live_migration() {
	local start _
	start=$(oplog-read --now "$SRC_URI")
	oplog-read --since "$start" -o spool.bson "$SRC_URI" 2>read.err 3>&- &
	reader=$!
	for _ in {1..50}; do [[ -s spool.bson ]] && break; sleep 0.1; done
	oplog-apply --follow --name "$1" --ns "$2" spool.bson "$DST_URI" >apply.out 2>&1 3>&- &
	applier=$!
}
