#!/usr/bin/env bash
# The README's test command: installs everything, builds with warnings as errors, and runs
# every test (Catch2 unit tests and the integration tests against the real binary) under ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
"$root/deploy/build.sh" -DCONDUIT_WERROR=ON -DCONDUIT_TESTS=ON
built=$(date +%s)
cd "$root/build"
ctest --output-on-failure -j "${CONDUIT_JOBS:-2}"
echo "build: $((built - start)) s, tests: $(( $(date +%s) - built )) s"
