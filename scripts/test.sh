#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting and lint
# (scripts/format.sh --check, scripts/lint.sh), builds with ASan+UBSan and
# -Werror, and runs every test (ctest: unit, promql, integration).
# Usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build=${TS_BUILD_DIR:-build-asan}
scripts/format.sh --check
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON \
      -DTS_SANITIZER=address,undefined -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
scripts/lint.sh "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 600 -j"$(nproc)" "$@"
