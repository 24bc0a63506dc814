// What a visitor downloads before the Predict form is usable (its inputs shown and the crypto
// worker warmed up): on a first visit with an empty cache (the page bundle, the stylesheet, the
// crypto worker and both wasm modules, precompressed), and on a return visit in the same
// browser, where every content-hashed file comes from the cache without a request and only the
// page itself and its API answers cross the network. Also what makes that so: the hashed files'
// headers.
//
// Bytes are the Resource Timing API's `transferSize` (headers and encoded body as received; 0
// for an answer from the cache) of the page's navigation and resources and of the crypto
// worker's own fetches, which are in the worker's timeline, not the page's.
import { test, expect } from '@playwright/test';
import { signUp } from '../support/blindfold.mjs';

const FIRST_VISIT_MAX = 1_200_000;
const RETURN_VISIT_MAX = 50_000;

// Opens /predict in a new tab of `context` and waits until the form can be used; returns the
// bytes transferred for it, and the files behind them.
async function visitPredict(context) {
  const page = await context.newPage();
  await page.goto('/predict');
  await expect(page.getByTestId('worker-status')).toHaveText('Encryption ready in this browser', {
    timeout: 120_000,
  });
  await expect(page.getByRole('button', { name: 'Predict privately' })).toBeEnabled();
  const timeline = () =>
    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((entry) => ({
      url: new URL(entry.name).pathname,
      bytes: entry.transferSize,
    }));
  const entries = (await page.evaluate(timeline)).map((entry) => ({ ...entry, in: 'page' }));
  // The crypto worker, and the threads it starts where they answer: wasm-bindgen-rayon's pool
  // threads wait inside the wasm thread pool and never run the test's script, so what they
  // fetch themselves (their helper script, a few KB; the module's JS comes from the cache the
  // crypto worker filled) is not counted.
  for (const worker of page.workers()) {
    const where = new URL(worker.url()).pathname;
    const answered = await Promise.race([
      worker.evaluate(timeline).catch(() => null),
      new Promise((resolve) => setTimeout(() => resolve(null), 2_000)),
    ]);
    if (answered) entries.push(...answered.map((entry) => ({ ...entry, in: where })));
  }
  const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/crypto-worker.js'));
  expect(worker, 'the crypto worker runs').toBeTruthy();
  const bytes = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  return { page, worker, entries, bytes };
}

test('assets load once: first and return visits to Predict', async ({ browser, baseURL }) => {
  // An account, made in a context of its own so that the visits below start with an empty
  // cache; they carry its session cookie.
  const setup = await browser.newContext();
  await signUp(await setup.newPage(), 'transfer');
  const storageState = await setup.storageState();
  await setup.close();

  const context = await browser.newContext({ storageState });
  const first = await visitPredict(context);
  // The worker's module and wasm were fetched and counted (its timeline was read).
  const workerUrl = new URL(first.worker.url()).pathname;
  expect(workerUrl).toMatch(/^\/worker\/[0-9a-f]{16}\/crypto-worker\.js$/);
  const workerWasm = first.entries.find((entry) => entry.in === workerUrl && entry.url.endsWith('.wasm'));
  expect(workerWasm, JSON.stringify(first.entries)).toBeTruthy();
  expect(workerWasm.bytes).toBeGreaterThan(0);

  const again = await visitPredict(context);
  const fetched = again.entries.filter((entry) => entry.bytes > 0).map((entry) => entry.url);
  // Nothing content-hashed crosses the network again.
  expect(fetched.filter((url) => url.startsWith('/pkg/') || url.startsWith('/worker/'))).toEqual([]);

  const figures = {
    hardware_concurrency: await first.page.evaluate(() => navigator.hardwareConcurrency),
    worker_module: workerWasm.url,
    first_visit_bytes: first.bytes,
    return_visit_bytes: again.bytes,
    first_visit_requests: first.entries.length,
    return_visit_fetched: fetched,
  };
  console.log(`first visit: ${first.entries.map((entry) => `${entry.url} ${entry.bytes}`).join(', ')}`);
  console.log(`BLINDFOLD_E2E_TRANSFER_FIGURES ${JSON.stringify(figures)}`);
  expect(first.bytes, JSON.stringify(first.entries)).toBeLessThanOrEqual(FIRST_VISIT_MAX);
  expect(again.bytes, JSON.stringify(again.entries)).toBeLessThan(RETURN_VISIT_MAX);

  // The headers behind it, asked for directly: the page bundle's wasm and the worker's script
  // are immutable and sent as brotli to a client that accepts it; wasm keeps its type.
  const html = await (await context.request.get('/predict')).text();
  const bundleWasm = html.match(/\/pkg\/blindfold\.[A-Za-z0-9_-]+\.wasm/)?.[0];
  expect(bundleWasm, 'the page links its hashed wasm').toBeTruthy();
  for (const path of [bundleWasm, workerUrl, workerWasm.url]) {
    const response = await context.request.get(new URL(path, baseURL).href, {
      headers: { 'Accept-Encoding': 'br' },
    });
    expect(response.status(), path).toBe(200);
    const headers = response.headers();
    expect(headers['cache-control'], path).toContain('immutable');
    expect(headers['content-encoding'], path).toBe('br');
    expect(headers['cross-origin-resource-policy'], path).toBe('same-origin');
    if (path.endsWith('.wasm')) expect(headers['content-type'], path).toBe('application/wasm');
  }
  // The page itself is never kept nor compressed (it carries the CSRF token).
  const page = await context.request.get('/predict', { headers: { 'Accept-Encoding': 'br, gzip' } });
  expect(page.headers()['cache-control']).toBe('no-store');
  expect(page.headers()['content-encoding']).toBeUndefined();
  await context.close();
});
