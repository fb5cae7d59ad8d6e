import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { ARTIFACTS, closeBrowserTest, launchChromium, localOnly, UI } from './browser-support.js';
import { irisInputs, startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const ADMIN = 'admin-secret-for-the-dashboard-test';
const INFER = 'infer-secret-for-the-dashboard-test';

describe('the queue dashboard in a real browser', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix, {
      API_KEYS: `ops:admin:${ADMIN},app:infer:${INFER}`,
    });
    worker = await startWorkerService(config, silent);
    producer = await startJobsProducer(config);
    await producer.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(producer.app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await closeBrowserTest({ browser, producer, worker });
    await dropPrefix(redisUrl, prefix);
  }, 60_000);

  const submit = async (rows: number[][]) => {
    const response = await fetch(`${base}/v1/models/iris/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${INFER}` },
      body: JSON.stringify({ inputs: irisInputs(rows) }),
    });
    expect(response.status).toBe(202);
    const { job_id } = (await response.json()) as { job_id: string };
    const result = await fetch(`${base}/v1/jobs/${job_id}/result?wait=20`, {
      headers: { authorization: `Bearer ${INFER}` },
    });
    expect(result.status).toBe(200);
  };

  it('refuses the dashboard without the admin scope', async () => {
    const anonymous = await fetch(`${base}/dashboard`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('ERR_UNAUTHORIZED');
    const infer = await fetch(`${base}/dashboard`, {
      headers: { authorization: `Bearer ${INFER}` },
    });
    expect(infer.status).toBe(403);
  });

  it('asks a browser for the admin secret with a Basic challenge, and opens the board with it', async () => {
    const challenge = await fetch(`${base}/dashboard`);
    expect(challenge.headers.get('www-authenticate')).toMatch(/^Basic realm="conveyor dashboard"/);
    // What a person types into the browser's log-in prompt, some user name and the secret as password.
    const context = await browser.newContext({
      httpCredentials: { username: 'ops', password: ADMIN },
    });
    try {
      const page = await context.newPage();
      const blocked = await localOnly(page);
      const response = await page.goto(`${base}/dashboard`);
      expect(response?.status()).toBe(200);
      await expect
        .poll(() => page.getByText('predict.iris.1', { exact: true }).count(), UI)
        .toBeGreaterThan(0);
      expect(blocked).toEqual([]);
    } finally {
      await context.close();
    }
    const wrong = await browser.newContext({
      httpCredentials: { username: 'ops', password: 'not-the-secret' },
    });
    try {
      const response = await (await wrong.newPage()).goto(`${base}/dashboard`);
      expect(response?.status()).toBe(401);
    } finally {
      await wrong.close();
    }
  });

  it("shows every model's queue with its counts, and the callbacks queue", async () => {
    await submit([[5.1, 3.5, 1.4, 0.2]]);
    await submit([[6.7, 3.0, 5.2, 2.3]]);
    const context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${ADMIN}` },
    });
    try {
      const page = await context.newPage();
      const blocked = await localOnly(page);
      const response = await page.goto(`${base}/dashboard`);
      expect(response?.status()).toBe(200);
      for (const queue of ['predict.iris.1', 'predict.text-direction.1', 'callbacks'])
        await expect
          .poll(() => page.getByText(queue, { exact: true }).count(), UI)
          .toBeGreaterThan(0);

      // The board's API is what the page renders; it must count the two completed iris jobs.
      const api = await page.evaluate(
        async (url) => (await fetch(url)).json(),
        `${base}/dashboard/api/queues`,
      );
      const iris = (
        api as { queues: { name: string; counts: Record<string, number> }[] }
      ).queues.find((q) => q.name === 'predict.iris.1');
      expect(iris?.counts.completed).toBe(2);
      await page.getByText('predict.iris.1', { exact: true }).first().click();
      await expect.poll(() => page.url(), UI).toContain('/dashboard/queue/predict.iris.1');
      await expect.poll(() => page.getByText('Loading...').count(), UI).toBe(0);
      await expect.poll(() => page.getByText(/completed/i).count(), UI).toBeGreaterThan(0);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
      expect(existsSync(`${ARTIFACTS}dashboard.png`)).toBe(true);
      // Every request of the board, its API's and the queue page's included, stayed on loopback.
      expect(blocked).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('cannot be framed: frame-ancestors none and X-Frame-Options DENY, and the browser obeys', async () => {
    const context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${ADMIN}` },
    });
    try {
      const page = await context.newPage();
      const blocked = await localOnly(page);
      const response = await page.goto(`${base}/dashboard`);
      const headers = response?.headers() ?? {};
      expect(headers['x-frame-options']).toBe('DENY');
      const csp = headers['content-security-policy'] ?? '';
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'self'");
      // The board's own files carry the headers too, not the page alone.
      const api = await fetch(`${base}/dashboard/api/queues`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(api.headers.get('x-frame-options')).toBe('DENY');
      // A page of another origin (localhost is not 127.0.0.1) that frames the board gets nothing.
      const other = base.replace('127.0.0.1', 'localhost');
      await page.goto(`${other}/v2/health/live`);
      await page.setContent(`<iframe id="board" src="${base}/dashboard"></iframe>`);
      const frame = page.frameLocator('#board');
      await expect.poll(() => page.frames()[1]?.url(), UI).toMatch(/^chrome-error:/);
      expect(await frame.getByText('predict.iris.1', { exact: true }).count()).toBe(0);
      expect(blocked.filter((b) => !/frame-ancestors/.test(b))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
