#!/usr/bin/env bash
# Sets up and runs Blindfold on http://127.0.0.1:3000 with the default breast cancer model
# (SQLite and files under ./data; nothing else to start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release -p blindfold-server -- serve "$@"
