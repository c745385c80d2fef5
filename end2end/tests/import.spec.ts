import { test, expect, uniqueEmail, signUp, hydrated, contactsCsv } from './fixtures';

test.use({ viewport: { width: 1100, height: 800 } });

test('upload, preview, watch progress, see counts and contacts, download errors', async ({ page }) => {
  await signUp(page, uniqueEmail('importer'));
  await page.goto('/import');
  await hydrated(page);

  const file = contactsCsv(1200, [
    ',,not-an-email,,',
    ',,,,',
    'Evil,Formula,=cmd@example,,',
    'Person1,Tester,PERSON1@example.com,,Acme 1',
    '<b>Bold</b>,Markup,markup@example.com,,<script>alert(1)</script>',
  ]);
  await page.setInputFiles('input[type=file]', { name: 'people.csv', mimeType: 'text/csv', buffer: file });
  await expect(page.getByTestId('chosen-file')).toContainText('people.csv');
  await page.getByRole('button', { name: 'Upload and preview' }).click();

  const preview = page.getByTestId('preview');
  await expect(preview).toBeVisible();
  await expect(page.getByTestId('encoding')).toHaveText('UTF-8');
  await expect(page.getByTestId('delimiter')).toHaveText('comma');
  await expect(page.getByTestId('data-rows')).toHaveText('1205');
  await expect(page.getByTestId('mapping-0')).toHaveValue('given_name');
  await expect(page.getByTestId('mapping-1')).toHaveValue('family_name');
  await expect(page.getByTestId('mapping-2')).toHaveValue('email');
  await expect(page.getByTestId('mapping-3')).toHaveValue('phone');
  await expect(page.getByTestId('mapping-4')).toHaveValue('organization');
  await expect(page.getByTestId('mapping-summary')).toHaveText('5 columns will be imported, 0 kept as custom fields, 0 ignored.');
  await page.screenshot({ path: 'screenshots/preview.png', fullPage: true });

  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', /queued|processing|succeeded/);
  await page.screenshot({ path: 'screenshots/progress.png', fullPage: true });

  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
  await expect(page.locator('progress')).toHaveAttribute('value', '100');
  // The formula row has a name: it imports, its bad email kept as a custom field with a warning.
  await expect(page.getByTestId('count-created')).toHaveText('1202');
  await expect(page.getByTestId('count-updated')).toHaveText('0');
  await expect(page.getByTestId('count-unchanged')).toHaveText('1');
  await expect(page.getByTestId('count-rejected')).toHaveText('1');
  await expect(page.getByTestId('count-skipped')).toHaveText('1');
  await expect(page.getByTestId('count-warned')).toHaveText('1');
  await expect(page.getByTestId('row-errors')).toContainText('not-an-email');
  await expect(page.getByTestId('row-errors')).toContainText('Imported, with a warning');
  await page.screenshot({ path: 'screenshots/results.png', fullPage: true });

  // A reload shows the same state, rendered by the server.
  await page.reload();
  await expect(page.getByTestId('count-created')).toHaveText('1202');

  const download = page.waitForEvent('download');
  await page.getByTestId('error-report').click();
  const report = await (await download).createReadStream();
  let csv = '';
  for await (const chunk of report) csv += chunk;
  expect(csv.split(/\r?\n/)[0]).toBe('line,kind,reason');
  expect(csv).toContain('not-an-email');
  // Every cell is safe to open in a spreadsheet: none starts a formula.
  expect(csv.split(/\r?\n/).some((line) => /^[=+\-@]|,[=+\-@]/.test(line))).toBe(false);

  await page.goto('/contacts?q=person42%40example.com');
  await expect(page.getByTestId('contacts-total')).toHaveText('1 contacts');
  await expect(page.getByTestId('contacts')).toContainText('Person42 Tester');

  // Markup from a file is text, never HTML.
  await page.goto('/contacts?q=markup');
  await expect(page.getByTestId('contacts')).toContainText('<b>Bold</b> Markup');
  await expect(page.locator('[data-testid=contacts] b')).toHaveCount(0);

  await page.goto('/imports');
  await expect(page.getByTestId('imports')).toContainText('people.csv');
});
