import { test, expect, uniqueEmail, signUp, hydrated, contactsCsv } from './fixtures';

// The browser logs the 409 it is answered with; that answer is the point here.
test.use({ allowedConsoleErrors: [/status of 409/] });

async function uploadToPreview(page, name: string, rows: number) {
  await page.goto('/import');
  await hydrated(page);
  await page.setInputFiles('input[type=file]', { name, mimeType: 'text/csv', buffer: contactsCsv(rows) });
  await page.getByRole('button', { name: 'Upload and preview' }).click();
  await expect(page.getByTestId('preview')).toBeVisible();
}

test('a second import from another tab gets the friendly message, then starts once the first is done', async ({ page, context }) => {
  await signUp(page, uniqueEmail('guard'));

  // The second tab is ready to start before the first import exists: the race the guard must win.
  const second = await context.newPage();
  await uploadToPreview(second, 'second.csv', 50);

  await uploadToPreview(page, 'large.csv', 15000);
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  const firstUrl = page.url();
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', /queued|processing/);

  await second.getByRole('button', { name: 'Start import' }).click();
  const message = second.getByTestId('already-running');
  await expect(message).toContainText(/You already have an import running — started (just now|1 minute ago|\d+ minutes ago)\./);
  await expect(second.locator('.error')).toHaveCount(0);
  await expect(message.getByRole('link', { name: 'See its progress' })).toHaveAttribute('href', new URL(firstUrl).pathname);

  // A fresh load of /import shows the running import before anything is uploaded.
  const third = await context.newPage();
  await third.goto('/import');
  await expect(third.getByTestId('running-banner')).toContainText('large.csv');
  await third.close();

  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 80_000 });
  await second.getByRole('button', { name: 'Start import' }).click();
  await expect(second).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  await expect(second.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 30_000 });
});
