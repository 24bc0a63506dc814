#!/usr/bin/env bash
# Seals the built site so that browsers download each file once: run it after
# `cargo leptos build` (which names the page bundle and stylesheet after their content,
# `hash-files`) and scripts/build-worker.sh (which writes every file of the crypto worker,
# its entry script crypto-worker.js included, into target/site/worker).
#
# 1. Moves the worker's files into target/site/worker/<hash>/, <hash> the first 16 hex digits
#    of the SHA-256 of their sorted names and SHA-256s, and removes earlier such directories.
#    The worker's files refer to each other by relative paths, so they move together.
# 2. Writes the manifest the server reads at start-up, target/site/hash.txt: cargo-leptos's
#    own lines (`js: `, `wasm: `, `css: `, the page bundle's and stylesheet's hashes, which
#    leptos reads to name them in pages) and `worker: <hash>`. Every file it names is
#    content-addressed: the server sends those with `Cache-Control: immutable`.
# 3. Writes .br and .gz copies beside every compressible file (scripts/precompress.mjs).
#
# Running it again without a new worker build keeps the sealed directory as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
site=target/site
worker=$site/worker
manifest=$site/hash.txt
# Where cargo-leptos writes the hashes: beside the server binary of its release build.
leptos_hashes=target/release/hash.txt

is_sealed_dir() { [[ $1 =~ ^[0-9a-f]{16}$ ]]; }

worker_hash=
if [[ -d $worker ]]; then
  shopt -s nullglob dotglob
  loose=()
  for entry in "$worker"/*; do
    name=${entry##*/}
    if [[ -d $entry ]] && is_sealed_dir "$name"; then continue; fi
    loose+=("$name")
  done
  if ((${#loose[@]} > 0)); then
    worker_hash=$(cd "$worker" &&
      find "${loose[@]}" -type f ! -name '*.br' ! -name '*.gz' -print0 | LC_ALL=C sort -z |
      xargs -0 sha256sum | sha256sum | cut -c1-16)
    staging=$worker/.sealing
    rm -rf "$staging"
    mkdir "$staging"
    for name in "${loose[@]}"; do mv "$worker/$name" "$staging/"; done
    for entry in "$worker"/*; do
      if [[ -d $entry ]] && is_sealed_dir "${entry##*/}"; then rm -rf "$entry"; fi
    done
    mv "$staging" "$worker/$worker_hash"
  else
    sealed=("$worker"/*)
    if ((${#sealed[@]} == 1)); then worker_hash=${sealed[0]##*/}; fi
  fi
  shopt -u nullglob dotglob
fi
if [[ -z $worker_hash ]]; then
  echo "seal-assets: no crypto worker in $worker (run scripts/build-worker.sh): pages will not start it" >&2
fi

{
  if [[ -f $leptos_hashes ]]; then
    grep -E '^(js|wasm|css): ' "$leptos_hashes"
  else
    echo "seal-assets: no $leptos_hashes (is hash-files on?): the page bundle keeps unhashed names" >&2
  fi
  if [[ -n $worker_hash ]]; then echo "worker: $worker_hash"; fi
} > "$manifest.tmp"
# The manifest must name files that exist: a hash.txt left by an older build would point pages
# at files that are gone.
while IFS=': ' read -r kind hash; do
  case $kind in
    js | wasm | css) file=$site/pkg/blindfold.$hash.$kind ;;
    worker) file=$worker/$hash ;;
  esac
  [[ -e $file ]] || { echo "seal-assets: $leptos_hashes names $file, which is missing" >&2; exit 1; }
done < "$manifest.tmp"
mv "$manifest.tmp" "$manifest"

node scripts/precompress.mjs "$site"
echo "sealed $site: $(tr '\n' ' ' < "$manifest")"
