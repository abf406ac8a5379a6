#!/bin/sh
# build-ferretdb.sh - build FerretDB v1.24.2 (SQLite backend) into the cache.
#
# A plain `go install ...@v1.24.2` gives a binary that panics at start: the
# module ships no build/version/version.txt. So build from a writable copy
# of the module with that file written in. Prints the binary's path.
set -eu
version=v1.24.2
cache=${OPLOGKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oplogkit}
bin=$cache/ferretdb-$version
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
command -v go >/dev/null || { echo "build-ferretdb: go not found" >&2; exit 1; }
mkdir -p "$cache"
dir=$(go mod download -json "github.com/FerretDB/FerretDB@$version" |
	sed -n 's/.*"Dir": "\(.*\)",/\1/p')
[ -n "$dir" ] || { echo "build-ferretdb: go mod download failed" >&2; exit 1; }
src=$(mktemp -d "$cache/ferretdb-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
cp -r "$dir/." "$src"
chmod -R u+w "$src"
echo "$version" > "$src/build/version/version.txt"
(cd "$src" && go build -o "$bin.tmp" ./cmd/ferretdb) >&2
mv "$bin.tmp" "$bin"
echo "$bin"
