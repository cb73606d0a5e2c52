#!/usr/bin/env bash
# Static checks that CI runs (scripts/test.sh), each for a reason that bit us or Prometheus' peers:
#  1. banned calls in pkg/ and cmd/ (curl's checksrc idea): atoi/atol/atof/sscanf-style parsing that
#     cannot report bad input, unbounded string writers, and raw allocation. ts_malloc & co. (pkg/util/
#     mem.h) abort on out-of-memory, so a raw malloc outside mem.c is an unchecked allocation.
#  2. clang-tidy with a short list of checks that find real bugs in this code base (not style).
#  3. no source line over 100 columns.
# Usage: scripts/lint.sh BUILD_DIR   (a configured build tree with compile_commands.json and the
#        generated protobuf headers, as scripts/test.sh leaves it)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/lint.sh BUILD_DIR}
fail=0

# 1. Banned calls, outside comments and string literals.
python3 - "$@" <<'PY' || fail=1
import re, subprocess, sys
banned = {
    'atoi': 'no error report; use strtol with end and errno checks',
    'atol': 'no error report; use strtol', 'atoll': 'no error report; use strtoll',
    'atof': 'no error report; use the Go-compatible float parser (pkg/util/floatfmt.h) or strtod',
    'sprintf': 'unbounded; use snprintf', 'vsprintf': 'unbounded; use vsnprintf',
    'strcpy': 'unbounded; use memcpy with a known length or snprintf',
    'strcat': 'unbounded', 'gets': 'unbounded', 'strtok': 'not reentrant; use strtok_r',
    'malloc': 'unchecked allocation; use ts_malloc (pkg/util/mem.h)',
    'calloc': 'unchecked allocation; use ts_calloc', 'realloc': 'unchecked allocation; use ts_realloc',
    'strdup': 'unchecked allocation; use ts_strdup', 'strndup': 'unchecked allocation; use ts_strndup',
}
# mem.c is the wrapper; embed_gen.c is a build-time host tool that links no Tessera library and
# checks every result itself.
allowed = {'pkg/util/mem.c': {'malloc', 'calloc', 'realloc'},
           'pkg/web/embed_gen.c': {'malloc', 'calloc', 'realloc'}}
files = subprocess.run(['git', 'ls-files', 'cmd/*.[ch]', 'pkg/*.[ch]'], capture_output=True,
                       text=True, check=True).stdout.split()
tok = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
call = re.compile(r'(?<![\w.>])(' + '|'.join(banned) + r')\s*\(')
bad = 0
for f in files:
    src = open(f, encoding='utf-8', errors='replace').read()
    # blank out comments and literals but keep newlines, so line numbers stay right
    code = tok.sub(lambda m: re.sub(r'[^\n]', ' ', m.group(0)), src)
    for m in call.finditer(code):
        name = m.group(1)
        if name in allowed.get(f, ()):
            continue
        line = code.count('\n', 0, m.start()) + 1
        print(f'{f}:{line}: banned call {name}(): {banned[name]}')
        bad = 1
sys.exit(bad)
PY

# 2. clang-tidy: a short list of bug-finding checks, warnings are errors.
checks='-*,cert-err34-c,bugprone-suspicious-string-compare,bugprone-suspicious-memset-usage'
checks+=',bugprone-misplaced-widening-cast,bugprone-assert-side-effect'
checks+=',bugprone-bool-pointer-implicit-conversion,bugprone-infinite-loop,bugprone-signed-char-misuse'
checks+=',bugprone-macro-repeated-side-effects,bugprone-multiple-statement-macro,bugprone-suspicious-include'
checks+=',clang-analyzer-unix.MallocSizeof,clang-analyzer-unix.API,clang-analyzer-security.insecureAPI.gets'
if ! command -v clang-tidy >/dev/null; then
    echo "lint.sh: clang-tidy not found (scripts/deps.sh installs it)" >&2; exit 2
fi
[ -f "$build/compile_commands.json" ] || { echo "lint.sh: no $build/compile_commands.json" >&2; exit 2; }
if ! git ls-files 'cmd/*.c' 'pkg/*.c' | xargs -P"$(nproc)" -n8 clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option \
        -checks="$checks" --warnings-as-errors='*' 2>/dev/null >"$build/clang-tidy.log"; then
    grep -E 'error:|warning:' "$build/clang-tidy.log" >&2 || cat "$build/clang-tidy.log" >&2
    fail=1
fi

# 3. The 100-column limit (clang-format cannot always wrap, e.g. long string literals).
if git ls-files 'cmd/*.[ch]' 'pkg/*.[ch]' 'tests/*.[ch]' | xargs awk 'length > 100 {
        printf "%s:%d: %d columns (limit 100)\n", FILENAME, FNR, length; bad = 1 } END { exit bad }'; then :
else fail=1; fi

[ $fail -eq 0 ] && echo "lint.sh: banned calls, clang-tidy and line length clean"
exit $fail
