import { defineConfig } from '@playwright/test';

// The app under test is the release build that `cargo leptos build --release --precompress`
// leaves in target/, the same that scripts/serve serves.
const port = Number(process.env.E2E_PORT ?? 3107);

export default defineConfig({
  testDir: './tests',
  timeout: 90_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: true,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      // Debian's Chromium; Playwright never downloads a browser here.
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  webServer: {
    command: 'rm -rf target/e2e && mkdir -p target/e2e && exec target/release/intake',
    cwd: '..',
    // Ready means the database answered, not merely that the port is open.
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      INTAKE_ADDR: `127.0.0.1:${port}`,
      DATABASE_URL: 'sqlite://target/e2e/intake.db',
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_OUTPUT_NAME: 'intake',
      // Small, paced batches so a large file is still running when the test looks.
      IMPORT_BATCH_ROWS: '250',
      IMPORT_BATCH_PAUSE: '60ms',
      INTAKE_LOG: 'info,sqlx=warn',
      // Every test signs up a new account from 127.0.0.1.
      INTAKE_SIGN_UPS_PER_CLIENT: '1000',
    },
  },
});
