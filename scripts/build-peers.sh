#!/bin/sh
# build-peers.sh - build MongoDB's bsondump, mongodump and mongorestore
# (the benchmarks' baselines, the interop tests' partners) once into the
# cache, from the source kept in the shared directory. Prints the dir.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${OPLOGKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oplogkit}
out=$cache/peers
tools="bsondump mongodump mongorestore"
built() {
	for tool in $tools; do
		[ -x "$1/$tool" ] || return 1
	done
}
if built "$out"; then
	echo "$out"
	exit 0
fi
shared=$("$here/shared-dir")
command -v go >/dev/null || { echo "build-peers: go not found" >&2; exit 1; }
mkdir -p "$cache"
# Build beside, then rename: a half-built directory never looks done.
tmp=$(mktemp -d "$cache/peers-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$shared/peers/build-mongo-tools.sh" "$tmp" >&2
built "$tmp" || { echo "build-peers: the build left no $tools" >&2; exit 1; }
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
