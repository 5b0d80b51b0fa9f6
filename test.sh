#!/usr/bin/env bash
# The one test command: installs the Debian packages the tests need when missing, builds, runs every test.
# Extra arguments go to the test runner (e.g. ./test.sh --filter-class "*Redis*").
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests run for real: redis-server (Redis), chromium (the /docs page in a headless browser),
# prometheus (promtool and a real Prometheus scraping a gateway and a silo), openssl (deploy/tls/make-certs.sh).
missing=()
for pair in redis-server:/usr/bin/redis-server chromium:/usr/bin/chromium prometheus:/usr/bin/promtool openssl:/usr/bin/openssl; do
  package=${pair%%:*}; binary=${pair#*:}
  [ -x "$binary" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages the tests need: ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    sudo apt-get update
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

dotnet build Orleans.Coordinator.sln -c Release
dotnet test --project Tests -c Release --no-build "$@"
