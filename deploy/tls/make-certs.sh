#!/usr/bin/env bash
# Makes a cluster CA and one certificate for the Orleans connections (mutual TLS between silos, gateways and internal
# services), as PEM files in the layout of a Kubernetes TLS secret: ca.crt, tls.crt, tls.key.
#   deploy/tls/make-certs.sh [directory] [days]     (default: deploy/compose/tls, 365 days)
# tls.key is made readable by its owner only and, when run as root, owned by uid COORDINATOR_TLS_UID (default 1654, the
# user the Silo and Gateway images run as).
# For production, issue the certificates from your own PKI (e.g. cert-manager with a CA issuer made for this cluster):
# every process trusts any certificate the CA in ca.crt signed, so the CA must serve this cluster only.
set -euo pipefail
dir=${1:-"$(dirname "$0")/../compose/tls"}
days=${2:-365}
# The containers run as the .NET images' non-root user (uid 1654): it must be able to read the node key, nobody else.
uid=${COORDINATOR_TLS_UID:-1654}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/CN=orleans-coordinator-cluster-ca" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out tls.key
openssl req -new -key tls.key -subj "/CN=orleans-coordinator-node" -out tls.csr
cat > tls.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$days" -extfile tls.ext -out tls.crt 2>/dev/null
rm -f tls.csr tls.ext ca.srl
chmod 644 ca.crt tls.crt
chmod 600 ca.key tls.key
if [ "$(id -u)" = 0 ]; then
  chown "$uid" tls.key
else
  echo "warning: tls.key belongs to you (mode 600), but the Silo and Gateway containers read it as uid $uid: run" >&2
  echo "  sudo chown $uid $dir/tls.key   (or run this script with sudo; COORDINATOR_TLS_UID names another uid)" >&2
fi
echo "wrote $dir/{ca.crt,tls.crt,tls.key} (and ca.key: keep it out of the containers)"
