#!/usr/bin/env bash
# Every detached coroutine in the proxy ends in report_escaped() (proxy/net/spawn.hpp),
# never in asio::detached, which lets an escaped exception terminate the gateway.
# usage: check_spawn_handlers.sh SOURCE_DIR
set -euo pipefail
found=$(grep -rn --include='*.cpp' --include='*.hpp' -E 'asio::detached|boost/asio/detached.hpp' "$1/proxy" || true)
if [[ -n $found ]]; then
  echo "tests/structure: use report_escaped(\"where\") (proxy/net/spawn.hpp) instead of asio::detached:"
  echo "$found"
  exit 1
fi
echo "spawn handlers: no asio::detached in proxy/"
