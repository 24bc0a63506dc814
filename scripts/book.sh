#!/usr/bin/env bash
# Builds the book (docs/) into target/book/html and fails on a broken internal link: a missing
# chapter or file (mdbook-linkcheck, web links not fetched), a missing heading anchor (checked
# here in the built pages), or a relative link of README.md or ARCHITECTURE.md to a path that
# does not exist. The tools: `bash scripts/setup.sh --book`.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in mdbook mdbook-linkcheck; do
  if ! command -v "$tool" >/dev/null; then
    echo "book.sh: $tool is missing: run bash scripts/setup.sh --book" >&2
    exit 1
  fi
done

mdbook build docs

# mdbook-linkcheck checks that each link's file exists, not its #fragment: check that every
# fragment names an id of the page it points to.
html=target/book/html
broken=0
while IFS= read -r page; do
  case "$page" in
    "$html/print.html" | "$html/404.html" | "$html/toc.html") continue ;;
  esac
  dir=$(dirname "$page")
  while IFS= read -r href; do
    target=${href%%#*}
    fragment=${href#*#}
    if [ -z "$target" ]; then file=$page; else file=$dir/$target; fi
    if [ ! -f "$file" ] || ! grep -q "id=\"$fragment\"" "$file"; then
      echo "book.sh: ${page#"$html"/}: broken link to $href" >&2
      broken=1
    fi
  done < <(grep -o 'href="[^":]*#[^"]*"' "$page" | sed 's/^href="//; s/"$//' | sort -u)
done < <(find "$html" -name '*.html')

# README.md and ARCHITECTURE.md are read on the forge, outside the book: their relative links
# must name paths of the repository.
for doc in README.md ARCHITECTURE.md; do
  while IFS= read -r link; do
    path=${link%%#*}
    if [ -n "$path" ] && [ ! -e "$path" ]; then
      echo "book.sh: $doc: broken link to $link" >&2
      broken=1
    fi
  done < <(grep -o '](\([^)]*\))' "$doc" | sed 's/^](//; s/)$//' | grep -v -E '^[a-z]+:' || true)
done

if [ "$broken" != 0 ]; then
  exit 1
fi
echo "book.sh: built $html/index.html"
