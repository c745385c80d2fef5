import { test, expect, uniqueEmail, signUp, hydrated } from './fixtures';

test.use({ viewport: { width: 1100, height: 900 } });
// An undo first asks what it covers (409 confirmation_needed), and an edit that
// takes another contact's address is answered 409 identity_taken: the browser logs both.
test.use({ allowedConsoleErrors: [/status of 409/] });

async function importCsv(page, name: string, csv: string) {
  await page.goto('/import');
  await hydrated(page);
  await page.setInputFiles('input[type=file]', { name, mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
  await page.getByRole('button', { name: 'Upload and preview' }).click();
  await expect(page.getByTestId('preview')).toBeVisible();
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
}

async function openContact(page, query: string, name: string) {
  await page.goto(`/contacts?q=${encodeURIComponent(query)}`);
  await hydrated(page);
  await page.getByRole('link', { name }).click();
  await expect(page).toHaveURL(/\/contacts\/\d+$/);
  await hydrated(page);
}

/** Confirms the undo the page offers, after it said what it covers, and waits for it. */
async function confirmUndo(page, covers: RegExp) {
  await expect(page.getByTestId('undo-covers')).toHaveText(covers);
  await page.getByTestId('undo-confirm').click();
  await expect(page).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
}

test('an import that merged two contacts is undone from its results page, and both come back', async ({ page }) => {
  await signUp(page, uniqueEmail('undo'));
  await importCsv(page, 'people.csv', 'Name,Email,Title\r\nAna Lima,ana@example.com,Engineer\r\nBo Berg,bo@example.com,Designer\r\n');
  await importCsv(page, 'merge.csv', 'Name,Email,Title\r\nAna Lima,ana@example.com ::: bo@example.com,Director\r\n');
  await expect(page.getByTestId('count-merged')).toHaveText('1');
  const results = page.url();

  await page.goto('/contacts');
  await hydrated(page);
  await expect(page.getByTestId('contacts-total')).toHaveText('1 contacts');

  await page.goto(results);
  await hydrated(page);
  await page.getByTestId('undo-start').click();
  await confirmUndo(page, /^This undoes 2 changes\./);
  await expect(page.getByTestId('count-restored')).toHaveText('1');
  await expect(page.getByTestId('count-reverted')).toHaveText('1');
  await page.screenshot({ path: 'screenshots/undo.png', fullPage: true });

  await page.goto(results);
  await hydrated(page);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'undone');
  await expect(page.getByTestId('undone-by')).toBeVisible();
  await page.goto('/contacts');
  await hydrated(page);
  await expect(page.getByTestId('contacts-total')).toHaveText('2 contacts');
  await openContact(page, 'bo@example.com', 'Bo Berg');
  await expect(page.getByTestId('contact-organizations')).toContainText('Designer');
  await expect(page.getByTestId('contact-organizations')).not.toContainText('Director');
});

test('a phone label is edited, a contact deleted and the deletion undone', async ({ page }) => {
  await signUp(page, uniqueEmail('edit'));
  await importCsv(page, 'people.csv', 'Name,Email,Phone\r\nAna Lima,ana@example.com,+1 555 000 0001\r\nBo Berg,bo@example.com,+1 555 000 0002\r\n');

  await openContact(page, 'ana@example.com', 'Ana Lima');
  await page.getByTestId('contact-edit').click();
  await expect(page.getByTestId('edit-form')).toBeVisible();
  await page.getByTestId('edit-phones-0-label').fill('fax');
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('contact-phones')).toContainText('Fax');
  await expect(page.getByTestId('contact-phones')).toContainText('+1 555 000 0001');

  // Bo's address on Ana is refused, naming Bo.
  await page.getByTestId('contact-edit').click();
  await page.getByTestId('edit-emails-add').click();
  await page.getByTestId('edit-emails-1').fill('bo@example.com');
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('identity-taken')).toContainText('Bo Berg');
  await page.getByRole('button', { name: 'Cancel' }).click();

  await page.getByTestId('contact-delete').click();
  await page.getByTestId('contact-delete-confirm').click();
  await expect(page.getByTestId('contact-deleted')).toBeVisible();
  await page.getByTestId('undo-start').click();
  await confirmUndo(page, /^This undoes 1 change\./);
  await page.goto('/contacts');
  await hydrated(page);
  await expect(page.getByTestId('contacts-total')).toHaveText('2 contacts');
  await openContact(page, 'ana@example.com', 'Ana Lima');
  await expect(page.getByTestId('contact-phones')).toContainText('Fax');

  // The history lists each operation; selecting and deleting from the list works too.
  await page.goto('/imports');
  await hydrated(page);
  await expect(page.getByTestId('operations').locator('li')).toHaveCount(4);
  await page.goto('/contacts');
  await hydrated(page);
  await page.getByTestId('select-contact').first().check();
  await page.getByTestId('delete-selected').click();
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
  await expect(page.getByTestId('count-removed')).toHaveText('1');
});
