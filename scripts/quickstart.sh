#!/usr/bin/env bash
# Quick start: installs what is missing (apt-get), builds Tessera, and runs a
# local cluster on loopback: 2 shards x 2 HA replicas and a global querier,
# scraping a node_exporter and the cluster's own /metrics.  Ctrl-C (or
# `scripts/quickstart.sh --stop`) stops it cleanly.
#
# Usage: scripts/quickstart.sh [--stop] [--base-port=N] [--dir=DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
    [ "$a" = --stop ] && exec scripts/cluster.sh "$@"
done
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target tessera >/dev/null
exec scripts/cluster.sh "$@"
