#!/usr/bin/env bash
# Longer chaos runs: the resilience suite (Tests/Resilience) N times in a row, on loopback only, with the
# figures each scenario prints. Usage: deploy/chaos/run.sh [rounds, default 10]
# Needs the README's setup (redis-server on PATH; it installs it when run as root) and a Release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-10}"
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then apt-get update && apt-get install -y redis-server; else
    echo "redis-server is missing: sudo apt-get update && sudo apt-get install -y redis-server" >&2; exit 1; fi
fi
dotnet build -c Release
failed=0
for i in $(seq 1 "$rounds"); do
  echo "== chaos round $i/$rounds"
  if ! timeout 900 dotnet test --project Tests -c Release --no-build --filter-namespace "*Resilience" --output Detailed \
      | grep -E "^(passed|failed) |fallback answering|Redis down|round [0-9]:|leases acknowledged|refused writes|marked dead|^  (failed|succeeded):"; then
    failed=$((failed + 1))
  fi
  if [ "${PIPESTATUS[0]:-0}" != "0" ]; then failed=$((failed + 1)); fi
done
echo "chaos: $rounds rounds, $failed failed"
[ "$failed" = "0" ]
