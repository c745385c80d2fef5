import { test, expect, uniqueEmail, signUp, hydrated, PASSWORD } from './fixtures';

test('the home page renders on the server and hydrates', async ({ page }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  const html = await response!.text();
  expect(html).toContain('Bring your contacts home');
  await hydrated(page);
});

test('the password toggle works once the client has hydrated', async ({ page }) => {
  await page.goto('/sign-up');
  const password = page.getByLabel('Password', { exact: true });
  await expect(password).toHaveAttribute('type', 'password');
  // Clicking may land before hydration; retry until the WASM handler answers.
  await expect(async () => {
    await page.getByRole('button', { name: 'Show' }).click({ timeout: 1000 });
    await expect(password).toHaveAttribute('type', 'text', { timeout: 1000 });
  }).toPass({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Hide' }).click();
  await expect(password).toHaveAttribute('type', 'password');
});

test.describe('with a wrong password', () => {
  test.use({ allowedConsoleErrors: [/status of 401/] });

  test('signing in says so without naming the cause', async ({ page }) => {
    const email = uniqueEmail('wrong');
    await signUp(page, email);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
    await page.goto('/sign-in');
    await hydrated(page);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('The email or password is wrong.');
  });
});

test('sign up, sign out and sign in again', async ({ page }) => {
  const email = uniqueEmail('account');
  await signUp(page, email);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('account-email')).toHaveCount(0);

  // A page that needs an account sends us to sign in, and back afterwards.
  await page.goto('/contacts');
  await expect(page).toHaveURL(/\/sign-in\?next=\/contacts$/);
  await hydrated(page);
  await page.getByLabel('Email').fill(email.toUpperCase());
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/contacts$/);
  await expect(page.getByTestId('account-email')).toHaveText(email);
  await expect(page.getByTestId('contacts-total')).toHaveText('0 contacts');
});
