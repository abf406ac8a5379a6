# lib.sh - what every bench script shares: paths, the machine header,
# timing (median of $BENCH_RUNS runs, wall seconds and peak RSS from
# /usr/bin/time), the two FerretDB servers, cached streams, and the
# markdown results file. Sourced by bench/*.sh; bash.
#
# These machines are noisy and shared: no figure stands alone. Every
# script times its baseline in the same run, repeats each measurement
# and reports ratios of medians.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
WORK=$BENCH/work
RESULTS=$BENCH/results
RUNS=${BENCH_RUNS:-3}
TOOLS=$ROOT/build/plain/tools
PEERS=${OPLOGKIT_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/oplogkit/peers}
PATH=$ROOT/bin:$WORK/bin:$PATH
export PATH
# shellcheck source=tests/lib/pair.bash
source "$ROOT/tests/lib/pair.bash"

mkdir -p "$WORK/bin" "$RESULTS"

say() { echo "bench: $*" >&2; }
bench_die() { say "$@"; exit 1; }

# --- building the bench's own helpers -------------------------------------

# bulk-writer writes with plain libmongoc on purpose (it is the baseline);
# it takes its synthetic documents and entry readers from libcommon, and
# lag-sample libcommon's lag_measure, as sync-check does.
build_helpers() {
	local cflags="-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I$ROOT/common"
	local libs helper
	libs="$ROOT/build/plain/libcommon.a $(pkg-config --cflags --libs libmongoc-1.0 libbson-1.0 libzstd) -lpthread -lm"
	for helper in bulk-writer lag-sample; do
		if [[ ! -x $WORK/bin/$helper || $BENCH/$helper.c -nt $WORK/bin/$helper ||
			$ROOT/build/plain/libcommon.a -nt $WORK/bin/$helper ]]; then
			# shellcheck disable=SC2086
			cc $cflags -o "$WORK/bin/$helper" "$BENCH/$helper.c" $libs
		fi
	done
}

# --- the machine ---------------------------------------------------------

tool_version() {
	"$@" --version 2>/dev/null | head -n 1 || echo "not found"
}

machine_header() {
	local mem gcc mongoc ferretdb
	mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	gcc=$(cc --version | head -n 1)
	mongoc=$(pkg-config --modversion libmongoc-1.0 2>/dev/null || echo "?")
	ferretdb=$(basename "$("$ROOT/scripts/build-ferretdb.sh" 2>/dev/null || echo "?")")
	echo "- machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $mem memory, load average ${MACHINE_LOAD:-?} at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "- kernel: $(uname -sr); compiler: $gcc; libmongoc/libbson $mongoc; zstd $(pkg-config --modversion libzstd 2>/dev/null || echo "?")"
	echo "- servers: $ferretdb (${BACKEND:-SQLite backend}), both on this machine"
	echo "- peers: bsondump $(peer_version bsondump), mongodump/mongorestore $(peer_version mongodump) (mongo-tools 8fa3cfc8, built from ../shared/peers)"
	echo "- oplogkit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")$(git -C "$ROOT" diff --quiet HEAD -- . ":!bench/results" 2>/dev/null || echo " (with uncommitted changes)"); runs per figure: $RUNS, median taken"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
}

peer_version() {
	[[ -x $PEERS/$1 ]] || { echo "missing"; return; }
	"$PEERS/$1" --version 2>/dev/null | awk -F': ' '/Go version/ { print "(" $2 ")" }'
}

need_peers() {
	local tool
	for tool in "$@"; do
		[[ -x $PEERS/$tool ]] || bench_die "$PEERS/$tool missing: run scripts/setup --peers"
	done
}

# --- timing --------------------------------------------------------------

# time_once CMD: run the shell command CMD once; print "SECONDS RSS_KB".
# The RSS is the peak of the largest process CMD ran (wait4's maxrss).
time_once() {
	local out=$WORK/time.$$
	if ! /usr/bin/time -f '%e %M' -o "$out" bash -c "$1" >/dev/null; then
		cat "$out" >&2
		bench_die "failed: $1"
	fi
	tail -n 1 "$out"
	rm -f "$out"
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure VAR CMD [SETUP]: run CMD $RUNS times (SETUP before each, not
# timed); set VAR_SECS, VAR_RSS (KiB) to the medians and VAR_ALL to the
# seconds of every run.
measure() {
	local var=$1 cmd=$2 setup=${3:-} run secs=() rss=() line
	for ((run = 1; run <= RUNS; run++)); do
		[[ -z $setup ]] || bash -c "$setup" >/dev/null
		line=$(time_once "$cmd")
		secs+=("${line% *}")
		rss+=("${line#* }")
	done
	printf -v "${var}_SECS" '%s' "$(printf '%s\n' "${secs[@]}" | median)"
	printf -v "${var}_RSS" '%s' "$(printf '%s\n' "${rss[@]}" | median)"
	printf -v "${var}_ALL" '%s' "${secs[*]}"
	say "$var: ${secs[*]} s (median $(eval echo "\$${var}_SECS")), peak RSS $(eval echo "\$${var}_RSS") KiB"
}

# Arithmetic on decimals: calc EXPR (awk syntax) prints with 2 decimals.
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
calc0() { awk "BEGIN { printf \"%.0f\", $1 }"; }
# mb_per_s BYTES SECONDS
mb_per_s() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? b / 1e6 / s : 0) }'; }
# verdict VALUE OP GOAL: "met" or "missed"
verdict() { awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN { ok = op == ">=" ? v >= g : v <= g; print ok ? "met" : "missed" }'; }

# --- streams -------------------------------------------------------------

# stream_file BYTES: a gen-oplog stream of about BYTES, generated once
# into bench/work and reused by every script (same seed, same bytes).
stream_file() {
	local bytes=$1 file=$WORK/stream-$1.bson
	if [[ ! -s $file ]]; then
		say "generating a $bytes-byte stream into $file"
		"$TOOLS/gen-oplog" --bytes "$bytes" --namespaces 20 --seed 1 >"$file.tmp"
		mv "$file.tmp" "$file"
	fi
	echo "$file"
}

# --- servers -------------------------------------------------------------

# servers_start: fresh FerretDB source and target for this script,
# stopped on exit. Sets SRC and DST.
servers_start() {
	export OPLOGKIT_SERVERS_DIR=$WORK/servers-$BENCH_NAME
	"$ROOT/tests/lib/servers.sh" stop >/dev/null 2>&1 || true
	rm -rf "$OPLOGKIT_SERVERS_DIR"
	server_pair_start
	SRC=$OPLOGKIT_TEST_SOURCE_URI
	DST=$OPLOGKIT_TEST_TARGET_URI
	trap servers_stop EXIT
}

servers_stop() {
	"$ROOT/tests/lib/servers.sh" stop >/dev/null 2>&1 || true
	rm -rf "$OPLOGKIT_SERVERS_DIR"
}

mongo_cmd() { "$TOOLS/mongo-cmd" "$@"; }

# pg_target_start: the target becomes a FerretDB on the PostgreSQL
# backend, over a cluster of its own in a temp dir on loopback (Debian's
# postgresql; as the postgres user when run as root, which postgres
# refuses), both stopped on exit. FerretDB's pool_max_conns is raised
# from 50 (the default hangs snap-import); max_connections follows.
# Sets DST.
pg_target_start() {
	local pgbin port fport as=() ferret
	pgbin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	[[ -n $pgbin && -x $pgbin/initdb ]] || bench_die "PostgreSQL not installed (apt-get install postgresql)"
	ferret=$("$ROOT/scripts/build-ferretdb.sh")
	PG_DIR=$(mktemp -d /tmp/oplogkit-bench-pg.XXXXXX)
	if ((EUID == 0)); then
		as=(runuser -u postgres --)
		chown postgres "$PG_DIR"
	fi
	port=$(free_port)
	fport=$(free_port)
	"${as[@]}" "$pgbin/initdb" -D "$PG_DIR/data" -A trust -U postgres >"$PG_DIR/initdb.log" 2>&1 ||
		bench_die "initdb failed (log: $PG_DIR/initdb.log)"
	PG_STOP=("${as[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop)
	trap pg_target_stop EXIT
	"${as[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=250" start >/dev/null ||
		bench_die "postgres did not start (log: $PG_DIR/postgres.log)"
	"${as[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres ferretdb
	mkdir -p "$PG_DIR/ferretdb"
	setsid "$ferret" --handler=postgresql \
		--postgresql-url="postgres://postgres@127.0.0.1:$port/ferretdb?pool_max_conns=200" \
		--state-dir="$PG_DIR/ferretdb" --listen-addr="127.0.0.1:$fport" --repl-set-name=rs0 \
		--telemetry=disable --debug-addr=- </dev/null >"$PG_DIR/ferretdb.log" 2>&1 &
	PG_FERRET_PID=$!
	DST=mongodb://127.0.0.1:$fport/
	local deadline=$((SECONDS + 30))
	until "$TOOLS/mongo-cmd" --wait 1 "$DST" admin '{"ping": 1}' >/dev/null 2>&1; do
		((SECONDS < deadline)) && kill -0 "$PG_FERRET_PID" 2>/dev/null ||
			bench_die "FerretDB on PostgreSQL does not answer (log: $PG_DIR/ferretdb.log)"
	done
	BACKEND="PostgreSQL $("$pgbin/postgres" --version | awk '{ print $3 }') backend, a cluster of the bench's own on loopback, pool_max_conns=200"
}

pg_target_stop() {
	[[ -z ${PG_FERRET_PID:-} ]] || { kill "$PG_FERRET_PID" 2>/dev/null; wait "$PG_FERRET_PID" 2>/dev/null || true; }
	[[ -z ${PG_DIR:-} ]] || { "${PG_STOP[@]}" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
	servers_stop
}

# free_port: a loopback port nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}



drop_databases() {
	local uri=$1 db
	shift
	for db in "$@"; do
		mongo_cmd "$uri" "$db" '{"dropDatabase": 1}' >/dev/null
	done
}

count_docs() {
	mongo_cmd "$1" "${2%%.*}" "{\"count\": \"${2#*.}\"}" | sed -n 's/.*"n" : \([0-9]*\).*/\1/p'
}

# --- results -------------------------------------------------------------

# results_write TITLE TABLE_FILE [NOTES_FILE]: bench/results/$BENCH_NAME.md
# holds the title, the machine, the table and the notes; the table and
# notes also go to stdout.
results_write() {
	local title=$1 table=$2 notes=${3:-} out=$RESULTS/$BENCH_NAME.md
	{
		echo "# $title"
		echo
		machine_header
		echo
		cat "$table"
		if [[ -n $notes ]]; then
			echo
			cat "$notes"
		fi
	} >"$out"
	echo
	echo "== $title"
	cat "$table"
	[[ -z $notes ]] || { echo; cat "$notes"; }
	say "wrote ${out#"$ROOT"/}"
}

bench_init() {
	BENCH_NAME=$1
	[[ -x $ROOT/bin/oplog-filter && -x $TOOLS/gen-oplog && -x $TOOLS/mongo-cmd ]] ||
		bench_die "run make first (or make bench)"
	build_helpers
	MACHINE_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
}
