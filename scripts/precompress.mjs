// Writes a brotli (.br) and a gzip (.gz) copy beside every compressible file of the built site,
// for the server to send to browsers that accept them (tower-http's ServeDir picks the copy
// from Accept-Encoding and sets Content-Encoding). Compressing once here, at the highest
// levels, beats compressing each answer on the fly: brotli's quality 11 is far too slow for
// that, and the files never change once built.
//
// Usage: node scripts/precompress.mjs DIR
// Node's own zlib has brotli: no other tool is needed. A copy is kept only when it is smaller
// than the file; copies whose file is gone or changed since are replaced or removed.
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';

const COMPRESSIBLE = new Set(['.js', '.mjs', '.wasm', '.css', '.svg', '.json', '.html', '.txt', '.map', '.xml']);
// Below this, the headers outweigh what compression saves.
const MIN_BYTES = 1024;

const root = process.argv[2];
if (!root) {
  console.error('usage: node scripts/precompress.mjs DIR');
  process.exit(2);
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
};

let written = 0;
let before = 0;
let after = 0;
for (const path of [...files(root)]) {
  const ext = extname(path);
  if (ext === '.br' || ext === '.gz') {
    // A copy of a file that is gone (a rebuilt site renames its files).
    const source = path.slice(0, -ext.length);
    if (mtime(source) === null) rmSync(path);
    continue;
  }
  if (!COMPRESSIBLE.has(ext)) continue;
  const stats = statSync(path);
  if (stats.size < MIN_BYTES) continue;
  let data = null;
  for (const [suffix, compress] of [
    [
      '.br',
      (bytes) =>
        brotliCompressSync(bytes, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_MODE]: ext === '.wasm' ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
            [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
          },
        }),
    ],
    ['.gz', (bytes) => gzipSync(bytes, { level: 9 })],
  ]) {
    const target = path + suffix;
    const done = mtime(target);
    let size;
    if (done !== null && done >= stats.mtimeMs) {
      size = statSync(target).size;
    } else {
      data ??= readFileSync(path);
      const compressed = compress(data);
      if (compressed.length < data.length) {
        writeFileSync(target, compressed);
        written += 1;
        size = compressed.length;
      } else {
        rmSync(target, { force: true });
        size = stats.size;
      }
    }
    if (suffix === '.br') {
      before += stats.size;
      after += size;
    }
  }
}
console.log(`precompressed ${root}: ${written} copies written; ${before} bytes, ${after} with brotli`);
