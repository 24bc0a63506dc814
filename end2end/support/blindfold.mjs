// What several browser tests do the same way: sign up, read the clear model's answers that
// `bench --export` wrote, and predict one row on the Predict page checking the answer.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from '@playwright/test';

export const PASSWORD = 'correct horse battery staple 42';

// Collects the page's console errors and uncaught exceptions (a failed resource load is the
// browser reporting an error status the test expects, not a fault of the page).
export function watchProblems(page) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(message.text());
    }
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

// A new account named `prefix-<time>`; the page ends on the Keys page, where sign-up leads.
export async function signUp(page, prefix) {
  const username = `${prefix}-${Date.now()}`;
  await page.goto('/signup');
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Password confirmation', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/keys$/);
  return username;
}

// Grants `username` the owner role as an administrator would, with `blindfold-server
// grant-owner` on the server's data directory (scripts/e2e.sh says where).
export function grantOwner(username) {
  const server = process.env.BLINDFOLD_SERVER_BIN ?? 'target/release/blindfold-server';
  const data = process.env.BLINDFOLD_E2E_DATA;
  if (!data) throw new Error('BLINDFOLD_E2E_DATA: the server data directory (scripts/e2e.sh sets it)');
  return execFileSync(server, ['grant-owner', '--data-dir', data, username], { encoding: 'utf8' });
}

// Fills the Models page's upload form: what users will read, the model file, the calibration
// rows and the test rows (`model` is the file's name in the fixture directory `dir`). The
// caller adds the inputs' details, if any, and submits.
export async function fillUpload(page, { id, name, description, labels, dir, model }) {
  await page.getByLabel('Model id', { exact: true }).fill(id);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Description', { exact: true }).fill(description);
  await page.getByLabel('Class labels', { exact: true }).fill(labels);
  await page.getByLabel('Model file', { exact: true }).setInputFiles(`${dir}/${model}`);
  await page.getByLabel('Calibration CSV', { exact: true }).setInputFiles(`${dir}/train.csv`);
  await page.getByLabel('Test CSV', { exact: true }).setInputFiles(`${dir}/test.csv`);
}

// A model's spec and the clear quantized model's answers on its test rows, as
// `bench --export DIR` wrote them, with one benign and one malignant row picked out.
export function exportedModel(dir) {
  const spec = JSON.parse(readFileSync(`${dir}/spec.json`, 'utf8'));
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
  return {
    spec,
    benign: expected.find((r) => r.prediction.class === 'Benign'),
    malignant: expected.find((r) => r.prediction.class === 'Malignant'),
  };
}

// The probability of a row's class as the page writes it.
export function percent(model, row) {
  const index = model.spec.labels.indexOf(row.prediction.class);
  return `${(row.prediction.probabilities[index] * 100).toFixed(1)}%`;
}

// The decision score of a row's class as the page writes it (a classifier without
// probabilities).
export function score(model, row) {
  const index = model.spec.labels.indexOf(row.prediction.class);
  return row.prediction.scores[index].toFixed(3);
}

// Predicts one row with the model on show and checks the answer against the clear quantized
// model's; no keys may be generated on the way. Returns the seconds from click to result.
export async function predict(page, model, row) {
  for (const [i, feature] of model.spec.features.entries()) {
    await page.getByLabel(feature.name, { exact: true }).fill(String(row.features[i]));
  }
  await expect(page.getByTestId('worker-status')).toHaveText('Encryption ready in this browser');
  await page.getByRole('button', { name: 'Predict privately' }).click();
  const shown = page.getByTestId('prediction-class');
  await shown.waitFor({ state: 'visible', timeout: 180_000 });
  await expect(shown).toHaveText(row.prediction.class);
  if (row.prediction.scores) {
    await expect(page.getByTestId('prediction-score')).toHaveText(score(model, row));
    await expect(page.getByTestId('prediction-probability')).toHaveCount(0);
  } else {
    await expect(page.getByTestId('prediction-probability')).toHaveText(percent(model, row));
  }
  const timing = page.getByTestId('prediction-timing');
  await expect(timing).not.toContainText('Keys were generated first');
  const seconds = Number(await timing.getAttribute('data-click-to-result-ms')) / 1000;
  console.log(`${row.prediction.class}: ${seconds} s from click to result; ${await timing.textContent()}`);
  return seconds;
}
