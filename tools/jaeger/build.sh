#!/usr/bin/env bash
# Builds the Jaeger all-in-one binary that the tracing tests export to, once:
# it is cached (a cold build takes about five minutes) and its path printed.
#
#   tools/jaeger/build.sh [OUTPUT]
#
# OUTPUT defaults to $WSD_JAEGER_BIN, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/wsd-tools/jaeger-VERSION, VERSION being the
# one pinned in tools/jaeger/go.mod. An existing binary is kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/jaegertracing/jaeger" { print $3 }' "$here/go.mod")
[ -n "$version" ] || { echo "tools/jaeger/go.mod does not require github.com/jaegertracing/jaeger" >&2; exit 1; }
out=${1:-${WSD_JAEGER_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/wsd-tools/jaeger-$version}}
if [ ! -x "$out" ]; then
	mkdir -p "$(dirname "$out")"
	echo "building Jaeger $version into $out (about five minutes the first time)" >&2
	(cd "$here" && go build -o "$out.tmp.$$" github.com/jaegertracing/jaeger/cmd/jaeger)
	mv "$out.tmp.$$" "$out"
fi
echo "$out"
