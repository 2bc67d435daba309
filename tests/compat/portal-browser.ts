import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './harness.ts';

/** Where the portal tests leave their screenshots (ignored by git; CI keeps them as artifacts). */
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'portal');

const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium, headless, with nothing that reaches out to the network on its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors seen so far (a test fails on any). */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Chromium with a fresh profile at 1280×800. The server's certificate comes from its own test CA, which this
 * throwaway profile does not trust, so certificate errors are ignored for it.
 */
export async function openBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: apt-get install chromium (.ci/run and npm test install it as root)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'lazurite-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    ignoreHTTPSErrors: true,
  });
  context.setDefaultTimeout(30_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  const { width } = page.viewportSize() ?? { width: 0 };
  await page.screenshot({ path: join(ARTIFACTS, `${name}-${String(width)}.png`), fullPage: true });
}

/** How far the page's content is wider than the viewport (0 = no horizontal scrolling). */
export function horizontalOverflow(page: Page): Promise<number> {
  // A string expression: the tests' TypeScript has no DOM types.
  return page.evaluate<number>(
    'Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - document.documentElement.clientWidth',
  );
}

/** The id and text of the element with keyboard focus. */
export async function focused(page: Page): Promise<{ id: string | null; text: string | null }> {
  const el = page.locator(':focus');
  return { id: await el.getAttribute('id'), text: await el.textContent() };
}
