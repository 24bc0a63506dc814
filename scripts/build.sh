#!/usr/bin/env bash
# Builds the whole site, optimised: the server binary, the hydrating page bundle and the
# stylesheet (cargo-leptos, into target/site), then the crypto worker's wasm module; then seals the
# site for caching (content-hashed worker directory, the manifest the server reads, brotli and
# gzip copies: scripts/seal-assets.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

cargo leptos build --release
bash scripts/build-worker.sh
bash scripts/seal-assets.sh
