import { test, expect, uniqueEmail, signUp, hydrated } from './fixtures';
import { readFileSync } from 'fs';
import { join } from 'path';

test.use({ viewport: { width: 1100, height: 900 } });

const googleExport = readFileSync(join(__dirname, '..', '..', 'tests', 'fixtures', 'google-contacts.csv'));

async function importFile(page, name: string, mimeType: string, buffer: Buffer) {
  await page.goto('/import');
  await hydrated(page);
  await page.setInputFiles('input[type=file]', { name, mimeType, buffer });
  await page.getByRole('button', { name: 'Upload and preview' }).click();
  await expect(page.getByTestId('preview')).toBeVisible();
}

async function startAndFinish(page) {
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
}

test('the preview says where every column goes, a contact shows every field, an export comes back whole', async ({ page }) => {
  await signUp(page, uniqueEmail('full'));
  await importFile(page, 'contacts.csv', 'text/csv', googleExport);

  // Google's layout, one line per column with its values and where it goes.
  await expect(page.getByTestId('preset')).toHaveText('Google Contacts (current)');
  await expect(page.getByTestId('mapping-summary')).toHaveText('57 columns will be imported, 0 kept as custom fields, 0 ignored.');
  await expect(page.getByTestId('column-26')).toContainText('Address 1 - Formatted');
  await expect(page.getByTestId('column-26')).toContainText('Calle de Alcalá 48');
  await page.getByTestId('mapping-9').selectOption('ignore');
  await expect(page.getByTestId('mapping-summary')).toHaveText('56 columns will be imported, 0 kept as custom fields, 1 ignored.');
  await page.getByTestId('mapping-9').selectOption('custom');
  await expect(page.getByTestId('mapping-summary')).toHaveText('56 columns will be imported, 1 kept as custom fields, 0 ignored.');
  await page.screenshot({ path: 'screenshots/mapping-list.png', fullPage: true });
  await startAndFinish(page);
  await expect(page.getByTestId('count-created')).toHaveText('2');

  // The contact page: an address, a birthday, a labelled phone, every field.
  await page.goto('/contacts?q=quintero');
  await hydrated(page);
  await page.getByRole('link', { name: 'Marisol Quintero' }).click();
  await expect(page).toHaveURL(/\/contacts\/\d+$/);
  await expect(page.getByTestId('contact-name')).toHaveText('Marisol Quintero');
  await expect(page.getByTestId('contact-addresses')).toContainText('Calle de Alcalá 48, 3º');
  await expect(page.getByTestId('contact-addresses')).toContainText('Summer house');
  await expect(page.getByTestId('contact-about')).toContainText('22 April 1979');
  await expect(page.getByTestId('contact-phones')).toContainText('Mobile');
  await expect(page.getByTestId('contact-phones')).toContainText('+34 612 34 56 78');
  await expect(page.getByTestId('contact-emails')).toContainText('Work (preferred)');
  await expect(page.getByTestId('contact-relations')).toContainText('Tomás Rivera');
  await expect(page.getByTestId('contact-custom')).toContainText('AIA-77120');
  await expect(page.getByTestId('contact-notes')).toContainText('Allergic to peanuts');
  await page.screenshot({ path: 'screenshots/contact.png', fullPage: true });

  // The export, downloaded as a person would, imported into another account.
  await page.goto('/contacts');
  await hydrated(page);
  const download = page.waitForEvent('download');
  await page.getByTestId('export-vcf').click();
  const saved = await download;
  expect(saved.suggestedFilename()).toBe('contacts.vcf');
  let vcf = '';
  for await (const chunk of await saved.createReadStream()) vcf += chunk;
  expect(vcf.match(/BEGIN:VCARD/g)?.length).toBe(2);
  expect(vcf).toContain('VERSION:4.0');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await signUp(page, uniqueEmail('again'));
  await importFile(page, 'contacts.vcf', 'text/vcard', Buffer.from(vcf, 'utf8'));
  await expect(page.getByTestId('file-format')).toHaveText('vCard 4.0');
  await startAndFinish(page);
  await expect(page.getByTestId('count-created')).toHaveText('2');
  await expect(page.getByTestId('count-warned')).toHaveText('0');
  await page.goto('/contacts?q=quintero');
  await hydrated(page);
  await page.getByRole('link', { name: 'Marisol Quintero' }).click();
  await expect(page.getByTestId('contact-addresses')).toContainText('Calle de Alcalá 48, 3º');
  await expect(page.getByTestId('contact-about')).toContainText('22 April 1979');
  await expect(page.getByTestId('contact-phones')).toContainText('Mobile');
});
