#!/usr/bin/env bash
# trials.sh [-n N] [-r RATE] [-o REPORT] - crash trials: a migration under a live
# write load, kill -9 one of its parts at a random moment, restart it the
# way the man pages say (rerun oplogkit-migrate), and count the documents
# that differ between source and target once the load stops. The load
# writes RATE documents a second (default 80).
#
# Each trial uses its own databases on the servers named by
# OPLOGKIT_TEST_SOURCE_URI / OPLOGKIT_TEST_TARGET_URI (tests/run sets
# them), or on two servers it starts itself. Prints one line per trial
# and a summary; with -o writes the table as markdown. Exit 1 if any
# document was lost or differs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
trials=50
rate=80
report=
while getopts n:r:o: opt; do
	case $opt in
	n) trials=$OPTARG ;;
	r) rate=$OPTARG ;;
	o) report=$OPTARG ;;
	*) echo "usage: trials.sh [-n N] [-r RATE] [-o REPORT]" >&2; exit 2 ;;
	esac
done

# kill -9 leaves libmongoc's /dev/shm/mongoc-PID counters behind: none.
export MONGOC_DISABLE_SHM=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/oplogkit-trials.XXXXXX")
cleanup() {
	pkill -9 -P $$ 2>/dev/null || true
	if [[ -n ${OPLOGKIT_SERVERS_DIR:-} && $OPLOGKIT_SERVERS_DIR == "$tmp"/* ]]; then
		"$root/tests/lib/servers.sh" stop >/dev/null 2>&1 || true
	fi
	if [[ -n ${keep_tmp:-} ]]; then
		echo "trials.sh: kept $tmp for a look" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
# A copy of the programs: a rebuild during a long run must not change them.
cp -a "$root/bin" "$tmp/bin"
PATH=$tmp/bin:$PATH
if [[ -z ${OPLOGKIT_TEST_SOURCE_URI:-} || -z ${OPLOGKIT_TEST_TARGET_URI:-} ]]; then
	export OPLOGKIT_SERVERS_DIR=$tmp/servers OPLOGKIT_OPLOG_MAX=5000 OPLOGKIT_CAPPED_CLEANUP=1s
	uris=$("$root/tests/lib/servers.sh" start)
	OPLOGKIT_TEST_SOURCE_URI=$(sed -n 's/^OPLOGKIT_TEST_SOURCE_URI=//p' <<<"$uris")
	OPLOGKIT_TEST_TARGET_URI=$(sed -n 's/^OPLOGKIT_TEST_TARGET_URI=//p' <<<"$uris")
fi
src=$OPLOGKIT_TEST_SOURCE_URI
dst=$OPLOGKIT_TEST_TARGET_URI

victims=(oplogkit-migrate oplog-read oplog-apply snap-import)

# The pid of the running PROGRAM started for work dir W by the migration
# whose session is SID, if any.
victim_pid() {
	local program=$1 work=$2 sid=$3
	case $program in
	oplog-read) cat "$work/reader.pid" 2>/dev/null ;;
	oplog-apply) cat "$work/apply.pid" 2>/dev/null ;;
	snap-import) pgrep -s "$sid" -x snap-import ;;
	esac
}

# trial K: prints "K VICTIM AFTER_S KILLED DIFFERENCES".
trial() {
	local k=$1 db=trial${k}_$$ work=$tmp/w$k victim after migrate app pid killed=no status
	victim=${OPLOGKIT_TRIAL_VICTIM:-${victims[RANDOM % ${#victims[@]}]}}
	after=$((1 + RANDOM % 6))
	mkdir -p "$work"
	oplogkit-loadgen --uri "$src" --db "$db" --rate "$rate" --seed "$k" >"$work/app.out" 2>&1 &
	app=$!
	sleep 2	# some data before T0
	setsid oplogkit-migrate -w "$work/m" --name "$db" --ns "$db.*" "$src" "$dst" \
		>"$work/run1.log" 2>&1 &
	migrate=$!
	if [[ $victim == snap-import ]]; then
		# The copy is short: catch it while it runs, a little way in.
		for _ in $(seq 1 400); do pgrep -s "$migrate" -x snap-import >/dev/null && break; sleep 0.02; done
		after=0.$((RANDOM % 3))
	fi
	sleep "$after"
	if [[ $victim == oplogkit-migrate ]]; then
		kill -9 -- "-$migrate" 2>/dev/null && killed=yes
	else
		pid=$(victim_pid "$victim" "$work/m" "$migrate" || true)
		if [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; then killed=yes; fi
	fi
	wait "$migrate" 2>/dev/null || true
	# The documented restart: run it again; it resumes from the work dir.
	oplogkit-migrate -w "$work/m" --name "$db" --ns "$db.*" "$src" "$dst" >"$work/run2.log" 2>&1 || true
	kill -TERM "$app"
	wait "$app" || true
	# Let the replay drain the last writes, then compare.
	for _ in $(seq 1 120); do
		sync-check --lag-only --max-lag 0s --name "$db" "$src" "$dst" >/dev/null 2>&1 && break
		sleep 0.5
	done
	status=0
	sync-check --ns "$db.*" --name "$db" "$src" "$dst" >"$work/diffs.bson" 2>"$work/check.log" || status=$?
	oplogkit-migrate stop -w "$work/m" >/dev/null 2>&1 || true
	local differences
	differences=$(oplog-show --stats "$work/diffs.bson" | awk '$1 == "total" { print $2 + $3 + $4 + $5 + $6 + $7 }')
	if [[ $status -gt 1 ]]; then differences="error($status)"; fi
	echo "$k $victim ${after}s $killed ${differences:-0}"
}

results=$tmp/results
: >"$results"
for k in $(seq 1 "$trials"); do
	trial "$k" | tee -a "$results"
done

lost=$(awk '$5 != 0 { n++ } END { print n + 0 }' "$results")
[[ $lost -eq 0 ]] || keep_tmp=1
killed=$(awk '$4 == "yes" { n++ } END { print n + 0 }' "$results")
echo "trials: $trials, kills that landed: $killed, trials with lost or differing documents: $lost"
if [[ -n $report ]]; then
	{
		echo "# Crash trials"
		echo
		echo "\`tests/trials.sh -n $trials\` on $(nproc) cores, $(date -u +%Y-%m-%d)."
		echo "Each trial: loadgen at $rate writes/s, oplogkit-migrate started, kill -9 of the victim after N s,"
		echo "oplogkit-migrate rerun (it resumes), load stopped, sync-check of the trial's databases."
		echo
		echo "| trial | killed | after | kill landed | documents lost or differing |"
		echo "|---|---|---|---|---|"
		awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$results"
		echo
		echo "Trials: $trials; kills that landed: $killed; trials with lost or differing documents: **$lost**."
	} >"$report"
fi
[[ $lost -eq 0 ]]
