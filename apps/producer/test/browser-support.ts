import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium, which playwright-core drives (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';

/** A bound on waits for the page to render, on a machine whose cores other tests share. */
export const UI = { timeout: 20_000 };

/** Where browser tests write their screenshots (a CI artifact). */
export const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

/** Starts headless chromium without any of its own traffic (updates, sync, QUIC). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Nothing leaves the machine: a request to any other host is refused and recorded, and so is every
 * Content-Security-Policy violation the page reports. The page must ask for neither.
 */
export const localOnly = async (page: Page): Promise<string[]> => {
  const blocked: string[] = [];
  await page.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname === '127.0.0.1' || hostname === 'localhost') return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
  });
  return blocked;
};

/** What a browser test started, closed in order by `closeBrowserTest`. */
export interface BrowserTestParts {
  browser?: Browser;
  producer?: { app: { server: { closeAllConnections(): void } }; close(): Promise<void> };
  worker?: { close(): Promise<void> };
}

/** Waits for `closing`, at most `ms`; answers whether it finished, and names it when it did not. */
async function finishedWithin(name: string, closing: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([closing.then(() => true as const), late]);
  clearTimeout(timer);
  if (!done) process.stderr.write(`browser test teardown: ${name} did not close within ${ms} ms\n`);
  return done;
}

/**
 * Closes the browser, then the producer, then the worker, each within a bound: a close that hangs
 * is named on stderr and the teardown goes on. A producer still waiting on open connections after
 * its bound has them cut, so its close can finish.
 */
export async function closeBrowserTest(parts: BrowserTestParts, ms = 15_000): Promise<void> {
  if (parts.browser !== undefined) await finishedWithin('chromium', parts.browser.close(), ms);
  if (parts.producer !== undefined) {
    const closing = parts.producer.close();
    if (!(await finishedWithin('producer', closing, ms))) {
      parts.producer.app.server.closeAllConnections();
      await finishedWithin('producer (connections cut)', closing, ms);
    }
  }
  if (parts.worker !== undefined) await finishedWithin('worker', parts.worker.close(), ms);
}
