#!/usr/bin/env bash
# Sets up, builds and runs Blindfold on http://127.0.0.1:3000 with the default breast cancer
# model (SQLite and files under ./data; nothing else to start). The first account registered
# on a fresh ./data is a model owner (BLINDFOLD_FIRST_ACCOUNT_OWNER=false to turn that off).
# Extra arguments go to `blindfold-server serve` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export BLINDFOLD_FIRST_ACCOUNT_OWNER="${BLINDFOLD_FIRST_ACCOUNT_OWNER:-true}"
exec target/release/blindfold-server serve --site-root target/site "$@"
