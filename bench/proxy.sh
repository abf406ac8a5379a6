#!/usr/bin/env bash
# bench/proxy.sh - entry-proxy's cost and its cutover window.
#
#   bench/proxy.sh [--seconds N] [--rounds N] [--threads N] [--runs N] [--rate OPS] [--lag D]
#
# 1. Overhead: proxy-probe (insert + find by _id in a loop, THREADS
#    connections) against the source directly and through entry-proxy,
#    alternated ROUNDS times in the same run; median ops/s and p99 latency
#    of each, and the overhead in percent (goal: at most 10 %). Then the
#    same with ping, which touches no storage: the proxy's worst case.
# 2. Window: RUNS cutovers under load. Each run starts a fresh
#    oplog-read | oplog-apply of one new database from the server the
#    proxy points at to the other, the example application writing RATE
#    ops/s through the proxy, then entry-switch --proxy --lag D (0s: the
#    checkpoint in the source's newest second); the report's
#    window (the pause) is collected: min / median / max (goal: median at
#    most 500 ms). The next run goes back the other way.
# Results: one line each on stdout and in bench/results/proxy.txt.
# Uses bench/lib.sh when it is there; otherwise starts its own servers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
PATH=$root/bin:$PATH
seconds=2
rounds=5
threads=4
runs=10
rate=100
lag=0s
while [[ $# -gt 0 ]]; do
	case $1 in
	--seconds) seconds=${2:?}; shift 2 ;;
	--rounds) rounds=${2:?}; shift 2 ;;
	--threads) threads=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--rate) rate=${2:?}; shift 2 ;;
	--lag) lag=${2:?}; shift 2 ;;
	-h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "bench/proxy.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

work=$here/work/proxy
results=$here/results
mkdir -p "$work" "$results"
out=$results/proxy.txt
: >"$out"
say() { echo "$*" | tee -a "$out"; }

# The probe: built here, from bench/, with the same libraries as the programs.
probe=$work/proxy-probe
if [[ ! -x $probe || $here/proxy-probe.c -nt $probe ]]; then
	cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$probe" "$here/proxy-probe.c" \
		$(pkg-config --cflags --libs libmongoc-1.0) -lpthread
fi
make -s -C "$root" bin/entry-proxy bin/entry-switch bin/oplog-read bin/oplog-apply \
	bin/oplogkit-loadgen >&2

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n ${own_servers:-} ]] && "$root/tests/lib/servers.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ -f $here/lib.sh ]]; then
	# shellcheck source=/dev/null
	. "$here/lib.sh"
fi
if [[ -n ${OPLOGKIT_TEST_SOURCE_URI:-} && -n ${OPLOGKIT_TEST_TARGET_URI:-} ]]; then
	src=$OPLOGKIT_TEST_SOURCE_URI
	dst=$OPLOGKIT_TEST_TARGET_URI
else
	export OPLOGKIT_SERVERS_DIR=$work/servers
	rm -rf "$OPLOGKIT_SERVERS_DIR"
	own_servers=1
	uris=$("$root/tests/lib/servers.sh" start)
	src=$(sed -n 's/^OPLOGKIT_TEST_SOURCE_URI=//p' <<<"$uris")
	dst=$(sed -n 's/^OPLOGKIT_TEST_TARGET_URI=//p' <<<"$uris")
fi
hostport() { local u=${1#mongodb://}; u=${u#*@}; echo "${u%%/*}"; }

ctl=$work/proxy.ctl
entry-proxy --listen 127.0.0.1:0 --upstream "$(hostport "$src")" --control "$ctl" \
	2>"$work/proxy.log" &
pids+=($!)
for _ in {1..50}; do [[ -S $ctl ]] && break; sleep 0.1; done
listen=$(entry-proxy --control "$ctl" status | sed -n 's/.*"listen":"\([^"]*\)".*/\1/p')
proxied="mongodb://$listen/?directConnection=true"
direct="${src%/}/?directConnection=true"

field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
pct() { awk -v d="$1" -v p="$2" 'BEGIN { printf "%+.1f", (p - d) * 100 / d }'; }

# overhead WORKLOAD [ping]: alternate direct and proxied rounds; medians of each.
overhead() {
	local workload=$1 r mode uri line
	declare -A ops p99
	say "# entry-proxy overhead, $workload: $threads connections, ${seconds}s x $rounds rounds each, alternated"
	# Each round and mode writes its own database (FerretDB's find by _id
	# slows as a collection grows) and the order alternates.
	for ((r = 1; r <= rounds; r++)); do
		order="direct proxied"
		((r % 2)) || order="proxied direct"
		for mode in $order; do
			uri=$direct
			[[ $mode == proxied ]] && uri=$proxied
			line=$("$probe" "$uri" "bench_proxy_${mode}_${r}_$$" "$seconds" "$threads" ${2:-} 2>/dev/null)
			say "round $r $mode: $line"
			ops[$mode]="${ops[$mode]:-} $(field ops_per_s <<<" $line")"
			p99[$mode]="${p99[$mode]:-} $(field p99_us <<<" $line")"
		done
	done
	local d_ops p_ops d_p99 p_p99
	d_ops=$(median <<<"${ops[direct]}")
	p_ops=$(median <<<"${ops[proxied]}")
	d_p99=$(median <<<"${p99[direct]}")
	p_p99=$(median <<<"${p99[proxied]}")
	say "overhead $workload (medians): ops/s direct $d_ops proxied $p_ops ($(pct "$d_ops" "$p_ops")%)," \
		"p99 direct $d_p99 us proxied $p_p99 us ($(pct "$d_p99" "$p_p99")%)"
}
overhead "insert + find by _id"
overhead "ping (worst case: no storage)" ping

((runs > 0)) || exit 0
say "# cutover window under load: $runs runs, the application at $rate ops/s through the proxy"
from=$src
to=$dst
windows=()
for ((r = 1; r <= runs; r++)); do
	db=bench_cut_${r}_$$
	name=bench-cut-$r-$$
	dir=$work/run$r
	rm -rf "$dir"
	mkdir -p "$dir"
	start=$(oplog-read --now "$from")
	oplog-read --since "$start" -o "$dir/spool.bson" "$from" 2>"$dir/read.err" &
	reader=$!
	pids+=($reader)
	for _ in {1..50}; do [[ -s $dir/spool.bson ]] && break; sleep 0.1; done
	oplog-apply --follow --name "$name" --ns "$db.*" "$dir/spool.bson" "$to" >"$dir/apply.out" 2>&1 &
	applier=$!
	pids+=($applier)
	oplogkit-loadgen --uri "$proxied" --db "$db" --rate "$rate" --duration 6s >"$dir/app.out" 2>"$dir/app.err" &
	app=$!
	pids+=($app)
	sleep 3
	entry-switch --source "$from" --target "$to" --name "$name" --lag "$lag" --timeout 30s \
		--proxy "$ctl" >"$dir/switch.report" 2>"$dir/switch.err" || true
	wait "$app" || true
	kill -TERM "$reader" 2>/dev/null || true
	wait "$reader" || true
	wait "$applier" || true
	window=$(sed -n 's/^window *\([0-9]*\) ms$/\1/p' "$dir/switch.report")
	drain=$(sed -n 's/^drain .*in \([0-9]*\) ms$/\1/p' "$dir/switch.report")
	errors=$(sed -n 's/.* errors \([0-9]*\) .*/\1/p' "$dir/app.out")
	say "run $r $(hostport "$from") -> $(hostport "$to"): window ${window:-FAILED} ms (drain ${drain:-?} ms), application errors ${errors:-?}"
	[[ -n $window ]] && windows+=("$window")
	tmp=$from
	from=$to
	to=$tmp
done
if [[ ${#windows[@]} -gt 0 ]]; then
	sorted=$(printf '%s\n' "${windows[@]}" | sort -n)
	say "window over ${#windows[@]} runs: min $(head -n 1 <<<"$sorted") ms, median" \
		"$(printf '%s ' "${windows[@]}" | median) ms, max $(tail -n 1 <<<"$sorted") ms"
fi
