// The Account page in a browser: a wrong current password is reported under its field; the
// right one changes the password, this session goes on and the user's other session ends.
import { test, expect } from '@playwright/test';

const password = 'correct horse battery staple';
const newPassword = 'purple elephant umbrella';

test('the Account page changes the password and ends the other sessions', async ({ page, browser }) => {
  const username = `account${Date.now()}`;
  await page.goto('/signup');
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Password confirmation', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/keys$/);

  // Another session of the same user, in a browser of its own.
  const elsewhere = await browser.newContext();
  const other = await elsewhere.newPage();
  await other.goto('/login');
  await other.getByLabel('Username', { exact: true }).fill(username);
  await other.getByLabel('Password', { exact: true }).fill(password);
  await other.getByRole('button', { name: 'Log in' }).click();
  await expect(other).toHaveURL(/\/predict$/);
  expect((await other.request.get('/api/session')).status()).toBe(200);

  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await expect(page).toHaveURL(/\/account$/);
  const form = page.getByTestId('change-password');
  await form.getByLabel('Current password', { exact: true }).fill('not my password');
  await form.getByLabel('New password', { exact: true }).fill(newPassword);
  await form.getByLabel('New password confirmation', { exact: true }).fill(newPassword);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(form.getByText('The password is wrong.')).toBeVisible();

  await form.getByLabel('Current password', { exact: true }).fill(password);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByTestId('password-changed')).toBeVisible();
  await expect(form.getByLabel('New password', { exact: true })).toHaveValue('');

  // This session goes on (the page renders logged in); the other one has ended.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Account', exact: true })).toBeVisible();
  await expect(page.getByText(`Signed in as ${username}`).first()).toBeVisible();
  expect((await other.request.get('/api/session')).status()).toBe(401);
  await elsewhere.close();
});
