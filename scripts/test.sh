#!/usr/bin/env bash
# Runs every check and test: formatting, the book (built, its internal links checked), lints
# (native and wasm32), all Rust tests (release-optimised: FHE is far too slow unoptimised) with
# the server's integration tests once against SQLite and once against a throw-away PostgreSQL
# server, slowhttptest's slowloris and slow-body attacks against the release server, then the
# site build and the browser end-to-end tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --browser --postgres --slow-dos --tls-proxy --book

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== book (docs/, failing on a broken internal link)"
bash scripts/book.sh
echo "== cargo clippy (native)"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== cargo clippy (wasm32: the page bundle and the crypto worker)"
cargo clippy --target wasm32-unknown-unknown -p blindfold-frontend -p blindfold-worker -p blindfold-app \
  --features blindfold-app/hydrate --release -- -D warnings
echo "== cargo test"
cargo test --workspace --release
echo "== integration tests against PostgreSQL (and the multi-process cluster test, the CLI through nginx over TLS)"
# The same test binaries, already built: only the database differs. `--workspace` keeps the
# feature set of the build above (`-p` would resolve the crates' features anew and recompile).
bash scripts/with-postgres.sh cargo test --workspace --release --test it --test cli -- --include-ignored
echo "== slow denial of service (slowhttptest against the release server under ulimit -n 1024)"
bash scripts/slow-dos.sh
echo "== browser end-to-end tests"
bash scripts/e2e.sh
