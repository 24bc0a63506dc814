#!/usr/bin/env bash
# Installs everything Blindfold needs to build: the wasm32 target and Rust components, the
# pinned nightly with rust-src (the crypto worker's threaded module), the pinned wasm-bindgen
# CLI and cargo-leptos, and the npm tools (sass, wasm-opt, Bootstrap,
# Playwright). With --browser, also Debian's Chromium for the browser tests; with --postgres,
# Debian's PostgreSQL server for the tests against PostgreSQL (scripts/with-postgres.sh); with
# --slow-dos, Debian's slowhttptest (scripts/slow-dos.sh); with --tls-proxy, Debian's nginx (the
# CLI's test through a TLS-terminating proxy); with --book, mdbook and mdbook-linkcheck at pinned
# versions (scripts/book.sh).
# Running the app needs none of them. Idempotent: each step is skipped when what it installs is
# already there, so a warm machine pays nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

# The pinned nightly and its std sources, for the crypto worker's threaded module only
# (scripts/build-worker.sh: wasm atomics need std rebuilt with them, `-Z build-std`); the page
# bundle and every native crate stay on stable.
nightly=$(cat frontend/worker/nightly-toolchain)
if ! rustup toolchain list | grep -q "^$nightly-"; then
  rustup toolchain install "$nightly" --profile minimal --component rust-src
elif ! rustup component list --toolchain "$nightly" --installed | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain "$nightly"
fi

# The wasm-bindgen CLI must equal the wasm-bindgen crate in Cargo.lock. Not --locked: its own
# lock file pins a webpki-roots release the registry no longer serves.
wasm_bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$wasm_bindgen_version" ]; then
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# cargo-leptos 0.3.10 is the newest that builds with this toolchain (about 14 minutes, once).
if [ "$(cargo leptos --version 2>/dev/null | cut -d' ' -f2)" != "0.3.10" ]; then
  cargo install cargo-leptos --version 0.3.10 --locked
fi

# sass, wasm-opt (binaryen 132: Debian's 108 silently breaks modules from recent wasm-bindgen),
# Bootstrap's sources and Playwright, pinned by package-lock.json.
if ! npm ls --silent >/dev/null 2>&1; then
  npm ci --no-audit --no-fund
fi

packages=()
book=false
for flag in "$@"; do
  case "$flag" in
    # mdbook-linkcheck builds its own OpenSSL, which needs perl and make.
    --book)
      book=true
      command -v perl >/dev/null || packages+=(perl)
      command -v make >/dev/null || packages+=(make)
      ;;
    --browser) [ -x /usr/bin/chromium ] || packages+=(chromium) ;;
    --postgres) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql) ;;
    --slow-dos) command -v slowhttptest >/dev/null || packages+=(slowhttptest) ;;
    --tls-proxy) [ -x /usr/sbin/nginx ] || packages+=(nginx) ;;
    *) echo "setup.sh: unknown option $flag" >&2; exit 2 ;;
  esac
done
if [ "${#packages[@]}" -gt 0 ]; then
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${packages[@]}"
fi

# The book's tools (scripts/book.sh): mdbook-linkcheck 0.7.7 is the newest, and works with mdbook
# 0.4.x only (its renderer protocol); mdbook 0.4.52 is the last 0.4. About 2.5 and 4 minutes to
# compile on two cores, once.
if $book; then
  if [ "$(mdbook --version 2>/dev/null)" != "mdbook v0.4.52" ]; then
    cargo install mdbook --version 0.4.52 --locked
  fi
  if [ "$(mdbook-linkcheck --version 2>/dev/null)" != "mdbook-linkcheck 0.7.7" ]; then
    cargo install mdbook-linkcheck --version 0.7.7 --locked
  fi
fi
