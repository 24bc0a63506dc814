#!/usr/bin/env bash
# Builds the crypto worker's WebAssembly (the blindfold-worker crate: TFHE-rs client side) into
# target/site/worker, next to the page bundle that cargo-leptos writes. Run it after
# `cargo leptos build`, which empties target/site.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out=target/site/worker

cargo build -p blindfold-worker --lib --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir "$out" \
  target/wasm32-unknown-unknown/release/blindfold_worker.wasm
# Optimised for speed: key generation and encryption run here. The features are those rustc
# enables for wasm32-unknown-unknown.
wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/blindfold_worker_bg.wasm" -o "$out/blindfold_worker_bg.wasm"
echo "crypto worker: $(stat -c %s "$out/blindfold_worker_bg.wasm") bytes of wasm in $out"
