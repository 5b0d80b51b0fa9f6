#!/usr/bin/env bash
# Stops the cluster started by deploy/local/start.sh (same DEPLOY_DIR): gateways, then silos, then Redis.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEPLOY_DIR=${DEPLOY_DIR:-$ROOT/.deploy-local}
pids=$DEPLOY_DIR/pids
[ -f "$pids" ] || { echo "Nothing to stop in $DEPLOY_DIR."; exit 0; }

for kind in gateway silo redis; do
  while read -r name pid _; do
    [ "$name" = "$kind" ] && kill "$pid" 2>/dev/null
  done < "$pids"
  # Give each tier up to 15 s to stop gracefully, then force it.
  for _ in $(seq 1 30); do
    alive=0
    while read -r name pid _; do
      [ "$name" = "$kind" ] && kill -0 "$pid" 2>/dev/null && alive=1
    done < "$pids"
    [ $alive -eq 0 ] && break
    sleep 0.5
  done
  while read -r name pid _; do
    [ "$name" = "$kind" ] && kill -9 "$pid" 2>/dev/null
  done < "$pids"
done

rm -f "$pids"
echo "Stopped. Logs and Redis data stay in $DEPLOY_DIR."
