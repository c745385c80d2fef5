import { test as base, expect, Page } from '@playwright/test';

type Fixtures = {
  /** Console errors a test expects, such as the browser's note on a 409 it provoked. */
  allowedConsoleErrors: RegExp[];
  /** Fails the test on any other console error or page error, in every tab. */
  failOnConsoleErrors: void;
};

export const test = base.extend<Fixtures>({
  allowedConsoleErrors: [[], { option: true }],
  failOnConsoleErrors: [
    async ({ context, allowedConsoleErrors }, use) => {
      const problems: string[] = [];
      const watch = (page: Page) => {
        page.on('console', (message) => {
          if (message.type() !== 'error') return;
          const text = message.text();
          if (!allowedConsoleErrors.some((allowed) => allowed.test(text))) problems.push(`console: ${text}`);
        });
        page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      };
      context.pages().forEach(watch);
      context.on('page', watch);
      await use();
      expect(problems, 'browser console errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

let counter = 0;
export function uniqueEmail(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now()}-${counter}@example.com`;
}

export const PASSWORD = 'correct horse battery';

/** Waits until the WASM client has taken over the page. */
export async function hydrated(page: Page) {
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
}

export async function signUp(page: Page, email: string) {
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByTestId('account-email')).toHaveText(email);
}

/** A contacts CSV: `rows` people, plus the extra lines given. */
export function contactsCsv(rows: number, extra: string[] = []): Buffer {
  const lines = ['First Name,Last Name,Email,Phone,Company'];
  for (let i = 0; i < rows; i++) {
    lines.push(`Person${i},Tester,person${i}@example.com,+1 555 ${String(i).padStart(6, '0')},Acme ${i % 7}`);
  }
  lines.push(...extra);
  return Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
}
