#!/usr/bin/env bash
# servers.sh - start and stop the two FerretDB test servers, source and target.
#
#   servers.sh start            start both; print their URIs as
#                               OPLOGKIT_TEST_SOURCE_URI=... / ..._TARGET_URI=...
#   servers.sh stop             stop both
#   servers.sh start|stop|restart NAME   one server (source or target), same
#                               port and data, for fault tests
#   servers.sh status           the URIs of the servers running now
#   servers.sh start|stop auth  one more server that asks for a password:
#                               user "user", $OPLOGKIT_AUTH_PASSWORD
#
# Everything lives under $OPLOGKIT_SERVERS_DIR (required): per server a
# state dir NAME/ holding its SQLite files in NAME/sqlite/, its log
# NAME.log, NAME.pid and NAME.port. A fresh server gets the capped
# local.oplog.rs without which FerretDB writes no oplog: on the source for
# the forward stream, on the target for a reverse (rollback) stream.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${OPLOGKIT_SERVERS_DIR:?servers.sh: set OPLOGKIT_SERVERS_DIR to a directory}
tools=${OPLOGKIT_TOOLS_DIR:-$root/build/plain/tools}
oplog_bytes=$((256 * 1024 * 1024))
# FerretDB reads its whole oplog for every query on it (no index on ts),
# so a reader's cost grows with the entries kept. OPLOGKIT_OPLOG_MAX caps
# them (FerretDB trims every OPLOGKIT_CAPPED_CLEANUP); tests/run, the
# demo and the benchmarks set it.
oplog_max=${OPLOGKIT_OPLOG_MAX:-}
capped_cleanup=${OPLOGKIT_CAPPED_CLEANUP:-1m}
names=(source target)

say() { echo "servers.sh: $*" >&2; }
die() { say "$@"; exit 1; }

ferretdb() {
	if [[ -z ${OPLOGKIT_FERRETDB:-} ]]; then
		OPLOGKIT_FERRETDB=$("$root/scripts/build-ferretdb.sh")
	fi
	echo "$OPLOGKIT_FERRETDB"
}

# The URI a client uses; the auth server's carries its user and password.
uri_of() {
	local port=${2:-$(<"$dir/$1.port")} user=
	[[ $1 != auth ]] || user="user:$OPLOGKIT_AUTH_PASSWORD@"
	echo "mongodb://${user}127.0.0.1:$port/"
}

# The pid file's process, if it is still our FerretDB (pids get reused).
running_pid() {
	local pid
	[[ -f $dir/$1.pid ]] || return 1
	pid=$(<"$dir/$1.pid")
	[[ -r /proc/$pid/cmdline ]] && grep -q ferretdb "/proc/$pid/cmdline" 2>/dev/null ||
		return 1
	echo "$pid"
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below the kernel's ephemeral range (32768-60999 on Linux): a port there
# may be the local end of one of the suite's own connections, free to a
# probe but not to bind.
pick_port() {
	local port
	for _ in {1..50}; do
		port=$((20000 + RANDOM % 12000))
		if port_is_free "$port"; then
			echo "$port"
			return 0
		fi
	done
	die "no free loopback port found"
}

# Start in the background, detached from every descriptor we hold: bats
# waits for its fd 3 to close, so a server holding it would hang the suite.
launch() {
	local name=$1 port=$2 state=$dir/$1 binary fd auth=()
	binary=$(ferretdb)
	mkdir -p "$state/sqlite"
	if [[ $name == auth ]]; then
		auth=(--test-enable-new-auth --setup-username=user
			--setup-password="${OPLOGKIT_AUTH_PASSWORD:?servers.sh: set OPLOGKIT_AUTH_PASSWORD}"
			--setup-database=admin)
	fi
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid "$binary" --handler=sqlite --sqlite-url="file:$state/sqlite/" \
			--state-dir="$state" --listen-addr="127.0.0.1:$port" \
			--repl-set-name=rs0 --telemetry=disable --debug-addr=- \
			--test-capped-cleanup-interval="$capped_cleanup" "${auth[@]}" \
			</dev/null >>"$dir/$name.log" 2>&1
	) &
	echo $! >"$dir/$name.pid"
}

# Wait until it answers a ping. 1: it died because the port was taken.
# A loaded CI machine has taken over 10 s to start one.
await() {
	local name=$1 port=$2 pid wait=60 deadline
	deadline=$((SECONDS + wait))
	pid=$(<"$dir/$name.pid")
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -q "address already in use" "$dir/$name.log" && return 1
			tail -n 20 "$dir/$name.log" >&2
			die "$name: FerretDB exited at start (log: $dir/$name.log)"
		fi
		"$tools/mongo-cmd" --wait 1 "$(uri_of "$name" "$port")" admin \
			'{"ping": 1}' >/dev/null 2>&1 && return 0
	done
	die "$name: no answer on 127.0.0.1:$port after $wait s (log: $dir/$name.log)"
}

create_oplog() {
	"$tools/mongo-cmd" "$(uri_of "$1")" local \
		"{\"create\": \"oplog.rs\", \"capped\": true, \"size\": $oplog_bytes${oplog_max:+, \"max\": $oplog_max}}" >/dev/null ||
		die "$1: cannot create local.oplog.rs"
}

start_one() {
	local name=$1 port fresh=0 try
	if running_pid "$name" >/dev/null; then
		return 0
	fi
	[[ -x $tools/mongo-cmd ]] || die "$tools/mongo-cmd missing: run make first"
	[[ -d $dir/$name ]] || fresh=1
	mkdir -p "$dir"
	if [[ -f $dir/$name.port ]]; then
		# A restart keeps its port: the tests hold its URI.
		port=$(<"$dir/$name.port")
		launch "$name" "$port"
		await "$name" "$port" || die "$name: port $port is taken"
	else
		for try in 1 2 3 4 5; do
			port=$(pick_port)
			launch "$name" "$port"
			await "$name" "$port" && break
			say "$name: port $port was taken, try $try"
			((try < 5)) || die "$name: no port to listen on"
		done
		echo "$port" >"$dir/$name.port"
	fi
	if ((fresh)); then
		create_oplog "$name"
	fi
}

# Stopping takes FerretDB about two seconds: signal all first, then wait.
stop() {
	local name pid pids=()
	for name in "$@"; do
		if pid=$(running_pid "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
		rm -f "$dir/$name.pid"
	done
	for pid in "${pids[@]}"; do
		for _ in {1..100}; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "pid $pid ignored SIGTERM for 10 s, killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

status() {
	local name
	for name in "${names[@]}"; do
		running_pid "$name" >/dev/null || die "$name: not running"
	done
	echo "OPLOGKIT_TEST_SOURCE_URI=$(uri_of source)"
	echo "OPLOGKIT_TEST_TARGET_URI=$(uri_of target)"
}

check_name() {
	case $1 in
	source | target | auth) ;;
	*) die "unknown server '$1' (source, target or auth)" ;;
	esac
}

main() {
	local command=${1:-} name
	case $command:$# in
	start:1)
		for name in "${names[@]}"; do start_one "$name"; done
		status
		;;
	stop:1) stop "${names[@]}" ;;
	status:1) status ;;
	start:2 | stop:2 | restart:2)
		check_name "$2"
		[[ $command == start ]] || stop "$2"
		[[ $command == stop ]] || start_one "$2"
		;;
	*)
		echo "usage: servers.sh start|stop|status | start|stop|restart source|target|auth" >&2
		exit 2
		;;
	esac
}

main "$@"
