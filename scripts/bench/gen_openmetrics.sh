#!/bin/sh
# Writes realistic OpenMetrics to stdout (see gen_openmetrics.c for the mix):
#   scripts/bench/gen_openmetrics.sh [-n SERIES] [-d HOURS] [-s START_SECONDS] [-S SEED] > FILE
# Compiles gen_openmetrics.c with the system C compiler on first use (cached
# under ${TMPDIR:-/tmp}); needs only cc and libm.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/gen_openmetrics.c"
bin="${TMPDIR:-/tmp}/tessera-gen_openmetrics-$(id -u)"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    ${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -o "$bin.$$" "$src" -lm
    mv "$bin.$$" "$bin"
fi
exec "$bin" "$@"
