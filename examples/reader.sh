# reader.sh - sourced (POSIX sh) by the examples that run until stopped
# (rename-database.sh, ship-over-ssh.sh): the reader on a named pipe, so
# the script knows its pid, a SIGTERM or Ctrl-C that stops the reader
# alone (it ends its stream with a trailer and everything after it
# drains), and the wait for the end of the pipeline.

# reader_start NAME ARGS...: oplog-read ARGS into the named pipe $stream
# (in a temp dir NAME.XXXXXX, removed on exit), in the background; its pid
# in $reader.
reader_start() {
	dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	shift
	trap 'rm -rf "$dir"' EXIT
	stream=$dir/stream
	mkfifo "$stream"
	oplog-read "$@" >"$stream" &
	reader=$!
	trap 'kill -TERM "$reader" 2>/dev/null || true' INT TERM
}

# reader_wait PID: once PID (the end of the pipeline) is done, its status
# in $status and the reader's in $reader_status. A trapped signal
# interrupts wait, so PID is waited for again until it is gone.
reader_wait() {
	status=0
	wait "$1" || status=$?
	while kill -0 "$1" 2>/dev/null; do
		status=0
		wait "$1" || status=$?
	done
	reader_status=0
	wait "$reader" || reader_status=$?
}
