#!/usr/bin/env bash
# Measures the browser worker's cryptography as wasm in Node.js: key generation and encryption
# time, key and upload sizes. Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build -p blindfold-worker --lib --release --target wasm32-unknown-unknown
wasm-bindgen --target nodejs --out-dir target/wasm-node target/wasm32-unknown-unknown/release/blindfold_worker.wasm
cargo run --release -p blindfold-model --bin bench -- --export target/wasm-export
node frontend/worker/bench/worker-timings.mjs target/wasm-node target/wasm-export
