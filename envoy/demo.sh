#!/usr/bin/env bash
# The `make run` demo: the echo upstream and Envoy with envoy/envoy.yaml on 127.0.0.1, demo
# tokens minted from envoy/demo-keys, and curl commands that succeed and fail, each tried once
# so you see the answer. Ctrl-C stops both processes (by PID).
# Needs ENVOY_BIN (the Envoy binary) and EDGE_AUTH_CLI (the edge-auth tool); `make run` sets both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ENVOY_BIN:?set ENVOY_BIN to the Envoy binary (make run does)}"
: "${EDGE_AUTH_CLI:?set EDGE_AUTH_CLI to the edge-auth tool (make run does)}"

for port in 8000 9901 10000; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port 127.0.0.1:$port is in use; stop what runs there first" >&2
    exit 1
  fi
done

mkdir -p .run
python3 envoy/echo_upstream.py --port 8000 > .run/echo.log 2>&1 &
echo_pid=$!
"$ENVOY_BIN" -c envoy/envoy.yaml --disable-hot-restart --concurrency 1 -l info --log-path .run/envoy.log &
envoy_pid=$!
stop() { kill "$envoy_pid" "$echo_pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -sf http://127.0.0.1:9901/ready > /dev/null; then break; fi
  if ! kill -0 "$envoy_pid" 2>/dev/null; then
    echo "Envoy exited; its log says:" >&2; tail -n 20 .run/envoy.log >&2; exit 1
  fi
  sleep 0.2
done

iss=https://auth.example.com/realms/main
mint() { "$EDGE_AUTH_CLI" token --iss "$iss" --aud edge-api --sub alice "$@"; }
READ=$(mint --alg RS256 --key envoy/demo-keys/demo-rs256.key --kid demo-rs256 --scope "devices:read profile:read" --claim email=alice@example.com)
WRITE=$(mint --alg ES256 --key envoy/demo-keys/demo-es256.key --kid demo-es256 --scope "devices:read devices:write")
EXPIRED=$(mint --alg EdDSA --key envoy/demo-keys/demo-eddsa.key --kid demo-eddsa --scope devices:read --ttl 0 --claim iat=1000000000 --claim exp=1000000060)

try() {
  local expect=$1; shift
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' "$@")
  printf '  -> expected %s, got %s\n\n' "$expect" "$got"
}
show() { printf '%s\n' "$*" | sed -E 's/(ey[A-Za-z0-9_-]{8})[A-Za-z0-9_.-]{40,}/\1.../g'; }

cat <<INFO

edge-auth demo: Envoy on http://127.0.0.1:10000 (admin 127.0.0.1:9901), echo upstream on :8000.
Demo tokens (signed with the committed demo keys; valid 1 hour):
  export READ='$READ'
  export WRITE='$WRITE'

INFO
show "curl -i http://127.0.0.1:10000/public/hello                                   # public route"
try 200 http://127.0.0.1:10000/public/hello
show "curl -i http://127.0.0.1:10000/devices                                        # no token"
try 401 http://127.0.0.1:10000/devices
show "curl -i -H \"Authorization: Bearer \$READ\" http://127.0.0.1:10000/devices       # RS256, devices:read"
try 200 -H "Authorization: Bearer $READ" http://127.0.0.1:10000/devices
show "curl -i -X POST -H \"Authorization: Bearer \$READ\" http://127.0.0.1:10000/devices   # lacks devices:write"
try 403 -X POST -H "Authorization: Bearer $READ" http://127.0.0.1:10000/devices
show "curl -i -X POST -H \"x-rpz-auth: Bearer \$WRITE\" -H 'Authorization: Basic dXNlcjpwdw==' http://127.0.0.1:10000/devices   # ES256 in the alternate header; Authorization reaches the upstream"
try 200 -X POST -H "x-rpz-auth: Bearer $WRITE" -H 'Authorization: Basic dXNlcjpwdw==' http://127.0.0.1:10000/devices
show "curl -i -H \"Authorization: Bearer $EXPIRED\" http://127.0.0.1:10000/devices   # expired"
try 401 -H "Authorization: Bearer $EXPIRED" http://127.0.0.1:10000/devices
show "curl -i -H 'x-auth-subject: admin' -H \"Authorization: Bearer \$READ\" http://127.0.0.1:10000/profile   # spoofed identity header is replaced"
try 200 -H 'x-auth-subject: admin' -H "Authorization: Bearer $READ" http://127.0.0.1:10000/profile

KEY=(-H 'clientId: demo-client' -H 'clientSecret: demo-secret-2f9c41d7e8a3b605')
show "curl -i -H 'clientId: demo-client' -H 'clientSecret: demo-secret-2f9c41d7e8a3b605' http://127.0.0.1:10000/devices   # API key pair"
try 200 "${KEY[@]}" http://127.0.0.1:10000/devices
show "curl -i -H 'clientId: demo-client' -H 'clientSecret: wrong' http://127.0.0.1:10000/devices   # wrong secret"
try 401 -H 'clientId: demo-client' -H 'clientSecret: wrong' http://127.0.0.1:10000/devices
show "curl -i -u demo-client:demo-secret-2f9c41d7e8a3b605 http://127.0.0.1:10000/legacy/status   # HTTP Basic on a Basic-only route"
try 200 -u demo-client:demo-secret-2f9c41d7e8a3b605 http://127.0.0.1:10000/legacy/status
show "curl -i -H \"Authorization: Bearer \$READ\" http://127.0.0.1:10000/legacy/status   # a token is refused there"
try 401 -H "Authorization: Bearer $READ" http://127.0.0.1:10000/legacy/status
show "curl -i \"http://127.0.0.1:10000/devices?page=2&token=\$READ\"   # query token; the upstream sees /devices?page=2"
try 200 "http://127.0.0.1:10000/devices?page=2&token=$READ"
show "curl -i -H 'appId: demo-app' -H 'clientId: demo-client' -H 'clientSecret: demo-secret-2f9c41d7e8a3b605' http://127.0.0.1:10000/devices   # granted application"
try 200 -H 'appId: demo-app' "${KEY[@]}" http://127.0.0.1:10000/devices
show "curl -i -H 'appId: other-app' -H 'clientId: demo-client' -H 'clientSecret: demo-secret-2f9c41d7e8a3b605' http://127.0.0.1:10000/devices   # application not granted"
try 403 -H 'appId: other-app' "${KEY[@]}" http://127.0.0.1:10000/devices

echo "Mint more: $EDGE_AUTH_CLI token --alg HS256 --key envoy/demo-keys/demo-hs256.key --kid demo-hs256 --iss $iss --aud edge-api --sub bob --scope devices:read"
echo "API secrets for the config: printf '%s' 'the-secret' | $EDGE_AUTH_CLI hash-secret"
echo "Logs: .run/envoy.log and .run/echo.log.  Press Ctrl-C to stop."
wait "$envoy_pid"
