#!/usr/bin/env bash
# Browser end-to-end tests: builds the site, starts the real server on a free loopback port
# with a fresh data directory, and runs Playwright (Debian's Chromium) against it. Screenshots
# land in target/e2e/screenshots; the measured figures are printed. Arguments go to
# `playwright test` (`bash scripts/e2e.sh --grep transfer` runs one spec).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

bash scripts/setup.sh --browser
# The server and bench binaries as `cargo test` builds them (nothing to do right after it), so
# the browser tests do not compile TFHE-rs once more with cargo-leptos's feature set; then the
# page bundle, the stylesheet and the crypto worker, sealed for caching.
cargo test --workspace --release --no-run
cargo leptos build --release --frontend-only
bash scripts/build-worker.sh
bash scripts/seal-assets.sh
# What the clear quantized model says about each test row: the browser must show the same.
# The default model, a second one (the LightGBM breast cancer classifier), a linear one (a
# logistic regression) and a network (an MLP) that the browser predicts with under one key.
target/release/bench --export target/e2e/fixture
target/release/bench --model lightgbm-breast-cancer --export target/e2e/fixture-lightgbm
target/release/bench --model sklearn-logistic-regression --export target/e2e/fixture-linear
target/release/bench --model sklearn-linear-svc --export target/e2e/fixture-svm
# A network the owner test publishes from the browser.
target/release/bench --model sklearn-mlp-classifier --export target/e2e/fixture-mlp

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
target/release/blindfold-server import-model --data-dir "$data" \
  --model model/fixtures/lightgbm-breast-cancer/model.txt \
  --calibration model/fixtures/lightgbm-breast-cancer/train.csv \
  --id lightgbm-breast-cancer --name "Breast cancer (LightGBM)" --labels Malignant,Benign
# A linear model: the browser encrypts its row and decrypts its margins the same way.
target/release/blindfold-server import-model --data-dir "$data" \
  --model model/fixtures/sklearn-logistic-regression/model.onnx \
  --calibration model/fixtures/sklearn-logistic-regression/train.csv \
  --id sklearn-logistic-regression --name "Breast cancer (logistic regression)" --labels Malignant,Benign
# A classifier without probabilities: the page shows its decision score.
target/release/blindfold-server import-model --data-dir "$data" \
  --model model/fixtures/sklearn-linear-svc/model.onnx \
  --calibration model/fixtures/sklearn-linear-svc/train.csv \
  --id sklearn-linear-svc --name "Breast cancer (linear SVM)" --labels Malignant,Benign
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Every spec signs its users up from 127.0.0.1: more accounts in the hour than one address may
# make by default (10).
target/release/blindfold-server serve --addr "127.0.0.1:$port" --data-dir "$data" --site-root target/site \
  --registrations-per-hour 100 > target/e2e/server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat target/e2e/server.log; exit 1; }

# The owner test grants the role with the server binary on this data directory.
BLINDFOLD_URL="http://127.0.0.1:$port" BLINDFOLD_E2E_DATA="$data" playwright test --config end2end/playwright.config.mjs "$@"
