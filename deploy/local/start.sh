#!/usr/bin/env bash
# Starts a local Orleans.Coordinator cluster as plain processes on loopback:
#   Redis (AOF on, noeviction), N silos, M gateways; waits until all are ready; prints URLs and tokens.
# Usage: deploy/local/start.sh [N silos, default 2] [M gateways, default 1]
# Environment (all optional): DEPLOY_DIR (state, logs; default <repo>/.deploy-local), CONFIGURATION (Release),
#   REDIS_PORT (6390), SILO_PORT_BASE (11111), SILO_GATEWAY_PORT_BASE (30000), SILO_HTTP_BASE (5090),
#   HTTP_PORT_BASE (5080), GRPC_PORT_BASE (8081), ADMIN_TOKEN, CLIENT_TOKEN, READY_TIMEOUT (120 s).
# Stop it with deploy/local/stop.sh (same DEPLOY_DIR).
set -euo pipefail

SILOS=${1:-2}
GATEWAYS=${2:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEPLOY_DIR=${DEPLOY_DIR:-$ROOT/.deploy-local}
CONFIGURATION=${CONFIGURATION:-Release}
REDIS_PORT=${REDIS_PORT:-6390}
SILO_PORT_BASE=${SILO_PORT_BASE:-11111}
SILO_GATEWAY_PORT_BASE=${SILO_GATEWAY_PORT_BASE:-30000}
SILO_HTTP_BASE=${SILO_HTTP_BASE:-5090}
HTTP_PORT_BASE=${HTTP_PORT_BASE:-5080}
GRPC_PORT_BASE=${GRPC_PORT_BASE:-8081}
READY_TIMEOUT=${READY_TIMEOUT:-120}

command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install -y redis-server" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing: apt-get install -y curl" >&2; exit 1; }
if [ -f "$DEPLOY_DIR/pids" ]; then
  echo "A cluster from $DEPLOY_DIR seems to be running: run deploy/local/stop.sh first." >&2
  exit 1
fi

silo_dll=$ROOT/Silo/bin/$CONFIGURATION/net10.0/Orleans.Coordinator.Silo.dll
gateway_dll=$ROOT/Gateway/bin/$CONFIGURATION/net10.0/Orleans.Coordinator.Gateway.dll
if [ ! -f "$silo_dll" ] || [ ! -f "$gateway_dll" ]; then
  echo "Building ($CONFIGURATION)..."
  dotnet build "$ROOT/Orleans.Coordinator.sln" -c "$CONFIGURATION" -v quiet -nologo >/dev/null
fi

mkdir -p "$DEPLOY_DIR/redis" "$DEPLOY_DIR/logs"
random() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }
token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ADMIN_TOKEN=${ADMIN_TOKEN:-$(token)}
CLIENT_TOKEN=${CLIENT_TOKEN:-$(token)}

cat > "$DEPLOY_DIR/env" <<ENV
export Redis__ConnectionString=127.0.0.1:$REDIS_PORT
export Auth__AdminTokens__0=$ADMIN_TOKEN
export Auth__ClientTokens__0=$CLIENT_TOKEN
export Security__SessionKeys__0__Id=local1
export Security__SessionKeys__0__Key=$(random)
export Security__ApiKeyHmacSecret=$(random)
export Logging__LogLevel__Default=Warning
ENV
chmod 600 "$DEPLOY_DIR/env"
# shellcheck disable=SC1091
source "$DEPLOY_DIR/env"

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DEPLOY_DIR/redis" --appendonly yes \
  --appendfsync everysec --maxmemory-policy noeviction --protected-mode yes --save "" \
  > "$DEPLOY_DIR/logs/redis.log" 2>&1 &
echo "redis $! 127.0.0.1:$REDIS_PORT" >> "$DEPLOY_DIR/pids"

urls=()
for i in $(seq 0 $((SILOS - 1))); do
  http=$((SILO_HTTP_BASE + i))
  (cd "$(dirname "$silo_dll")" && Orleans__SiloPort=$((SILO_PORT_BASE + i)) Orleans__GatewayPort=$((SILO_GATEWAY_PORT_BASE + i)) \
    exec dotnet "$silo_dll" --urls "http://127.0.0.1:$http") > "$DEPLOY_DIR/logs/silo-$i.log" 2>&1 &
  echo "silo $! http://127.0.0.1:$http" >> "$DEPLOY_DIR/pids"
  urls+=("http://127.0.0.1:$http")
done

wait_ready() {
  local url=$1 deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS "$url/readyz" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "Timed out after ${READY_TIMEOUT}s waiting for $url/readyz; logs in $DEPLOY_DIR/logs" >&2
      return 1
    fi
    sleep 0.5
  done
}

for url in "${urls[@]}"; do wait_ready "$url"; done

gateway_urls=()
for j in $(seq 0 $((GATEWAYS - 1))); do
  http=$((HTTP_PORT_BASE + j))
  (cd "$(dirname "$gateway_dll")" && Gateway__GrpcPort=$((GRPC_PORT_BASE + j)) \
    exec dotnet "$gateway_dll" --urls "http://127.0.0.1:$http") > "$DEPLOY_DIR/logs/gateway-$j.log" 2>&1 &
  echo "gateway $! http://127.0.0.1:$http" >> "$DEPLOY_DIR/pids"
  gateway_urls+=("http://127.0.0.1:$http")
done

for url in "${gateway_urls[@]}"; do wait_ready "$url"; done

echo "Cluster ready: $SILOS silo(s), $GATEWAYS gateway(s), Redis on 127.0.0.1:$REDIS_PORT."
for j in "${!gateway_urls[@]}"; do echo "gateway: ${gateway_urls[$j]} (gRPC h2c on port $((GRPC_PORT_BASE + j)))"; done
for url in "${urls[@]}"; do echo "silo:    $url  (dashboard: $url/dashboard/)"; done
echo "admin token:  $ADMIN_TOKEN"
echo "client token: $CLIENT_TOKEN"
echo "settings:     source $DEPLOY_DIR/env"
echo "stop with:    DEPLOY_DIR=$DEPLOY_DIR deploy/local/stop.sh"
