#!/usr/bin/env bash
# Measures the browser worker's cryptography as wasm in Node.js: key generation and encryption
# time, key and upload sizes. Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  cargo install wasm-bindgen-cli --version "$version"
fi
cargo build -p blindfold-frontend --lib --release --target wasm32-unknown-unknown
wasm-bindgen --target nodejs --out-dir target/wasm-node target/wasm32-unknown-unknown/release/blindfold_frontend.wasm
cargo run --release -p blindfold-model --bin bench -- --export target/wasm-export
node frontend/bench/worker-timings.mjs target/wasm-node target/wasm-export
