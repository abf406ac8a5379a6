#!/usr/bin/env bats
# Secrets and access: a password in a URI never shows in any output,
# stream header, report, progress line or man page; URIs can come from
# --uri-file or the environment so they stay out of ps; spool and state
# files are created 0600 whatever the umask; a TLS file that cannot be
# read stops a program at once instead of leaving it to retry.
#
# setup_file starts one more FerretDB, with authentication (user "user",
# password "s3cretPW"), so the passwords are really used, not ignored.

load lib/helpers

PW=s3cretPW
BAD_PW=wr0ngSecret

setup_file() {
	auth_server_start "$PW"
	export BAD_URI="mongodb://user:$BAD_PW@127.0.0.1:$AUTH_PORT/"
	export SECRET_DB=secrets_$$
	mongo_cmd "$AUTH_URI" "$SECRET_DB" '{"insert": "c", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 3}]}' >/dev/null
}

teardown_file() {
	auth_server_stop
}

# leaks DIR: the files under DIR that hold either password, one per line.
leaks() {
	grep -r -a -l -e "$PW" -e "$BAD_PW" "$1" || true
}

@test "the auth server refuses a wrong password and no password (the tests' passwords are used)" {
	run mongo_cmd "$BAD_URI" admin '{"listDatabases": 1}'
	assert_failure
	run mongo_cmd "mongodb://${AUTH_URI#*@}" admin '{"listDatabases": 1}'
	assert_failure
}

@test "a run of every program with a password in the URI never prints it, in output, headers, progress or reports" {
	out=$BATS_TEST_TMPDIR/out
	mkdir -p "$out"
	cd "$out"
	db=$SECRET_DB
	oplog-read --now "$AUTH_URI" >now.out 2>now.err
	oplog-read --since 0 --count 3 --progress -o spool "$AUTH_URI" 2>read.err
	oplog-show spool >show.out 2>show.err
	oplog-show --stats spool >stats.out 2>&1
	oplog-filter --ns "$db.*" -o filtered spool 2>filter.err
	snap-export --ns "$db.*" --progress -o snap "$AUTH_URI" >export.out 2>export.err
	oplog-show snap >snap.show 2>&1
	snap-import --rename "$db.*=${db}_copy.*" --progress snap "$AUTH_URI" >import.out 2>import.err
	oplog-apply --name secrets --progress spool "$AUTH_URI" >apply.out 2>apply.err
	sync-check --ns "$db.*" -o diff "$AUTH_URI" "$AUTH_URI" >check.out 2>check.err
	sync-check --lag-only --name secrets "$AUTH_URI" "$AUTH_URI" >lag.out 2>lag.err || true
	entry-switch --source "$AUTH_URI" --target "$AUTH_URI" --name secrets --no-fence --lag 1h \
	    --timeout 2s --entry-file entry --entry-value next >switch.out 2>switch.err || true
	oplogkit-migrate --dry-run "$AUTH_URI" "$AUTH_URI" >migrate.out 2>migrate.err || true
	# They ran for real: the header names the source, masked.
	grep -q 'user:\*\*\*\*@127.0.0.1' show.out
	grep -q 'user:\*\*\*\*@127.0.0.1' snap.show
	run mongo_dump "$AUTH_URI" "${db}_copy.c"
	assert_equal "${#lines[@]}" 3
	run leaks "$out"
	assert_output ""
}

@test "failing runs with a password in the URI never print it: wrong password, no server, bad options" {
	out=$BATS_TEST_TMPDIR/out
	mkdir -p "$out"
	cd "$out"
	: >empty
	: >entry
	port=$(free_port)
	k=0
	# No server at port: each attempt gives up after a second. The runs
	# of one URI are independent (own files and names): run together, a
	# URI costs its slowest run, not the sum of their retries.
	for uri in "$BAD_URI" "mongodb://user:$PW@127.0.0.1:$port/?serverSelectionTimeoutMS=1000" \
	    "mongodb://user:$PW@127.0.0.1:$port/?notAnOption=1&tls=maybe" \
	    "mongodb://user:$PW@" "mongodb://user:$PW@127.0.0.1:$port,/" "mongo://user:$PW@127.0.0.1/"; do
		k=$((k + 1))
		(timeout 5 oplog-read --now --retry-for 1s "$uri" >"$k.read" 2>&1 || true) &
		(timeout 5 oplog-read --since 0 --retry-for 1s -o "spool$k" "$uri" >"$k.read2" 2>&1 || true) &
		(timeout 5 snap-export --retry-for 1s -o "snap$k" "$uri" >"$k.export" 2>&1 || true) &
		(timeout 5 snap-import --retry-for 1s "$ROOT/tests/fuzz/regressions/fuzz_stream-embedded-without-nul" "$uri" >"$k.import" 2>&1 || true) &
		(printf '' | timeout 5 snap-import --retry-for 1s - "$uri" >"$k.import2" 2>&1 || true) &
		(timeout 5 oplog-apply --retry-for 1s --name "s$k" empty "$uri" >"$k.apply" 2>&1 || true) &
		(timeout 5 sync-check --retry-for 1s "$uri" "$uri" >"$k.check" 2>&1 || true) &
		(timeout 5 sync-check --retry-for 1s "$AUTH_URI" "$uri" >"$k.check2" 2>&1 || true) &
		(timeout 5 entry-switch --source "$uri" --target "$AUTH_URI" --timeout 1s --no-fence \
		    --entry-file entry --entry-value x >"$k.switch" 2>&1 || true) &
		(timeout 5 oplogkit-migrate --dry-run "$uri" "$AUTH_URI" >"$k.migrate" 2>&1 || true) &
		wait
	done
	# Each failed, and said something: the silence is not the proof.
	grep -q . 1.read
	grep -q . 2.apply
	run leaks "$out"
	assert_output ""
}

@test "no man page or --help shows a URI with a password" {
	run grep -r -n -E '[a-z+]+://[^/@ ]+:[^/@ ]+@' "$ROOT/man"
	assert_output ""
	for p in oplog-read oplog-filter oplog-apply oplog-show snap-export snap-import sync-check entry-switch; do
		run "$p" --help
		refute_output --regexp '://[^/@ ]+:[^/@ ]+@'
	done
}

@test "--uri-file and the environment give every program its URI, and ps never shows it" {
	cd "$BATS_TEST_TMPDIR"
	(umask 077 && echo "$AUTH_URI" >src.uri && echo "$AUTH_URI" >dst.uri)
	db=$SECRET_DB
	run oplog-read --now --uri-file src.uri
	assert_success
	OPLOGKIT_SOURCE_URI=$AUTH_URI run oplog-read --now
	assert_success
	run snap-export --ns "$db.*" -o snap --uri-file src.uri
	assert_success
	OPLOGKIT_SOURCE_URI=$AUTH_URI run snap-export --ns "$db.*" -o snap2
	assert_success
	cmp <(oplog-show snap | tail -n +2 | cut -c 1-40) <(oplog-show snap2 | tail -n +2 | cut -c 1-40)
	run snap-import --rename "$db.*=${db}_f.*" --uri-file dst.uri snap
	assert_success
	OPLOGKIT_TARGET_URI=$AUTH_URI run snap-import --rename "$db.*=${db}_e.*" snap
	assert_success
	run mongo_dump "$AUTH_URI" "${db}_e.c"
	assert_equal "${#lines[@]}" 3
	oplog-read --since 0 --count 2 --uri-file src.uri -o spool
	run oplog-apply -q --name uf --uri-file dst.uri spool
	assert_success
	OPLOGKIT_TARGET_URI=$AUTH_URI run oplog-apply -q --name env spool
	assert_success
	run sync-check --ns "$db.*" --source-uri-file src.uri --target-uri-file dst.uri
	assert_success
	OPLOGKIT_SOURCE_URI=$AUTH_URI OPLOGKIT_TARGET_URI=$AUTH_URI run sync-check --ns "$db.*"
	assert_success
	: >entry
	: >entry2
	# The spool applied is not the source's newest ts: the drain cannot
	# finish, and only the URI is under test, so it is given 1 s, not 30.
	run entry-switch --source-uri-file src.uri --target-uri-file dst.uri --name uf --no-fence \
	    --lag 1h --timeout 2s --drain-timeout 1s --entry-file entry --entry-value next
	refute_output --partial "no server URI"
	OPLOGKIT_SOURCE_URI=$AUTH_URI OPLOGKIT_TARGET_URI=$AUTH_URI run entry-switch --name env \
	    --no-fence --lag 1h --timeout 2s --drain-timeout 1s --entry-file entry2 --entry-value next
	refute_output --partial "no server URI"
	# A running oplog-read: its command line names the file, not the URI.
	oplog-read --uri-file src.uri -o follow.spool 2>read.err &
	pid=$!
	sleep 1
	args=$(ps -o args= -p "$pid")
	kill -TERM "$pid"
	wait "$pid" || true
	[[ $args == *"--uri-file src.uri"* ]]
	[[ $args != *"$PW"* ]]
}

@test "spool, snapshot, filter and difference files are created 0600 whatever the umask" {
	cd "$BATS_TEST_TMPDIR"
	umask 000
	db=$SECRET_DB
	oplog-read --since 0 --count 2 -o spool "$AUTH_URI"
	snap-export --ns "$db.*" -o snap "$AUTH_URI"
	snap-export --ns "$db.*" -o snapdir/ "$AUTH_URI"
	oplog-filter -o filtered spool
	mongo_cmd "$AUTH_URI" "$db" '{"insert": "c", "documents": [{"_id": "only-here"}]}' >/dev/null
	sync-check --ns "$db.c" -o diff "$AUTH_URI" "$DST_URI" || true
	mongo_cmd "$AUTH_URI" "$db" '{"delete": "c", "deletes": [{"q": {"_id": "only-here"}, "limit": 1}]}' >/dev/null
	for f in spool snap filtered diff snapdir/*; do
		[[ -f $f ]] || continue
		echo "$f $(stat -c %a "$f")"
		assert_equal "$(stat -c %a "$f")" 600
	done
}

@test "oplogkit-migrate's work directory is 0700 and its URI files 0600" {
	cd "$BATS_TEST_TMPDIR"
	umask 000
	# A migration that cannot start (no source; oplog-read retries for
	# minutes): stopped after 5 s, once the work directory is made.
	port=$(free_port)
	timeout 5 oplogkit-migrate -w work "mongodb://user:$PW@127.0.0.1:$port/" "$AUTH_URI" >out 2>&1 || true
	[[ -d work ]] || fail "oplogkit-migrate made no work directory before failing: $(cat out)"
	assert_equal "$(stat -c %a work)" 700
	uris=(work/*.uri)
	[[ -f ${uris[0]} ]] || fail "no URI file in the work directory: $(ls work)"
	for f in "${uris[@]}"; do
		assert_equal "$(stat -c %a "$f")" 600
	done
	run grep -r -a -l "$PW" out work --exclude='*.uri'
	assert_output ""
}

@test "a TLS CA file that cannot be read stops every program at once with a clear error" {
	: >"$BATS_TEST_TMPDIR/entry"
	for cmd in "oplog-read --now" "oplog-read --since 0" "snap-export --ns x.*" "snap-import /dev/null" \
	    "oplog-apply /dev/null" "sync-check" "entry-switch --no-fence --entry-file $BATS_TEST_TMPDIR/entry --entry-value v"; do
		case $cmd in
		sync-check) uris=("$AUTH_URI" "$AUTH_URI") ;;
		entry-switch*) uris=(--source "$AUTH_URI" --target "$AUTH_URI") ;;
		*) uris=("$AUTH_URI") ;;
		esac
		run timeout 20 $cmd --tls-ca-file "$BATS_TEST_TMPDIR/no-such-ca.pem" "${uris[@]}"
		echo "$cmd: $status: $output"
		[[ $status == 2 || $status == 4 ]]
		assert_output --partial "no-such-ca.pem"
		refute_output --partial "$PW"
	done
}
