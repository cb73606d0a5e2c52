#!/usr/bin/env bash
# Formats the C sources with clang-format (.clang-format at the top).
# Usage: scripts/format.sh          rewrite files in place
#        scripts/format.sh --check  change nothing; list the files that differ and exit 1 (CI)
# Generated code lives in build trees only, so every tracked .c/.h file is ours.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format.sh: clang-format not found (scripts/deps.sh installs it)" >&2; exit 2; }
mapfile -t files < <(git ls-files 'cmd/*.[ch]' 'pkg/*.[ch]' 'tests/*.[ch]' 'fuzz/*.[ch]')
if [ "${1:-}" = "--check" ]; then
    bad=0
    for f in "${files[@]}"; do
        if ! clang-format "$f" | cmp -s - "$f"; then
            echo "format.sh: $f is not formatted (run scripts/format.sh; diff below)" >&2
            clang-format "$f" | diff -u "$f" - | head -20 >&2 || true
            bad=1
        fi
    done
    [ $bad -eq 0 ] && echo "format.sh: ${#files[@]} files formatted"
    exit $bad
fi
clang-format -i "${files[@]}"
