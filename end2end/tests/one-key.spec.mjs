// One key pair per user serves every model: keys made on the Keys page (with the default model,
// breast-cancer) predict with a second model (the LightGBM breast cancer classifier that
// scripts/e2e.sh imports) without new keys, and the browser shows what the clear quantized
// model says. A key file exported from the Keys page names its parameter set and imports back
// into a browser that has lost its key.
//
// Expected answers come from `bench --export` for each model.
import { test, expect } from '@playwright/test';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { exportedModel, percent, predict, signUp, watchProblems } from '../support/blindfold.mjs';

const SECOND_MODEL = 'lightgbm-breast-cancer';
const shots = process.env.BLINDFOLD_E2E_SCREENSHOTS ?? 'target/e2e/screenshots';
mkdirSync(shots, { recursive: true });

const first = exportedModel(process.env.BLINDFOLD_E2E_FIXTURE ?? 'target/e2e/fixture');
const second = exportedModel(process.env.BLINDFOLD_E2E_SECOND_FIXTURE ?? 'target/e2e/fixture-lightgbm');

// Shows the second model on the Predict page. Its form has the same feature names as the
// default model's; unlike it, it offers no sample rows, which tells the two forms apart.
async function chooseSecondModel(page) {
  await page.getByLabel('Model', { exact: true }).selectOption(SECOND_MODEL);
  await expect(page.getByRole('button', { name: 'Fill sample benign' })).toHaveCount(0);
  await expect(page.getByLabel(second.spec.features[0].name, { exact: true })).toBeVisible();
}

async function serverKey(page) {
  const response = await page.request.get('/api/key');
  return response.status() === 200 ? response.json() : null;
}

// The ids and parameter sets of the records the crypto worker keeps in this origin's IndexedDB.
async function storedKeys(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('blindfold', 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const found = [];
          const cursor = db.transaction('client-keys', 'readonly').objectStore('client-keys').openCursor();
          cursor.onsuccess = () => {
            const at = cursor.result;
            if (!at) {
              db.close();
              resolve(found);
              return;
            }
            found.push({ id: at.key, parameterSet: at.value.parameterSet ?? null });
            at.continue();
          };
          cursor.onerror = () => reject(cursor.error);
        };
      }),
  );
}

// Deletes the user's record from the worker's IndexedDB, as a browser that lost its data would.
async function loseKey(page, user) {
  await page.evaluate(
    (user) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('blindfold', 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction('client-keys', 'readwrite');
          tx.objectStore('client-keys').delete(`${user}\u0000:key`);
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    user,
  );
}

test('one key serves every model, and its exported file imports back', async ({ page }) => {
  const problems = watchProblems(page);
  const username = await signUp(page, 'onekey');

  // Keys, made on the Keys page: no model to pick there.
  await expect(page.getByText('No client key')).toBeVisible();
  await expect(page.getByLabel('Model', { exact: true })).toHaveCount(0);
  await page.getByRole('button', { name: 'Generate keys' }).click();
  await expect(page.getByTestId('keygen-figures')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByText(/Client key present/)).toBeVisible();
  await expect(page.getByTestId('key-scope')).toContainText('Your key serves every model');
  const key = await serverKey(page);
  expect(key.parameter_set).toBe(first.spec.encryption.parameter_set);
  expect(second.spec.encryption.parameter_set).toBe(key.parameter_set);

  // The default model first, then the second one: the same key, no new keys.
  await page.getByRole('link', { name: 'Predict' }).click();
  await expect(page.getByLabel('Model', { exact: true })).toHaveValue('breast-cancer');
  await expect(page.getByLabel(first.spec.features[0].name, { exact: true })).toBeVisible();
  await predict(page, first, first.benign);
  await chooseSecondModel(page);
  const figures = {};
  figures.second_model_benign_click_to_result_s = await predict(page, second, second.benign);
  figures.second_model_malignant_click_to_result_s = await predict(page, second, second.malignant);
  await page.screenshot({ path: `${shots}/predict-second-model.png`, fullPage: true });
  expect((await serverKey(page)).fingerprint, 'the server key is the one made on the Keys page').toBe(
    key.fingerprint,
  );
  // Back to the first model: still the same key.
  await page.getByLabel('Model', { exact: true }).selectOption('breast-cancer');
  await expect(page.getByRole('button', { name: 'Fill sample benign' })).toBeVisible();
  await predict(page, first, first.malignant);

  // History decrypts the second model's result with its own spec and the one key.
  await page.getByRole('link', { name: 'History' }).click();
  const rows = page.locator('table.history tbody tr');
  await expect(rows).toHaveCount(4);
  const secondRow = rows.filter({ hasText: SECOND_MODEL }).first();
  await secondRow.getByRole('button', { name: 'Decrypt' }).click();
  await expect(secondRow.getByTestId('history-result')).toHaveText(
    `${second.malignant.prediction.class} (${percent(second, second.malignant)})`,
  );

  // The key file names the parameter set; kept for the import below.
  await page.getByRole('link', { name: 'Keys' }).click();
  await expect(page.getByText(/Client key present/)).toBeVisible();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export key' }).click(),
  ]);
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(exported.format).toBe('blindfold-client-key-v2');
  expect(exported.parameterSet).toBe(key.parameter_set);
  expect(exported.serverKeyFingerprint).toBe(key.fingerprint);

  // A browser that lost its key has none, until the exported file is imported: then the
  // same key predicts again.
  const user = username.toLowerCase();
  await loseKey(page, user);
  await page.reload();
  await expect(page.getByText('No client key')).toBeVisible();
  expect(await storedKeys(page)).toEqual([]);
  const keyFile = 'target/e2e/one-key.json';
  writeFileSync(keyFile, JSON.stringify(exported));
  await page.getByLabel('Import key').setInputFiles(keyFile);
  await expect(page.getByText(/Client key present/)).toBeVisible();
  await expect(page.getByTestId('key-scope')).toContainText('Your key serves every model');
  expect(await storedKeys(page)).toEqual([{ id: `${user}\u0000:key`, parameterSet: key.parameter_set }]);
  await page.getByRole('link', { name: 'Predict' }).click();
  await chooseSecondModel(page);
  await predict(page, second, second.malignant);

  // A file of another format is refused.
  const { parameterSet, ...unnamed } = exported;
  expect(parameterSet).toBe(key.parameter_set);
  writeFileSync(keyFile, JSON.stringify(unnamed));
  await page.getByRole('link', { name: 'Keys' }).click();
  await page.getByLabel('Import key').setInputFiles(keyFile);
  await expect(page.getByText('This file is not a Blindfold key file.')).toBeVisible();

  // Forget keys: gone from this browser and from the server, for every model.
  await page.getByRole('link', { name: 'Keys' }).click();
  await page.getByRole('button', { name: 'Forget keys' }).click();
  await expect(page.getByText('No client key')).toBeVisible();
  await expect(page.getByText('No key stored')).toBeVisible();
  expect(await serverKey(page)).toBeNull();
  expect(await storedKeys(page)).toEqual([]);

  expect(problems, 'no console errors, CSP violations included').toEqual([]);
  console.log(`BLINDFOLD_E2E_ONE_KEY_FIGURES ${JSON.stringify(figures)}`);
});

// A stored result decrypts only under the key it was computed under: after new keys replace
// the pair, History refuses the old result instead of decrypting noise that could read as an
// answer.
test('History decrypts a result only under the key it was computed under', async ({ page }) => {
  const problems = watchProblems(page);
  await signUp(page, 'bound');
  await page.getByRole('button', { name: 'Generate keys' }).click();
  await expect(page.getByTestId('keygen-figures')).toBeVisible({ timeout: 120_000 });
  const before = await serverKey(page);
  await page.getByRole('link', { name: 'Predict' }).click();
  await predict(page, first, first.benign);
  const [job] = await (await page.request.get('/api/predictions')).json();
  expect(job.key_fingerprint).toBe(before.fingerprint);
  expect(job.spec_sha256).toMatch(/^[0-9a-f]{64}$/);

  await page.getByRole('link', { name: 'History' }).click();
  const row = page.locator('table.history tbody tr').first();
  await row.getByRole('button', { name: 'Decrypt' }).click();
  await expect(row.getByTestId('history-result')).toHaveText(`${first.benign.prediction.class} (${percent(first, first.benign)})`);

  await page.getByRole('link', { name: 'Keys' }).click();
  await expect(page.getByText(/Client key present/)).toBeVisible();
  await page.getByRole('button', { name: 'Generate keys' }).click();
  await expect
    .poll(async () => (await serverKey(page))?.fingerprint, { timeout: 120_000 })
    .not.toBe(before.fingerprint);
  await page.getByRole('link', { name: 'History' }).click();
  await row.getByRole('button', { name: 'Decrypt' }).click();
  await expect(row.getByTestId('history-result')).toContainText('computed under another key');
  expect(problems, 'no console errors').toEqual([]);
});
