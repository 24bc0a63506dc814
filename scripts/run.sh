#!/usr/bin/env bash
# Sets up, builds and runs Blindfold on http://127.0.0.1:3000 with the default breast cancer
# model (SQLite and files under ./data; nothing else to start). Extra arguments go to
# `blindfold-server serve` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec target/release/blindfold-server serve --site-root target/site "$@"
