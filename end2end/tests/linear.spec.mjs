// Linear models (scikit-learn's logistic regression and linear SVM behind their scalers, through
// ONNX) served like a tree ensemble: a user whose key was made for the default model predicts
// with them in the browser, and sees the clear quantized model's class with its probability, or
// the SVM's class with its decision score (`bench --model ... --export` wrote them;
// scripts/e2e.sh installs the models with `import-model`). The server computes a weighted sum
// of the encrypted row: no bootstrap.
import { test, expect } from '@playwright/test';
import { exportedModel, predict, signUp, watchProblems } from '../support/blindfold.mjs';

const MODEL_ID = 'sklearn-logistic-regression';
const exported = exportedModel(process.env.BLINDFOLD_E2E_LINEAR_FIXTURE ?? 'target/e2e/fixture-linear');
// A linear SVM: a classifier without probabilities, whose page shows the decision score.
const SVM_ID = 'sklearn-linear-svc';
const svm = exportedModel(process.env.BLINDFOLD_E2E_SVM_FIXTURE ?? 'target/e2e/fixture-svm');

test('a user predicts with a linear model under the key they already have', async ({ page }) => {
  const problems = watchProblems(page);
  await signUp(page, 'linear');
  await page.getByRole('button', { name: 'Generate keys' }).click();
  await expect(page.getByTestId('keygen-figures')).toBeVisible({ timeout: 120_000 });

  // The catalogue lists it with its cost: no bootstrap.
  const summary = (await (await page.request.get('/api/models')).json()).find((m) => m.id === MODEL_ID);
  expect(summary.cost.family).toBe('linear');
  expect(summary.cost.bootstraps).toBe(0);
  const spec = await (await page.request.get(`/api/models/${MODEL_ID}/spec`)).json();
  expect(spec).toEqual(exported.spec);
  expect(spec.encryption.scheme).toBe('small-key-linear-v1');

  await page.goto('/predict');
  await page.getByLabel('Model', { exact: true }).selectOption(MODEL_ID);
  // The form of the model on show before takes no input while this one's spec loads.
  await expect(page.locator(`form[data-model="${MODEL_ID}"] fieldset`)).toBeEnabled();
  const seconds = [
    await predict(page, exported, exported.malignant),
    await predict(page, exported, exported.benign),
  ];
  console.log(`linear model: ${seconds.map((s) => s.toFixed(3)).join(' s, ')} s from click to result`);

  const svmSummary = (await (await page.request.get('/api/models')).json()).find((m) => m.id === SVM_ID);
  expect(svmSummary.objective).toEqual({ decision_scores: { classes: 2 } });
  await page.getByLabel('Model', { exact: true }).selectOption(SVM_ID);
  await expect(page.locator(`form[data-model="${SVM_ID}"] fieldset`)).toBeEnabled();
  await predict(page, svm, svm.malignant);
  await predict(page, svm, svm.benign);
  await expect(page.getByTestId('prediction-class')).toHaveText('Benign');
  expect(problems).toEqual([]);
});
