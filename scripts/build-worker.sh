#!/usr/bin/env bash
# Builds the crypto worker (the blindfold-worker crate: TFHE-rs client side) into
# target/site/worker, next to the page bundle that cargo-leptos writes. Run it after
# `cargo leptos build`, which empties target/site; scripts/seal-assets.sh then moves everything
# here into a content-hashed directory, so the files refer to each other by relative paths only.
#
#   crypto-worker.js   the worker's entry script (frontend/worker/js/): picks a module below
#   mt/                threaded: nightly Rust with atomics and a rebuilt std, tfhe's rayon pool
#                      on Web Workers (wasm-bindgen-rayon's snippets/ start them); needs a
#                      cross-origin isolated page (SharedArrayBuffer)
#   st/                single-threaded: stable Rust, for pages that are not isolated
#
# BLINDFOLD_WORKER_THREADS=0 skips the threaded module (the entry script then always falls
# back, saying so on the page).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out=target/site/worker
# The nightly that builds the threaded module; scripts/setup.sh installs it with rust-src.
nightly=$(cat frontend/worker/nightly-toolchain)

mkdir -p "$out"
# Earlier builds' loose files (sealed directories are scripts/seal-assets.sh's to replace).
rm -rf "$out/st" "$out/mt" "$out/crypto-worker.js" "$out"/blindfold_worker*

# wasm-opt: optimised for speed (key generation and encryption run here), with the features
# rustc enables for wasm32-unknown-unknown; the threaded module adds shared memory and atomics.
features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)

cargo build -p blindfold-worker --lib --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir "$out/st" \
  target/wasm32-unknown-unknown/release/blindfold_worker.wasm
wasm-opt -O3 "${features[@]}" "$out/st/blindfold_worker_bg.wasm" -o "$out/st/blindfold_worker_bg.wasm"

if [[ ${BLINDFOLD_WORKER_THREADS:-1} != 0 ]]; then
  # Its own target directory: the nightly's artifacts (std included) would otherwise evict
  # stable's. The flags are wasm-bindgen-rayon's: atomics and bulk memory, std rebuilt with
  # them; and, since rustc no longer implies them with atomics (rust-lang/rust#147225), a
  # shared memory imported from JavaScript (1 GiB at most: key generation peaks far below) and
  # the thread-local storage exports wasm-bindgen's thread support needs.
  link_args=(--shared-memory --max-memory=1073741824 --import-memory --export=__wasm_init_tls
    --export=__tls_size --export=__tls_align --export=__tls_base)
  RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals ${link_args[*]/#/-Clink-arg=}" \
    cargo "+$nightly" build -p blindfold-worker --lib --release --target wasm32-unknown-unknown \
    --features threads --target-dir target/wasm-threads -Z build-std=panic_abort,std
  wasm-bindgen --target web --no-typescript --out-dir "$out/mt" \
    target/wasm-threads/wasm32-unknown-unknown/release/blindfold_worker.wasm
  # A module without a shared memory would run, but its thread pool would not start.
  grep -Eq 'shared: ?true' "$out/mt/blindfold_worker.js" ||
    { echo "build-worker.sh: the threaded module has no shared memory" >&2; exit 1; }
  wasm-opt -O3 "${features[@]}" --enable-threads \
    "$out/mt/blindfold_worker_bg.wasm" -o "$out/mt/blindfold_worker_bg.wasm"
  # wasm-bindgen-rayon's helper (run by each thread's Web Worker) imports the module's JS as
  # the directory '../../..', which bundlers resolve to its entry file and browsers do not:
  # name the file.
  mapfile -t helpers < <(find "$out/mt/snippets" -path '*wasm-bindgen-rayon-*' -name workerHelpers.js)
  ((${#helpers[@]} == 1)) || { echo "build-worker.sh: expected one wasm-bindgen-rayon helper in $out/mt" >&2; exit 1; }
  sed -i "s#import('../../..')#import('../../../blindfold_worker.js')#" "${helpers[@]}"
  grep -q "import('../../../blindfold_worker.js')" "${helpers[@]}" ||
    { echo "build-worker.sh: wasm-bindgen-rayon's helper changed; check its import" >&2; exit 1; }
fi

cp frontend/worker/js/crypto-worker.js "$out/"
for module in st mt; do
  if [[ -f $out/$module/blindfold_worker_bg.wasm ]]; then
    echo "crypto worker ($module): $(stat -c %s "$out/$module/blindfold_worker_bg.wasm") bytes of wasm"
  fi
done
