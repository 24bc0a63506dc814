// Blindfold's crypto worker. It runs TFHE-rs (the blindfold-worker crate, compiled to
// WebAssembly) off the page's main thread, and it alone holds the secret client keys: they are
// generated here, kept in this origin's IndexedDB, and never sent anywhere. The page gets
// public material only (the compressed server key, ciphertexts) and decrypted predictions,
// plus a key export file when the user asks for one.
//
// Protocol: the page posts {id, op, ...args}; the worker answers {id, result} or {id, error}.

import init, {
  generateKeys,
  encryptRow,
  decryptResult,
  specFingerprint,
  checkClientKey,
  warmUp,
} from '/worker/blindfold_worker.js';

const ready = init({ module_or_path: '/worker/blindfold_worker_bg.wasm' });

const DB_NAME = 'blindfold';
const STORE = 'client-keys';
const EXPORT_FORMAT = 'blindfold-client-key-v1';

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

// One record per user and model. Usernames are case-insensitive on the server.
const recordId = (user, model) => `${user}\u0000${model}`;
const load = (user, model) => withStore('readonly', (s) => s.get(recordId(user, model)));
const save = (user, model, record) => withStore('readwrite', (s) => s.put(record, recordId(user, model)));
const remove = (user, model) => withStore('readwrite', (s) => s.delete(recordId(user, model)));

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function requireKey(user, model) {
  const record = await load(user, model);
  if (!record) throw new Error('There is no client key for this model in this browser: generate keys first.');
  return record;
}

function summary(record) {
  return record && {
    createdAt: record.createdAt,
    clientKeyBytes: record.clientKey.byteLength,
    serverKeyFingerprint: record.serverKeyFingerprint,
    specFingerprint: record.specFingerprint,
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
  // Run once per worker while the user fills the form: makes the first encryption fast.
  async warmup({ spec }) {
    if (!warmedUp) {
      warmedUp = true;
      warmUp(spec);
    }
    return { value: null };
  },

  async keygen({ user, model, spec }) {
    const started = performance.now();
    const keys = generateKeys();
    const keygenMs = performance.now() - started;
    const serverKey = keys.serverKey;
    const record = {
      clientKey: keys.clientKey,
      serverKeyFingerprint: await sha256Hex(serverKey),
      specFingerprint: specFingerprint(spec),
      createdAt: Date.now(),
    };
    keys.free();
    await save(user, model, record);
    return {
      value: { serverKey, serverKeyFingerprint: record.serverKeyFingerprint, keygenMs },
      transfer: [serverKey.buffer],
    };
  },

  async status({ user, model }) {
    return { value: summary(await load(user, model)) ?? null };
  },

  async encrypt({ user, model, spec, features }) {
    const record = await requireKey(user, model);
    const ciphertext = encryptRow(spec, record.clientKey, features);
    return { value: ciphertext, transfer: [ciphertext.buffer] };
  },

  async decrypt({ user, model, spec, result }) {
    const record = await requireKey(user, model);
    return { value: decryptResult(spec, record.clientKey, result) };
  },

  async forget({ user, model }) {
    await remove(user, model);
    return { value: null };
  },

  async export({ user, model }) {
    const record = await requireKey(user, model);
    const file = {
      format: EXPORT_FORMAT,
      model,
      createdAt: record.createdAt,
      serverKeyFingerprint: record.serverKeyFingerprint,
      specFingerprint: record.specFingerprint,
      clientKey: toBase64(record.clientKey),
    };
    return { value: JSON.stringify(file) };
  },

  async import({ user, model, file }) {
    let parsed;
    try {
      parsed = JSON.parse(file);
    } catch {
      throw new Error('This file is not a Blindfold key file.');
    }
    if (parsed?.format !== EXPORT_FORMAT || typeof parsed.clientKey !== 'string') {
      throw new Error('This file is not a Blindfold key file.');
    }
    if (parsed.model !== model) {
      throw new Error(`This key file is for the model "${parsed.model}", not "${model}".`);
    }
    const clientKey = fromBase64(parsed.clientKey);
    checkClientKey(clientKey);
    await save(user, model, {
      clientKey,
      serverKeyFingerprint: String(parsed.serverKeyFingerprint ?? ''),
      specFingerprint: String(parsed.specFingerprint ?? ''),
      createdAt: Number(parsed.createdAt) || Date.now(),
    });
    return { value: null };
  },
};

self.onmessage = async (event) => {
  const { id, op, ...args } = event.data;
  try {
    await ready;
    const operation = operations[op];
    if (!operation) throw new Error(`unknown operation ${op}`);
    const { value, transfer = [] } = await operation(args);
    self.postMessage({ id, result: value }, transfer);
  } catch (error) {
    self.postMessage({ id, error: error?.message ?? String(error) });
  }
};
