#!/usr/bin/env bash
# The one test command: installs redis-server if it is missing, builds, runs every test.
# Extra arguments go to the test runner (e.g. ./test.sh --filter-class "*Redis*").
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  echo "redis-server is missing: installing Debian's package (the tests run a real Redis)." >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
  else
    sudo apt-get update
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
  fi
fi

dotnet build Orleans.Coordinator.sln -c Release
dotnet test --project Tests -c Release --no-build "$@"
