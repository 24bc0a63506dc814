#!/usr/bin/env bash
# Slow denial of service, with a real tool: Debian's slowhttptest opens 2,000 connections that
# send their headers a line every 10 s (slowloris, -H) and then 2,000 that declare a JSON body
# and send it a few bytes every 10 s (slow body, -B), against the release server started under
# `ulimit -n 1024`. While each attack runs, another client (another loopback address) probes
# /healthz and a real login once a second: every probe must answer 200 within 2 s. Afterwards
# the server must be whole: alive, its descriptors given back, a new account written, and a
# clean stop on SIGTERM. slowhttptest's reports land in target/slow-dos/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --slow-dos
# The server binary as `cargo test` builds it (nothing to do right after it).
cargo test --workspace --release --no-run
server_bin=target/release/blindfold-server
out=target/slow-dos
rm -rf "$out"
mkdir -p "$out"
data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# `ulimit -n` in bash sets the soft and the hard limit: the server cannot raise it.
(ulimit -n 1024 && exec "$server_bin" serve --addr "127.0.0.1:$port" --data-dir "$data") \
  > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  if curl -sf "$base/healthz" >/dev/null; then break; fi
  sleep 0.2
done
curl -sf "$base/healthz" >/dev/null || { cat "$out/server.log"; exit 1; }

# The prober: another client than the attacker, which connects from 127.0.0.1.
probe_from=127.0.0.2
password='correct horse battery staple'
account() { printf '{"username":"%s","password":"%s","password_confirmation":"%s"}' "$1" "$password" "$password"; }
curl -sf --interface "$probe_from" -o /dev/null -H 'content-type: application/json' \
  --data "$(account prober)" "$base/api/register"
credentials=$(printf '{"username":"prober","password":"%s"}' "$password")

descriptors() { ls "/proc/$server/fd" | wc -l; }
baseline=$(descriptors)
failures=0

probe() {
  local what=$1 status
  shift
  status=$(curl -s --interface "$probe_from" --max-time 2 -o /dev/null -w '%{http_code}' "$@" || true)
  if [ "$status" != 200 ]; then
    echo "  probe $what: ${status:-no answer} (want 200 within 2 s)"
    failures=$((failures + 1))
  fi
}

attack() {
  local name=$1
  shift
  echo "== slowhttptest $name: 2,000 connections from 127.0.0.1, probes from $probe_from"
  # The attacker needs a descriptor per connection itself.
  (ulimit -n 8192 && exec slowhttptest -c 2000 -r 500 -i 10 -l 40 -p 3 -g -o "$out/$name" "$@") \
    > "$out/$name.log" 2>&1 &
  local tool=$!
  sleep 5
  local most=0
  for _ in $(seq 1 25); do
    probe /healthz "$base/healthz"
    probe /api/login -H 'content-type: application/json' --data "$credentials" "$base/api/login"
    local now
    now=$(descriptors)
    [ "$now" -gt "$most" ] && most=$now
    sleep 1
  done
  wait "$tool" || true
  echo "  server descriptors: at most $most while attacked (limit 1024)"
  # The attack reached the server: it held the attacker's share of connections.
  if [ "$most" -lt $((baseline + 32)) ]; then
    echo "  the attack never held the server's connections"
    failures=$((failures + 1))
  fi
  sed 's/\x1b\[[0-9;]*m//g' "$out/$name.log" | grep -E '^ *(closed|pending|connected|error):' | tail -n 4 |
    sed 's/^ */  slowhttptest: /' || true
}

attack slowloris -H -t GET -u "$base/" -x 24
attack slow-body -B -t POST -u "$base/api/login" -f application/json -s 8192 -x 24

echo "== afterwards"
kill -0 "$server" || { echo "the server died"; cat "$out/server.log"; exit 1; }
# The attack's connections are closed by the header and body timeouts (10 s each).
for _ in $(seq 1 30); do
  [ "$(descriptors)" -le $((baseline + 8)) ] && break
  sleep 1
done
echo "  server descriptors: $(descriptors) (before the attacks: $baseline)"
[ "$(descriptors)" -le $((baseline + 8)) ] || { echo "descriptors not given back"; failures=$((failures + 1)); }
probe /healthz "$base/healthz"
probe /api/login -H 'content-type: application/json' --data "$credentials" "$base/api/login"
status=$(curl -s --interface 127.0.0.3 --max-time 5 -o /dev/null -w '%{http_code}' \
  -H 'content-type: application/json' --data "$(account afterwards)" "$base/api/register" || true)
[ "$status" = 201 ] || { echo "  registering afterwards: $status (want 201)"; failures=$((failures + 1)); }
kill -TERM "$server"
if ! wait "$server"; then
  echo "the server did not stop cleanly"
  failures=$((failures + 1))
fi
trap 'rm -rf "$data"' EXIT
if grep -q panicked "$out/server.log"; then
  echo "the server panicked"
  failures=$((failures + 1))
fi
if [ "$failures" -gt 0 ]; then
  echo "slow-dos: $failures failures (server log: $out/server.log)"
  exit 1
fi
echo "slow-dos: every probe answered within 2 s"
