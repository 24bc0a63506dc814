// Times the crypto worker's wasm in Node.js (single-threaded, like the browser worker):
// key generation, encryption of one row, and the sizes a browser would upload.
//
//   node frontend/worker/bench/worker-timings.mjs PKG_DIR EXPORT_DIR
//
// PKG_DIR: `wasm-bindgen --target nodejs` output for blindfold_worker.wasm.
// EXPORT_DIR: spec.json and rows.json written by `bench --export EXPORT_DIR`.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [pkgDir, exportDir] = process.argv.slice(2).map((p) => resolve(p));
const worker = createRequire(import.meta.url)(join(pkgDir, 'blindfold_worker.js'));
const spec = readFileSync(join(exportDir, 'spec.json'), 'utf8');
const rows = JSON.parse(readFileSync(join(exportDir, 'rows.json'), 'utf8'));

let t = performance.now();
const keys = worker.generateKeys();
const keygenS = (performance.now() - t) / 1000;
const clientKey = keys.clientKey;
const serverKey = keys.serverKey;

const encryptS = [];
let inputBytes = 0;
for (const row of rows.slice(0, 5)) {
  t = performance.now();
  const encrypted = worker.encryptRow(spec, clientKey, Float64Array.from(row));
  encryptS.push((performance.now() - t) / 1000);
  inputBytes = encrypted.length;
}
encryptS.sort((a, b) => a - b);

console.log(JSON.stringify({
  wasm_keygen_s: keygenS,
  wasm_encrypt_median_s: encryptS[Math.floor(encryptS.length / 2)],
  compressed_server_key_bytes: serverKey.length,
  client_key_bytes: clientKey.length,
  input_bytes: inputBytes,
  spec_fingerprint: worker.specFingerprint(spec),
}));
