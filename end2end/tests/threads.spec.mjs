// The crypto worker's threads. On the cross-origin isolated site (the server sends COOP and
// COEP) the worker runs the threaded module with one thread per core the browser reports, and
// key generation shows its real progress. A page served without those headers is not
// isolated, has no SharedArrayBuffer, and must fall back to the single-threaded module, say so,
// and still predict exactly what the clear quantized model says.
//
// Prints BLINDFOLD_E2E_THREADS_FIGURES: key generation and encryption times with threads and
// in the fallback, and the browser's hardwareConcurrency.
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { exportedModel, predict, signUp, watchProblems } from '../support/blindfold.mjs';

const shots = process.env.BLINDFOLD_E2E_SCREENSHOTS ?? 'target/e2e/screenshots';
mkdirSync(shots, { recursive: true });
const model = exportedModel(process.env.BLINDFOLD_E2E_FIXTURE ?? 'target/e2e/fixture');

const figures = {};

// Serves every page without cross-origin isolation: the real response, less COOP and COEP.
// Only documents: a page's isolation, and its workers', is decided by its document's headers.
async function withoutIsolation(context) {
  await context.route('**/*', async (route) => {
    if (route.request().resourceType() !== 'document') return route.continue();
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-opener-policy'];
    delete headers['cross-origin-embedder-policy'];
    await route.fulfill({ response, headers });
  });
}

// Generates keys on the Keys page, watching the progress bar: returns the seconds the page
// reports and the fractions the bar showed on the way.
async function generateKeys(page) {
  await expect(page.getByText('No client key')).toBeVisible();
  await page.getByRole('button', { name: 'Generate keys' }).click();
  const made = page.getByTestId('keygen-figures');
  const bar = page.locator('.progress-view progress');
  const fractions = [];
  // Polled while the keys are made: the bar's value while the stage is key generation.
  while (!(await made.isVisible())) {
    const seen = await page
      .locator('.progress-view')
      .evaluate((view) => {
        const progress = view.querySelector('progress');
        return view.textContent.includes('Generating keys') && progress?.hasAttribute('value')
          ? Number(progress.getAttribute('value'))
          : null;
      })
      .catch(() => null);
    if (seen !== null && fractions.at(-1) !== seen) fractions.push(seen);
    await page.waitForTimeout(40);
  }
  await expect(bar).toHaveCount(0);
  const text = await made.textContent();
  return { seconds: Number(/generated in ([\d.]+) s/.exec(text)[1]), text, fractions };
}

// Predicts the benign and the malignant row exactly; returns the encryption seconds of each.
async function predictBoth(page) {
  await page.getByRole('link', { name: 'Predict' }).click();
  await expect(page.getByLabel(model.spec.features[0].name, { exact: true })).toBeVisible();
  const encryption = [];
  for (const row of [model.benign, model.malignant]) {
    await predict(page, model, row);
    const timing = await page.getByTestId('prediction-timing').textContent();
    encryption.push(Number(/encryption ([\d.]+) s/.exec(timing)[1]));
  }
  return encryption;
}

test('the isolated site generates keys and encrypts on one thread per core, with real progress', async ({ page }) => {
  const problems = watchProblems(page);
  await signUp(page, 'threads');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  const threads = cores === 1 ? '1 thread' : `${cores} threads`;
  await expect(page.getByTestId('worker-threads')).toHaveText(
    cores === 1
      ? 'Key generation and encryption use 1 thread (your browser reports one core).'
      : `Key generation and encryption use ${cores} threads in your browser.`,
  );

  const keys = await generateKeys(page);
  expect(keys.text).toContain(`in your browser (${threads})`);
  // Real progress: the bar moved through the key generation, not only from start to end.
  const between = keys.fractions.filter((f) => f > 0 && f < 1);
  expect(between.length, `fractions seen: ${keys.fractions}`).toBeGreaterThanOrEqual(3);
  expect([...keys.fractions].sort((a, b) => a - b)).toEqual(keys.fractions);
  await page.screenshot({ path: `${shots}/keys-threads.png`, fullPage: true });

  const encryption = await predictBoth(page);
  await expect(page.getByTestId('worker-threads')).toHaveText(
    cores === 1
      ? 'Key generation and encryption use 1 thread (your browser reports one core).'
      : `Key generation and encryption use ${cores} threads in your browser.`,
  );
  figures.hardware_concurrency = cores;
  figures.threads = cores;
  figures.keygen_s = keys.seconds;
  figures.keygen_progress_reports_seen = keys.fractions.length;
  figures.encrypt_s = encryption;
  expect(problems).toEqual([]);
});

test('a page that is not cross-origin isolated falls back to one thread, says so, and predicts exactly', async ({
  browser,
}) => {
  const context = await browser.newContext();
  await withoutIsolation(context);
  const page = await context.newPage();
  const problems = watchProblems(page);
  await signUp(page, 'fallback');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(false);
  const note = 'Single-threaded: this page is not cross-origin isolated.';
  await expect(page.getByTestId('worker-threads')).toHaveText(note);

  const keys = await generateKeys(page);
  expect(keys.text).toContain('in your browser (1 thread)');
  expect(keys.fractions.filter((f) => f > 0 && f < 1).length).toBeGreaterThanOrEqual(3);
  await page.screenshot({ path: `${shots}/keys-fallback.png`, fullPage: true });

  const encryption = await predictBoth(page);
  await expect(page.getByTestId('worker-threads')).toHaveText(note);
  await page.screenshot({ path: `${shots}/predict-fallback.png`, fullPage: true });
  figures.fallback_keygen_s = keys.seconds;
  figures.fallback_encrypt_s = encryption;
  expect(problems).toEqual([]);
  await context.close();
});

test.afterAll(() => {
  console.log(`BLINDFOLD_E2E_THREADS_FIGURES ${JSON.stringify(figures)}`);
});
