#!/usr/bin/env bash
# Installs the Debian dependencies, checks that they are all there (deploy/check-deps.sh),
# and builds Conduit into ./build (ccache, 2 jobs).
# Usage: deploy/build.sh [extra cmake -D options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh"
"$root/deploy/check-deps.sh"   # fail fast, naming the package, if something is still missing
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$root/build" -j "${CONDUIT_JOBS:-2}"
