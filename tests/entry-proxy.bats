#!/usr/bin/env bats
# entry-proxy: the applications' fixed entry, in front of real servers.
# Each test starts its own proxy on a free port in front of the source;
# the application is oplogkit-loadgen or mongo-cmd connecting through it.
# Write volumes stay small: FerretDB reads its whole oplog on every poll.

load lib/helpers
load lib/metrics
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	src_host=$(host_of "$SRC_URI")
	dst_host=$(host_of "$DST_URI")
	db=$(unique_db proxy)
}

teardown() {
	for pid in ${app:-} ${reader:-} ${applier:-} ${proxy:-}; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}

# host_of URI: its first HOST:PORT.
host_of() {
	local rest=${1#mongodb://}
	rest=${rest#*@}
	rest=${rest%%/*}
	echo "${rest%%,*}"
}

ctl() { entry-proxy --control ctl "$@"; }

# field NAME: the value of NAME in the JSON line on stdin.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }

start_proxy() {
	entry-proxy --listen 127.0.0.1:0 --upstream "$src_host" --control ctl -v "$@" \
		2>proxy.err 3>&- &
	proxy=$!
	for _ in {1..50}; do [[ -S ctl ]] && break; sleep 0.1; done
	port=$(ctl status | field listen)
	port=${port##*:}
	PROXY_URI="mongodb://127.0.0.1:$port/?directConnection=true"
}

count_on() { # count_on URI COLLECTION: documents of $db.COLLECTION there
	mongo_cmd "$1" "$db" "{\"count\": \"$2\"}" | sed -n 's/.*"n" : \([0-9]*\).*/\1/p'
}

# wait_for_held N: until the proxy holds N requests (5 s at most).
wait_for_held() {
	for _ in {1..50}; do
		[[ $(ctl status | field held) -ge $1 ]] && return 0
		sleep 0.1
	done
	ctl status
	return 1
}

@test "entry-proxy --help prints usage and exits 0; bad command lines exit 2" {
	run entry-proxy --help
	assert_success
	assert_line --partial 'usage: entry-proxy --listen HOST:PORT --upstream HOST:PORT --control PATH'
	run --separate-stderr entry-proxy --listen 127.0.0.1:0 --control ctl
	assert_failure 2
	assert_equal "$stderr" "$(printf '%s\n' 'entry-proxy: --listen, --upstream and --control are required' \
		'usage: entry-proxy --listen HOST:PORT --upstream HOST:PORT --control PATH [--buffer BYTES] [--pause-timeout DUR] [--metrics FILE] [-v]')"
	run --separate-stderr entry-proxy --listen nowhere --upstream "$src_host" --control ctl
	assert_failure 2
	assert_equal "$stderr" "entry-proxy: --listen 'nowhere': not HOST:PORT"
	# A --metrics file it cannot write: a usage error before any socket exists.
	run --separate-stderr entry-proxy --listen 127.0.0.1:0 --upstream "$src_host" --control ctl \
		--metrics "$BATS_TEST_TMPDIR/no/such/dir/proxy.prom"
	assert_failure 2
	[[ $stderr == "entry-proxy: --metrics $BATS_TEST_TMPDIR/no/such/dir/proxy.prom: No such file or directory" ]]
	[[ ! -e ctl ]] || fail "a control socket was left behind"
	run --separate-stderr entry-proxy --control ctl status
	assert_failure 4
	assert_output ''
	assert_equal "$stderr" 'entry-proxy: --control ctl: No such file or directory'
}

@test "entry-proxy forwards commands both ways and counts them in status" {
	start_proxy
	run mongo_cmd "$PROXY_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "v": "through the proxy"}]}'
	assert_success
	assert_equal "$(mongo_dump "$SRC_URI" "$db.c")" \
		'{ "_id" : { "$numberInt" : "1" }, "v" : "through the proxy" }'
	run mongo_cmd "$PROXY_URI" "$db" '{"find": "c"}'
	assert_output --partial '"v" : "through the proxy"'
	run ctl status
	assert_success
	assert_output --regexp "\"upstream\":\"$src_host\".*\"paused\":false"
	[[ $(field accepted <<<"$output") -ge 2 ]]
	[[ $(field requests <<<"$output") -ge 4 ]]
	[[ $(field bytes_in <<<"$output") -gt 0 && $(field bytes_out <<<"$output") -gt 0 ]]
	run ctl frobnicate
	assert_failure 1
	assert_output "{\"ok\":false,\"error\":\"unknown command 'frobnicate' (pause [DUR], switch HOST:PORT, resume, status)\"}"
}

# metrics_match_status FILE: FILE's counts are the proxy's status's, now.
metrics_match_status() {
	local status
	status=$(ctl status)
	[[ $(metric "$1" oplogkit_proxy_requests_total) == $(field requests <<<"$status") &&
		$(metric "$1" oplogkit_proxy_bytes_up_total) == $(field bytes_in <<<"$status") &&
		$(metric "$1" oplogkit_proxy_bytes_down_total) == $(field bytes_out <<<"$status") &&
		$(metric "$1" oplogkit_proxy_connections_accepted_total) == $(field accepted <<<"$status") ]]
}

held_in_metrics() {
	[[ $(metric_phase "$1") == paused && $(metric "$1" oplogkit_proxy_requests_held) == 1 ]]
}

@test "entry-proxy --metrics: forwarding, paused, switched; its connections, requests, bytes and switches" {
	start_proxy --metrics proxy.prom
	wait_for "phase forwarding" phase_is proxy.prom forwarding
	mongo_cmd "$PROXY_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "v": "counted"}]}' >/dev/null
	mongo_cmd "$PROXY_URI" "$db" '{"find": "c"}' >/dev/null
	# The file says what status says, once it is rewritten after the traffic.
	wait_for "proxy.prom to match status" metrics_match_status proxy.prom
	assert_prometheus_text proxy.prom
	(($(metric proxy.prom oplogkit_proxy_requests_total) >= 4)) || fail "$(cat proxy.prom)"
	(($(metric proxy.prom oplogkit_proxy_bytes_down_total) > 0)) || fail "$(cat proxy.prom)"
	assert_equal "$(metric proxy.prom oplogkit_proxy_switches_total)" 0
	assert_equal "$(metric proxy.prom oplogkit_errors_total)" 0
	run grep -c '^oplogkit_lag_seconds\|^oplogkit_entries_read_total' proxy.prom
	assert_output 0

	ctl pause >/dev/null
	mongo_cmd "$PROXY_URI" "$db" '{"insert": "c", "documents": [{"_id": 2, "v": "held"}]}' \
		>held.out 2>held.err 3>&- &
	app=$!
	wait_for "a held request in proxy.prom" held_in_metrics proxy.prom
	assert_equal "$(metric proxy.prom oplogkit_proxy_requests_in_flight)" 0
	ctl switch "$dst_host" >/dev/null
	ctl resume >/dev/null
	wait "$app"
	app=
	wait_for "phase switched" phase_is proxy.prom switched
	wait_for "proxy.prom to match status" metrics_match_status proxy.prom
	assert_equal "$(metric proxy.prom oplogkit_proxy_switches_total)" 1
	assert_equal "$(metric proxy.prom oplogkit_proxy_requests_held)" 0
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" '{ "_id" : { "$numberInt" : "2" }, "v" : "held" }'

	kill -TERM "$proxy"
	wait "$proxy"
	proxy=
	assert_prometheus_text proxy.prom
	assert_equal "$(metric_phase proxy.prom)" stopped
	assert_equal "$(metric proxy.prom oplogkit_proxy_connections)" 0
}

@test "entry-proxy holds requests during a pause; after switch and resume they complete on the target" {
	start_proxy
	run ctl pause
	assert_success
	assert_output --regexp '^\{"ok":true,"paused":true,"in_flight":0,'
	mongo_cmd "$PROXY_URI" "$db" '{"insert": "c", "documents": [{"_id": 7, "v": "held"}]}' \
		>held.out 2>held.err 3>&- &
	app=$!
	wait_for_held 1
	# Held means held: neither server has it.
	assert_equal "$(count_on "$SRC_URI" c)" 0
	assert_equal "$(count_on "$DST_URI" c)" 0
	kill -0 "$app"
	run ctl switch "$dst_host"
	assert_success
	assert_output --partial "\"upstream\":\"$dst_host\""
	run ctl resume
	assert_success
	assert_output --regexp '"paused_ms":[0-9]+,"released":1'
	wait "$app"
	app=
	assert_equal "$(cat held.out)" '{ "n" : 1, "ok" : 1.0 }'
	assert_equal "$(mongo_dump "$DST_URI" "$db.c")" '{ "_id" : { "$numberInt" : "7" }, "v" : "held" }'
	assert_equal "$(count_on "$SRC_URI" c)" 0
}

@test "an application writing through entry-proxy sees no error across a switch, and nothing written after the pause reaches the source" {
	start_proxy
	oplogkit-loadgen --uri "$PROXY_URI" --db "$db" --rate 100 --duration 4s --seed 7 \
		>app.out 2>app.err 3>&- &
	app=$!
	sleep 1.5
	run ctl pause
	assert_success
	for c in users orders events; do mongo_dump "$SRC_URI" "$db.$c"; done >source-at-pause
	before=$(wc -l <source-at-pause)
	[[ $before -gt 20 ]]
	# The application keeps trying while paused: its next write is held.
	wait_for_held 1
	sleep 0.3
	run ctl switch "$dst_host"
	assert_success
	run ctl resume
	assert_success
	wait "$app"
	app=
	assert_equal "$(sed -n 's/.* errors \([0-9]*\) .*/\1/p' app.out)" 0
	for c in users orders events; do mongo_dump "$SRC_URI" "$db.$c"; done >source-at-end
	run diff source-at-pause source-at-end
	assert_success
	# The writes after the switch went to the target, through the same connection.
	after=0
	for c in users orders events; do after=$((after + $(count_on "$DST_URI" "$c"))); done
	[[ $after -gt 0 ]]
	run ctl status
	assert_output --regexp '"moved":1,'
}

# session NAME URI: a wire-session on one connection fed from the fifo NAME.in
# (commands sent with `send NAME JSON`), its replies in NAME.out.
session() {
	mkfifo "$1.in"
	"$WIRE_SESSION" "$2" "$db" <"$1.in" >"$1.out" 2>&1 3>&- &
	eval "${1}_pid=\$!"
	eval "exec {${1}_fd}>$1.in"
}
send() {
	local fd=${1}_fd lines
	lines=$(($(wc -l <"$1.out") + 1))
	echo "$2" >&"${!fd}"
	for _ in {1..100}; do
		[[ $(wc -l <"$1.out") -ge $lines ]] && break
		sleep 0.05
	done
	sed -n "${lines}p" "$1.out"
}
cursor_id() { sed -n 's/.*"id" : \([0-9]*\).*/\1/p'; }

@test "a client mid-cursor at switch time gets CursorNotFound, never another cursor's documents" {
	WIRE_SESSION=${OPLOGKIT_TOOLS_DIR:-$ROOT/build/plain/tools}/wire-session
	mongo_cmd "$SRC_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "on": "source"}, {"_id": 2, "on": "source"}, {"_id": 3, "on": "source"}]}' >/dev/null
	mongo_cmd "$DST_URI" "$db" '{"insert": "c", "documents": [{"_id": 1, "on": "target"}, {"_id": 2, "on": "target"}, {"_id": 3, "on": "target"}]}' >/dev/null
	start_proxy
	session app "$PROXY_URI"
	session other "$DST_URI"
	run send app '{"find": "c", "batchSize": 1}'
	assert_output --partial '"firstBatch" : [ { "_id" : 1, "on" : "source" } ]'
	old=$(cursor_id <<<"$output")
	# Another client's cursor on the target. FerretDB serves a getMore from
	# any connection, and its ids are sequential: a stale id passed on to
	# the target could name this cursor and return its documents.
	foreign=$(send other '{"find": "c", "batchSize": 1}' | cursor_id)
	[[ $old -gt 0 && $foreign -gt 0 ]]
	ctl pause >/dev/null
	ctl switch "$dst_host" >/dev/null
	ctl resume >/dev/null
	for id in "$old" "$foreign"; do
		run send app "{\"getMore\": {\"\$numberLong\": \"$id\"}, \"collection\": \"c\"}"
		assert_output --partial '"codeName" : "CursorNotFound"'
		refute_output --partial '"on"'
	done
	run ctl status
	assert_output --regexp '"refused_cursors":2,'
	# The foreign cursor was untouched: its owner still gets its next document.
	run send other "{\"getMore\": {\"\$numberLong\": \"$foreign\"}, \"collection\": \"c\", \"batchSize\": 1}"
	assert_output --partial '"nextBatch" : [ { "_id" : 2, "on" : "target" } ]'
	# A cursor the target opens through the proxy after the switch works
	# on the same, moved connection, and is forgotten once exhausted.
	new=$(send app '{"find": "c", "batchSize": 1}' | cursor_id)
	run send app "{\"getMore\": {\"\$numberLong\": \"$new\"}, \"collection\": \"c\", \"batchSize\": 10}"
	assert_output '{ "cursor" : { "nextBatch" : [ { "_id" : 2, "on" : "target" }, { "_id" : 3, "on" : "target" } ], "id" : 0, "ns" : "'"$db"'.c" }, "ok" : 1.0 }'
	run send app "{\"getMore\": {\"\$numberLong\": \"$new\"}, \"collection\": \"c\"}"
	assert_output --partial 'opened on the server entry-proxy switched away from'
	eval "exec $app_fd>&- $other_fd>&-"
	wait "$app_pid" "$other_pid"
}

@test "a malformed message length closes only that connection" {
	start_proxy
	oplogkit-loadgen --uri "$PROXY_URI" --db "$db" --rate 50 --duration 2s >app.out 2>app.err 3>&- &
	app=$!
	sleep 0.5
	for length in '\x05\x00\x00\x00' '\xff\xff\xff\x7f' '\x00\x00\x00\x80'; do
		exec 4<>"/dev/tcp/127.0.0.1/$port"
		printf "$length"'\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00' >&4
		# The proxy closes it at once: cat sees the end, no timeout.
		run timeout 5 cat <&4
		assert_success
		assert_output ''
		exec 4<&-
	done
	wait "$app"
	app=
	assert_equal "$(sed -n 's/.* errors \([0-9]*\) .*/\1/p' app.out)" 0
	run grep -c 'the client sent a message length .* outside 16..48000000: connection closed' proxy.err
	assert_output 3
	grep -q 'message length 5 outside' proxy.err
	grep -q 'message length 2147483647 outside' proxy.err
	run ctl status
	assert_output --regexp '"bad_messages":3}'
}

@test "entry-proxy stops cleanly on SIGTERM and removes its control socket" {
	start_proxy
	mongo_cmd "$PROXY_URI" "$db" '{"ping": 1}' >/dev/null
	kill -TERM "$proxy"
	status=0
	wait "$proxy" || status=$?
	proxy=
	assert_equal "$status" 0
	[[ ! -e ctl ]] || fail "a control socket was left behind"
	run grep -c '^entry-proxy: stopped: ' proxy.err
	assert_output 1
}

@test "entry-switch --proxy: pause is the fence, the proxy the entry; the application sees no error" {
	start_proxy
	name=$(unique_db cut)
	mongo_cmd "$SRC_URI" "$db" '{"insert": "users", "documents": [{"_id": 0}]}' >/dev/null
	start_live_migration "$name" "$db.*"
	mongo_cmd "$DST_URI" "$db" '{"insert": "users", "documents": [{"_id": 0}]}' >/dev/null
	oplogkit-loadgen --uri "$PROXY_URI" --db "$db" --rate 40 --duration 6s >app.out 2>app.err 3>&- &
	app=$!
	sleep 2
	# The switch command runs inside the pause, after the drain: the target
	# as the applications will find it.
	dump="for c in users orders events; do '$MONGO_CMD' --dump '$DST_URI' $db.\$c; done >target-at-switch"
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--lag 2s --timeout 20s --drain-timeout 10s --proxy ctl --switch-cmd "$dump"
	echo "$output"
	assert_success
	assert_line --regexp '^fence +.*up \(proxy \(nothing in flight after [0-9]+ ms, [0-9]+ requests held\)\)$'
	assert_line --regexp "^switch +.*proxy $src_host -> $dst_host \\([0-9]+ connections moving\\), command$"
	assert_line --regexp '^window +[0-9]+ ms$'
	assert_line --regexp '^result +switched$'
	assert_equal "$(ctl status | field upstream)" "$dst_host"
	assert_equal "$(ctl status | field paused)" false
	wait "$app"
	app=
	assert_equal "$(sed -n 's/.* errors \([0-9]*\) .*/\1/p' app.out)" 0
	kill -TERM "$reader"
	wait "$reader" || true
	reader=
	wait "$applier" || true
	applier=
	# The target had every write the source got, and the source got none after.
	for c in users orders events; do mongo_dump "$SRC_URI" "$db.$c"; done >source-at-end
	[[ $(wc -l <source-at-end) -gt 10 ]]
	run diff source-at-end target-at-switch
	assert_success
}

@test "entry-switch --proxy puts the proxy back and resumes when the switch fails" {
	start_proxy
	name=$(unique_db back)
	ts=$(oplog-read --now "$SRC_URI")
	mongo_cmd "$DST_URI" oplogkit "{\"insert\": \"checkpoints\", \"documents\": [{\"_id\": \"$name\", \"ts\": {\"\$timestamp\": {\"t\": ${ts%,*}, \"i\": ${ts#*,}}}, \"count\": 1}]}" >/dev/null
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --name "$name" \
		--proxy ctl --switch-cmd 'exit 3'
	assert_failure 1
	assert_line --regexp '^result +not switched: --switch-cmd failed \(status 3\); fence lifted, entry unchanged$'
	assert_equal "$(ctl status | field upstream)" "$src_host"
	assert_equal "$(ctl status | field paused)" false
	run --separate-stderr entry-switch --source "$SRC_URI" --target "$DST_URI" --fence proxy --entry-file x --entry-value y
	assert_failure 2
	assert_equal "$stderr" 'entry-switch: --fence proxy needs --proxy PATH'
}
