import { test, expect, uniqueEmail, signUp, hydrated } from './fixtures';

test.use({ viewport: { width: 1100, height: 800 } });

/** An iPhone-style vCard 3.0 export and an Android 2.1 card, one broken card between. */
function contactsVcf(): Buffer {
  const cards: string[] = [];
  for (let i = 0; i < 30; i++) {
    cards.push(
      [
        'BEGIN:VCARD',
        'VERSION:3.0',
        `N:Tester;Card${i};;;`,
        `FN:Card${i} Tester`,
        `EMAIL;type=INTERNET;type=HOME:card${i}@home.example`,
        `item1.EMAIL;type=INTERNET;type=pref:card${i}@example.com`,
        'item1.X-ABLabel:_$!<Other>!$_',
        `TEL;type=CELL;type=VOICE:+1 555 ${String(i).padStart(6, '0')}`,
        'ORG:Acme\\, Inc.;Sales',
        'PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD',
        ' /2wBDAAgGBgcGBQgHBwcJ',
        'END:VCARD',
      ].join('\r\n'),
    );
  }
  cards.push('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nthis is no property\r\nEND:VCARD');
  cards.push(
    'BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\nTEL;CELL:+49 170 1234567\r\nEND:VCARD',
  );
  return Buffer.from(cards.join('\r\n') + '\r\n');
}

test('a .vcf upload is recognised, previewed and imported as contacts', async ({ page }) => {
  await signUp(page, uniqueEmail('vcard'));
  await page.goto('/import');
  await hydrated(page);

  await page.setInputFiles('input[type=file]', { name: 'iPhone.vcf', mimeType: 'text/vcard', buffer: contactsVcf() });
  await page.getByRole('button', { name: 'Upload and preview' }).click();

  await expect(page.getByTestId('preview')).toBeVisible();
  await expect(page.getByTestId('file-format')).toHaveText('vCard 3.0');
  await expect(page.getByTestId('preset')).toHaveText('vCard properties');
  await expect(page.getByTestId('data-rows')).toHaveText('32');
  await expect(page.getByTestId('delimiter')).toHaveCount(0);
  // A line per kind of property, with the cards that hold it and where it goes.
  await expect(page.getByTestId('mapping-0')).toHaveValue('full_name');
  await expect(page.getByTestId('mapping-1')).toHaveValue('given_name');
  await expect(page.getByTestId('mapping-2')).toHaveValue('email');
  await expect(page.getByTestId('mapping-3')).toHaveValue('phone');
  await expect(page.getByTestId('mapping-5')).toHaveValue('photo');
  await expect(page.getByTestId('column-2')).toContainText('card0@home.example · card0@example.com');
  await expect(page.getByTestId('column-2')).toContainText('30 cards');
  await expect(page.getByTestId('mapping-summary')).toHaveText('6 properties will be imported, 0 kept as custom fields, 0 ignored.');
  await page.screenshot({ path: 'screenshots/vcard-preview.png', fullPage: true });

  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page).toHaveURL(/\/imports\/[0-9a-f-]+$/);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
  // The broken line costs only itself: its card imports, with a warning.
  await expect(page.getByTestId('count-created')).toHaveText('32');
  await expect(page.getByTestId('count-rejected')).toHaveText('0');
  await expect(page.getByTestId('count-warned')).toHaveText('1');
  await expect(page.getByTestId('row-errors')).toContainText('is not a vCard property; it was skipped');

  await page.goto('/contacts?q=card7%40home.example');
  await expect(page.getByTestId('contacts-total')).toHaveText('1 contacts');
  await expect(page.getByTestId('contacts')).toContainText('Card7 Tester');
  await expect(page.getByTestId('contacts')).toContainText('card7@example.com');
  await expect(page.getByTestId('contacts')).toContainText('Acme, Inc.');

  await page.goto('/contacts?q=J%C3%BCrgen');
  await expect(page.getByTestId('contacts')).toContainText('Jürgen Müller');
});
