// A neural network published from the browser: an owner uploads scikit-learn's MLP classifier
// (a scaler and 30 -> 30 -> 1 through ONNX) with its training rows as the calibration set, and a
// user whose key was made before the model existed predicts with it and sees the clear
// quantized network's class and probability. Compiled with the same rows and labels, its spec
// is the one `bench --model sklearn-mlp-classifier --export` wrote (checked below), so the
// answers written there are what the browser must show. The row is encrypted under the big key
// the user's key already holds; the server bootstraps each hidden neuron three times.
import { test, expect } from '@playwright/test';
import { exportedModel, fillUpload, grantOwner, predict, signUp, watchProblems } from '../support/blindfold.mjs';

const MODEL_ID = 'owner-mlp';
const MODEL_NAME = 'Breast cancer (MLP, published in the browser)';
const FIXTURE = 'model/fixtures/sklearn-mlp-classifier';
const exported = exportedModel(process.env.BLINDFOLD_E2E_NETWORK_FIXTURE ?? 'target/e2e/fixture-mlp');

test('an owner publishes an MLP from the browser and a user predicts with it under their key', async ({
  page: reader,
  browser,
}) => {
  const problems = watchProblems(reader);
  // A user with a key, made before the network is published.
  await signUp(reader, 'mlp-reader');
  await reader.getByRole('button', { name: 'Generate keys' }).click();
  await expect(reader.getByTestId('keygen-figures')).toBeVisible({ timeout: 120_000 });
  const key = await (await reader.request.get('/api/key')).json();

  // The owner, in a browser of their own.
  const page = await (await browser.newContext()).newPage();
  const owner = await signUp(page, 'mlp-owner');
  console.log(grantOwner(owner).trim());
  await page.reload();
  await page.getByRole('link', { name: 'Models', exact: true }).click();
  await page.waitForURL(/\/models$/);
  await fillUpload(page, {
    id: MODEL_ID,
    name: MODEL_NAME,
    description: 'Malignant or benign, from a neural network.',
    labels: 'Malignant,Benign',
    dir: FIXTURE,
    model: 'model.onnx',
  });
  await page.getByRole('button', { name: 'Upload and compile' }).click();
  await page.waitForURL(new RegExp(`/models/${MODEL_ID}$`));
  const report = page.getByTestId('model-report');
  await expect(report).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('model-state')).toHaveText('Draft');
  await expect(report).toContainText('ONNX');
  await expect(report).toContainText('a neural network');
  await expect(page.getByTestId('confusion-matrix')).toBeVisible();
  const owned = await (await page.request.get(`/api/owner/models/${MODEL_ID}`)).json();
  expect(owned.report.cost.family).toBe('network');
  expect(owned.report.cost.bootstraps).toBe(90);
  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByTestId('model-state')).toHaveText('Published');
  const spec = await (await page.request.get(`/api/models/${MODEL_ID}/spec`)).json();
  expect(spec).toEqual(exported.spec);
  expect(spec.encryption.scheme).toBe('big-key-network-v1');

  // The reader: the key made before serves the network.
  await reader.goto('/predict');
  await reader.getByLabel('Model', { exact: true }).selectOption(MODEL_ID);
  await expect(reader.locator(`form[data-model="${MODEL_ID}"] fieldset`)).toBeEnabled();
  const seconds = [
    await predict(reader, exported, exported.malignant),
    await predict(reader, exported, exported.benign),
  ];
  console.log(`network: ${seconds.map((s) => s.toFixed(3)).join(' s, ')} s from click to result`);
  expect((await (await reader.request.get('/api/key')).json()).fingerprint).toBe(key.fingerprint);
  expect(problems).toEqual([]);
});
