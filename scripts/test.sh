#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the wasm32 client build, and all Rust tests
# (release-optimised: FHE is far too slow unoptimised).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== wasm32 client build"
cargo build -p blindfold-model -p blindfold-frontend --lib --release --target wasm32-unknown-unknown
echo "== cargo test"
cargo test --workspace --release
