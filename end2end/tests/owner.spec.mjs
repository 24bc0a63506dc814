// A model owner publishes a model from the browser, and a user predicts with it under the key
// they already have. The owner role is granted as an administrator would, with
// `blindfold-server grant-owner` on the server's data directory (scripts/e2e.sh says where).
//
// The owner uploads the LightGBM breast cancer classifier with its training rows as the
// calibration set and its test rows for the report. Compiled with the same rows and labels,
// its spec is the one `bench --model lightgbm-breast-cancer --export` wrote (checked below),
// so the clear quantized model's answers written there are what the browser must show.
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { exportedModel, fillUpload, grantOwner, predict, signUp, watchProblems } from '../support/blindfold.mjs';

const MODEL_ID = 'owner-lightgbm';
const MODEL_NAME = 'Breast cancer (LightGBM, published in the browser)';
const FIXTURE = 'model/fixtures/lightgbm-breast-cancer';
const shots = process.env.BLINDFOLD_E2E_SCREENSHOTS ?? 'target/e2e/screenshots';
mkdirSync(shots, { recursive: true });
const exported = exportedModel(process.env.BLINDFOLD_E2E_SECOND_FIXTURE ?? 'target/e2e/fixture-lightgbm');

test('an owner publishes a LightGBM model and a user predicts with it under their key', async ({ page }) => {
  const problems = watchProblems(page);

  // The owner: an ordinary account until the role is granted.
  const owner = await signUp(page, 'owner');
  await expect(page.getByRole('link', { name: 'Models', exact: true })).toHaveCount(0);
  console.log(grantOwner(owner).trim());
  await page.reload();
  await page.getByRole('link', { name: 'Models', exact: true }).click();
  await page.waitForURL(/\/models$/);

  // Upload: the model file, the calibration rows, the test rows, and what users will read.
  await fillUpload(page, {
    id: MODEL_ID,
    name: MODEL_NAME,
    description: 'Malignant or benign, from a LightGBM model uploaded as a file.',
    labels: 'Malignant,Benign',
    dir: FIXTURE,
    model: 'model.txt',
  });
  // The calibration header lists the features, each with a description and a unit to fill in.
  await expect(page.getByTestId('input-details')).toHaveCount(exported.spec.features.length);
  await page.getByLabel('Description of mean radius', { exact: true }).fill('Mean distance from the centre to the perimeter');
  await page.getByLabel('Unit of mean radius', { exact: true }).fill('px');
  // A valid range: values beyond it refuse a row (the calibration range does not).
  await page.getByLabel('Lowest valid value of mean radius', { exact: true }).fill('0');
  await page.getByLabel('Highest valid value of mean radius', { exact: true }).fill('100');
  await page.getByRole('button', { name: 'Upload and compile' }).click();

  // Compilation, then the report.
  await page.waitForURL(new RegExp(`/models/${MODEL_ID}$`));
  const report = page.getByTestId('model-report');
  await expect(report).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('model-state')).toHaveText('Draft');
  await expect(report).toContainText('LightGBM text');
  await expect(report).toContainText('test rows');
  const matrix = page.getByTestId('confusion-matrix');
  await expect(matrix).toBeVisible();
  await expect(matrix.locator('text').filter({ hasText: 'Malignant' }).first()).toBeVisible();
  await page.screenshot({ path: `${shots}/owner-report.png`, fullPage: true });
  // The report's matrix counts every test row once.
  const owned = await (await page.request.get(`/api/owner/models/${MODEL_ID}`)).json();
  const testRows = owned.report.evaluation.count;
  expect(owned.report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(testRows);
  expect(owned.report.evaluation.rows).toBe('test');
  expect(owned.inputs.find((i) => i.name === 'mean radius')).toEqual({
    name: 'mean radius',
    description: 'Mean distance from the centre to the perimeter',
    unit: 'px',
    valid_min: 0,
    valid_max: 100,
  });
  // Nobody else sees a draft.
  expect((await (await page.request.get('/api/models')).json()).map((m) => m.id)).not.toContain(MODEL_ID);

  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByTestId('model-state')).toHaveText('Published');
  // Compiled from the same file, rows and labels as the exported model: the same spec, so
  // the exported answers are this model's.
  const spec = await (await page.request.get(`/api/models/${MODEL_ID}/spec`)).json();
  expect(spec).toEqual(exported.spec);

  // A user with a key made before this model existed.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/$/);
  await signUp(page, 'reader');
  await page.getByRole('button', { name: 'Generate keys' }).click();
  await expect(page.getByTestId('keygen-figures')).toBeVisible({ timeout: 120_000 });
  const key = await (await page.request.get('/api/key')).json();

  // The catalogue card, then the Predict form with the owner's words.
  await page.goto('/');
  const card = page.getByTestId('model-card').filter({ hasText: MODEL_NAME });
  await expect(card).toContainText('Malignant or benign, from a LightGBM model uploaded as a file.');
  await expect(card).toContainText(/Accuracy \d+\.\d% on \d+ test rows/);
  await page.screenshot({ path: `${shots}/catalogue.png`, fullPage: true });
  await card.getByRole('button', { name: 'Predict with this model' }).click();
  await page.waitForURL(/\/predict$/);
  await expect(page.getByLabel('Model', { exact: true })).toHaveValue(MODEL_ID);
  await expect(page.getByText('Mean distance from the centre to the perimeter')).toBeVisible();
  await predict(page, exported, exported.malignant);
  await predict(page, exported, exported.benign);
  await page.screenshot({ path: `${shots}/predict-owner-model.png`, fullPage: true });

  // Beyond the owner's range: refused, saying which value and range. Beyond the calibration
  // data only: predicted, with a note by the field and above the answer.
  const radius = page.getByLabel('mean radius', { exact: true });
  const calibrated = exported.spec.features.find((f) => f.name === 'mean radius');
  await radius.fill('150');
  await page.getByRole('button', { name: 'Predict privately' }).click();
  await expect(page.getByText('`mean radius` = 150 is outside its valid range (from 0 to 100)')).toBeVisible();
  await expect(page.getByTestId('prediction-class')).toHaveCount(0);
  const beyond = Math.min(100, Math.ceil(calibrated.calibration_max) + 5);
  await radius.fill(String(beyond));
  await page.getByRole('button', { name: 'Predict privately' }).click();
  await expect(page.getByTestId('prediction-class')).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('prediction-class')).toHaveText(/^(Malignant|Benign)$/);
  await expect(page.getByTestId('outside-calibration')).toContainText('1 value lies beyond the data the model was calibrated on');
  await expect(page.getByTestId('calibration-note')).toContainText('Beyond the calibration data');
  await page.screenshot({ path: `${shots}/predict-beyond-calibration.png`, fullPage: true });
  expect((await (await page.request.get('/api/key')).json()).fingerprint, 'no new key').toBe(key.fingerprint);

  expect(problems).toEqual([]);
});
