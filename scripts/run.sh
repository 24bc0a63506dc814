#!/usr/bin/env bash
# Sets up and runs Blindfold with the default breast cancer model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --release -p blindfold-model --bin bench -- --model breast-cancer --rows 20
