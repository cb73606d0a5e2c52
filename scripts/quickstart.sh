#!/usr/bin/env bash
# Quick start: installs what is missing (apt-get), builds Tessera, generates a
# demo data set (200 series over 6 hours: counters, gauges, histograms),
# imports it into a local TSDB with `tessera tsdb import openmetrics` and
# prints what the TSDB holds with `tessera tsdb inspect`.
#
# Usage: scripts/quickstart.sh [DATA_DIR]     (default: ./tessera-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target tessera >/dev/null
bin=build/cmd/tessera/tessera
dir=${1:-tessera-demo}
rm -rf "$dir"
mkdir -p "$dir"
echo "generating demo data (200 series x 6h at 15s) ..."
scripts/bench/gen_openmetrics.sh -n 200 -d 6 > "$dir/demo.om"
echo "importing into $dir/data ..."
"$bin" tsdb import openmetrics "$dir/demo.om" "$dir/data"
echo
"$bin" tsdb inspect "$dir/data"
echo
echo "The blocks above are ordinary Tessera TSDB blocks in $dir/data."
