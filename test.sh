#!/usr/bin/env bash
# test.sh — the whole test suite from a fresh Debian 12 machine:
# installs what it needs, builds twice (plain, and with AddressSanitizer +
# UndefinedBehaviorSanitizer), runs every test in both builds, and ends
# with one line "N passed, N failed".
#   ./test.sh            both builds
#   ./test.sh --quick    the sanitizer build only
set -uo pipefail
cd "$(dirname "$0")"
./deps.sh || { echo "0 passed, 1 failed"; exit 1; }

builds=("build-test-asan:-Db_sanitize=address,undefined -Db_lundef=false")
if [ "${1:-}" != "--quick" ]; then
  builds=("build-test:" "${builds[@]}")
fi
# Sanitizers: fail the test on any report; leaks too.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0; failed=0
for spec in "${builds[@]}"; do
  dir="${spec%%:*}"; opts="${spec#*:}"
  echo "=== $dir ($opts)"
  if [ ! -d "$dir" ]; then
    # shellcheck disable=SC2086
    meson setup "$dir" $opts >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed+1)); continue; }
  fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    cat "$dir.build.log"; echo "build failed in $dir"; failed=$((failed+1)); continue
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3
  # Count from meson's machine-readable log.
  read -r p f < <(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("result") in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r.get("result") != "SKIP":
        f += 1
print(p, f)
PY
)
  passed=$((passed+p)); failed=$((failed+f))
done
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
