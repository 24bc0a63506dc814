// Blindfold's crypto worker. It runs TFHE-rs (the blindfold-worker crate, compiled to
// WebAssembly) off the page's main thread, and it alone holds the secret client keys: they are
// generated here, kept in this origin's IndexedDB (one per user, serving every model), and
// never sent anywhere. The page gets public material only (the compressed server key,
// ciphertexts) and decrypted predictions, plus a key export file when the user asks for one.
//
// Protocol: the page posts {id, op, ...args}; the worker answers {id, result} or {id, error},
// and during key generation also {id, progress} (the fraction of the work done, 0 to 1).
//
// Two builds of the module sit beside this script (scripts/build-worker.sh; every path here is
// relative, because the directory is served under a content hash): mt/ runs tfhe's rayon pool
// on one Web Worker per core and needs SharedArrayBuffer, which browsers give only to
// cross-origin isolated pages (the server sends COOP and COEP); st/ runs on this thread alone.

// Why this worker cannot use threads, or null when it can.
function threadsUnavailable() {
  if (!self.crossOriginIsolated) return 'this page is not cross-origin isolated';
  if (typeof SharedArrayBuffer !== 'function') return 'this browser has no SharedArrayBuffer';
  return null;
}

async function instantiate(dir) {
  const module = await import(new URL(`./${dir}/blindfold_worker.js`, import.meta.url).href);
  await module.default({ module_or_path: new URL(`./${dir}/blindfold_worker_bg.wasm`, import.meta.url) });
  return module;
}

// The module and how it runs: {threads} (the size of its pool, 1 without one) and, when it
// fell back to one thread, why (`fallback`), which the page shows.
async function start() {
  let fallback = threadsUnavailable();
  if (!fallback) {
    try {
      const module = await instantiate('mt');
      const threads = Math.max(1, navigator.hardwareConcurrency || 1);
      await module.initThreadPool(threads);
      return { wasm: module, mode: { threads, fallback: null } };
    } catch (error) {
      fallback = `the threaded module could not start (${error?.message ?? error})`;
    }
  }
  return { wasm: await instantiate('st'), mode: { threads: 1, fallback } };
}

const ready = start();

const DB_NAME = 'blindfold';
const STORE = 'client-keys';
// Key files hold the user's one key and name its parameter set.
const EXPORT_FORMAT = 'blindfold-client-key-v2';

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

// One record per user: the user's one key pair serves every model of its TFHE parameter set
// (all models share one), which the record names (`parameterSet`). Usernames are
// case-insensitive on the server; the page passes them lower-cased.
const recordId = (user) => `${user}\u0000:key`;

const load = (user) => withStore('readonly', (s) => s.get(recordId(user)));
const save = (user, record) => withStore('readwrite', (s) => s.put(record, recordId(user)));
const remove = (user) => withStore('readwrite', (s) => s.delete(recordId(user)));

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The TFHE parameter set a model's client spec encrypts under.
function parameterSetOf(spec) {
  let parsed;
  try {
    parsed = JSON.parse(spec);
  } catch {
    throw new Error('The model description is not readable.');
  }
  const name = parsed?.encryption?.parameter_set;
  if (typeof name !== 'string' || !name) throw new Error('The model description names no parameter set.');
  return name;
}

async function requireKey(user) {
  const record = await load(user);
  if (!record) throw new Error('There is no client key in this browser: generate keys first.');
  return record;
}

// The user's key, checked against the parameter set of the model it is used for.
async function requireKeyFor(user, spec) {
  const record = await requireKey(user);
  const wanted = parameterSetOf(spec);
  if (record.parameterSet && record.parameterSet !== wanted) {
    throw new Error(
      `Your key is of the parameter set ${record.parameterSet}; this model needs ${wanted}: generate keys again.`,
    );
  }
  return record;
}

function summary(record) {
  return record && {
    createdAt: record.createdAt,
    clientKeyBytes: record.clientKey.byteLength,
    serverKeyFingerprint: record.serverKeyFingerprint,
    parameterSet: record.parameterSet || null,
  };
}

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

let warmedUp = false;

const operations = {
  // How the module runs: {threads, fallback} (see `start`).
  async mode(_args, { mode }) {
    return { value: mode };
  },

  // Run once per worker while the user fills the form: makes the first encryption fast.
  async warmup({ spec }, { wasm }) {
    if (!warmedUp) {
      warmedUp = true;
      wasm.warmUp(spec);
    }
    return { value: null };
  },

  // A new key pair for the user, for every model of the spec's parameter set; it replaces the
  // user's key in this browser (the page then replaces the server's).
  async keygen({ user, spec }, { wasm, mode, progress }) {
    const parameterSet = parameterSetOf(spec);
    const started = performance.now();
    const keys = wasm.generateKeys(progress);
    const keygenMs = performance.now() - started;
    const serverKey = keys.serverKey;
    const record = {
      clientKey: keys.clientKey,
      serverKeyFingerprint: await sha256Hex(serverKey),
      parameterSet,
      createdAt: Date.now(),
    };
    keys.free();
    await save(user, record);
    return {
      value: { serverKey, serverKeyFingerprint: record.serverKeyFingerprint, keygenMs, threads: mode.threads },
      transfer: [serverKey.buffer],
    };
  },

  // What this browser holds for the user.
  async status({ user }) {
    return { value: summary(await load(user)) ?? null };
  },

  // The encrypted row, and the fingerprint of the server key that belongs to the client key
  // used: the page checks it against the server's while this runs.
  async encrypt({ user, spec, features }, { wasm }) {
    const record = await requireKeyFor(user, spec);
    const ciphertext = wasm.encryptRow(spec, record.clientKey, features);
    return {
      value: { ciphertext, serverKeyFingerprint: record.serverKeyFingerprint },
      transfer: [ciphertext.buffer],
    };
  },

  // Only a result evaluated under the server key of the stored client key: under any other,
  // decryption gives noise that may read as a plausible answer.
  async decrypt({ user, spec, serverKeyFingerprint, result }, { wasm }) {
    const record = await requireKeyFor(user, spec);
    if (record.serverKeyFingerprint !== serverKeyFingerprint) {
      throw new Error(
        `this result was computed under another key (${String(serverKeyFingerprint).slice(0, 16)}…) ` +
          `than the one in this browser (${record.serverKeyFingerprint.slice(0, 16)}…): it cannot be read here`,
      );
    }
    return { value: wasm.decryptResult(spec, record.clientKey, result) };
  },

  async forget({ user }) {
    await remove(user);
    return { value: null };
  },

  async export({ user }) {
    const record = await requireKey(user);
    const file = {
      format: EXPORT_FORMAT,
      parameterSet: record.parameterSet || null,
      createdAt: record.createdAt,
      serverKeyFingerprint: record.serverKeyFingerprint,
      clientKey: toBase64(record.clientKey),
    };
    return { value: JSON.stringify(file) };
  },

  // A key file that `export` wrote. It names its parameter set, which must be the one of this
  // server's models (`parameterSet`, when the page knows it).
  async import({ user, file, parameterSet }, { wasm }) {
    let parsed;
    try {
      parsed = JSON.parse(file);
    } catch {
      throw new Error('This file is not a Blindfold key file.');
    }
    if (
      parsed?.format !== EXPORT_FORMAT ||
      typeof parsed.clientKey !== 'string' ||
      typeof parsed.parameterSet !== 'string' ||
      !parsed.parameterSet
    ) {
      throw new Error('This file is not a Blindfold key file.');
    }
    const named = parsed.parameterSet;
    if (parameterSet && named !== parameterSet) {
      throw new Error(`This key file is of the parameter set ${named}, not ${parameterSet} as the models here.`);
    }
    const clientKey = fromBase64(parsed.clientKey);
    wasm.checkClientKey(clientKey);
    await save(user, {
      clientKey,
      serverKeyFingerprint: String(parsed.serverKeyFingerprint ?? ''),
      parameterSet: named,
      createdAt: Number(parsed.createdAt) || Date.now(),
    });
    return { value: null };
  },
};

self.onmessage = async (event) => {
  const { id, op, ...args } = event.data;
  try {
    const { wasm, mode } = await ready;
    const operation = operations[op];
    if (!operation) throw new Error(`unknown operation ${op}`);
    const progress = (fraction) => self.postMessage({ id, progress: fraction });
    const { value, transfer = [] } = await operation(args, { wasm, mode, progress });
    self.postMessage({ id, result: value }, transfer);
  } catch (error) {
    self.postMessage({ id, error: error?.message ?? String(error) });
  }
};
