#!/usr/bin/env bash
# OpenAPI-driven fuzzing (a dev script, not part of scripts/test.sh): schemathesis, from pip in
# a venv under target/, generates requests from /api/openapi.json against the release server on
# a fresh data directory, once anonymously and once with a session, and fails on any 5xx answer
# or any answer that contradicts the description (undocumented status, body or content type).
# Arguments go to `schemathesis run` (`bash scripts/fuzz-api.sh --max-examples 200`).
set -euo pipefail
cd "$(dirname "$0")/.."

schemathesis_version=4.32.5
venv=target/fuzz-api-venv
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$schemathesis_version" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi
cargo test --workspace --release --no-run
data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
target/release/blindfold-server serve --addr "127.0.0.1:$port" --data-dir "$data" \
  --registrations-per-hour 1000000 --logins-per-account-per-hour 1000000 > target/fuzz-api-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  if curl -sf "$base/healthz" >/dev/null; then break; fi
  sleep 0.2
done

checks=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
echo "== anonymous"
"$venv/bin/schemathesis" run "$base/api/openapi.json" --checks "$checks" --max-examples 40 "$@"

echo "== with a session (the routes that end it left out)"
password='correct horse battery staple'
headers=$(mktemp)
body=$(curl -sf -D "$headers" -H 'content-type: application/json' \
  --data "{\"username\":\"fuzzer\",\"password\":\"$password\",\"password_confirmation\":\"$password\"}" \
  "$base/api/register")
cookie=$(grep -i '^set-cookie' "$headers" | head -n 1 | sed 's/^[^:]*: //; s/;.*//')
csrf=$(printf '%s' "$body" | python3 -c 'import json, sys; print(json.load(sys.stdin)["csrf_token"])')
rm -f "$headers"
"$venv/bin/schemathesis" run "$base/api/openapi.json" --checks "$checks" --max-examples 40 \
  -H "Cookie: $cookie" -H "x-csrf-token: $csrf" \
  --exclude-path /api/account --exclude-path /api/account/sessions --exclude-path /api/logout "$@"
if grep -q panicked target/fuzz-api-server.log; then
  echo "the server panicked (target/fuzz-api-server.log)"
  exit 1
fi
