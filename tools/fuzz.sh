#!/usr/bin/env bash
# Runs thimble's fuzz harnesses for as long as you like (CI runs each for a
# minute, tests/fuzz/test_fuzz.py). docs/fuzzing.md says what each covers.
#
#   tools/fuzz.sh HARNESS [SECONDS] [SEED]     one of: image request link loaders all
#   tools/fuzz.sh all 3600 7                   every harness, an hour each, seed 7
#
# Findings (and, for the C harnesses, inputs that reached new code) are
# written to fuzz-out/HARNESS/: crash-* and hang-* are reproducers; replay one
# with `tools/fuzz.sh HARNESS --replay FILE`. Exit status 1 when a harness found something.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }   # the header comment
[ $# -ge 1 ] || { usage; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
name=$1; shift
PY=${PYTHON:-.venv/bin/python}
run_one() {
    local h=$1; shift
    local out="fuzz-out/$h"
    mkdir -p "$out/corpus"
    if [ "$h" = loaders ]; then
        if [ "${1:-}" = --replay ]; then shift; "$PY" tests/fuzz/loaders/harness.py --replay --out "$out" "$@"; return; fi
        "$PY" tests/fuzz/loaders/harness.py --seconds "${1:-60}" --seed "${2:-1}" --out "$out"
        return
    fi
    local exe
    exe=$("$PY" tests/fuzz/fuzz_build.py "$h" | tail -1)
    export THM_FUZZ_REQUEST=tests/fuzz/image/request.thrq THM_FUZZ_TOKENIZER=tests/fuzz/request/tokenizer.bin
    if [ "${1:-}" = --replay ]; then shift; "$exe" --replay --out "$out" "$@"; return; fi
    local inputs=("tests/fuzz/$h/corpus" "$out/corpus")
    [ -d "tests/fuzz/$h/regressions" ] && inputs+=("tests/fuzz/$h/regressions")
    "$exe" --seconds "${1:-60}" --seed "${2:-1}" --out "$out" --keep "$out/corpus" "${inputs[@]}"
    ! ls "$out"/crash-* "$out"/hang-* >/dev/null 2>&1
}
case "$name" in
    image|request|link|loaders) run_one "$name" "$@" ;;
    all) rc=0; for h in image request link loaders; do echo "== $h"; run_one "$h" "$@" || rc=1; done; exit $rc ;;
    *) echo "fuzz.sh: no harness '$name' (image, request, link, loaders, all)" >&2; exit 2 ;;
esac
