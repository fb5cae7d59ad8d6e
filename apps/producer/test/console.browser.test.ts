import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, StatusHistorySchema } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { ARTIFACTS, closeBrowserTest, launchChromium, localOnly, UI } from './browser-support.js';
import { IRIS_ROWS, irisInputs, startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const ADMIN = 'admin-secret-for-the-console-test';
const INFER = 'infer-secret-for-the-console-test';
/**
 * The README's picture (docs/images/conveyor-dashboard.png) is this test's screenshot, copied by
 * hand with UPDATE_README_IMAGE=1: a test run never changes a tracked file otherwise.
 */
const README_IMAGE = fileURLToPath(
  new URL('../../../docs/images/conveyor-dashboard.png', import.meta.url),
);

/** What the page exposes of itself for scripts (`window.conveyorDashboard`), as the test reads it. */
interface ChartView {
  labels: string[];
  data: (number | null)[][];
  canvas: { width: number; height: number } | null;
}

/** The uPlot chart in element `id`: its series labels, its data and its canvas's size. */
const chartOf = (page: Page, id: string): Promise<ChartView | null> =>
  page.evaluate((chartId) => {
    // The tests' TypeScript has no DOM types: the few members read here, typed by hand.
    interface Chart {
      series: { label?: string }[];
      data: (number | null)[][];
      root: { querySelector(selector: string): { width: number; height: number } | null };
    }
    const view = (globalThis as { conveyorDashboard?: { charts: Map<string, Chart> } })
      .conveyorDashboard;
    const chart = view?.charts.get(chartId);
    if (chart === undefined) return null;
    const canvas = chart.root.querySelector('canvas');
    return {
      labels: chart.series.slice(1).map((s) => s.label ?? ''),
      data: chart.data.map((column) => [...column]),
      canvas: canvas === null ? null : { width: canvas.width, height: canvas.height },
    };
  }, id);

describe('the Conveyor dashboard in a real browser', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix, {
      API_KEYS: `ops:admin:${ADMIN},app:infer:${INFER}`,
      STATUS_SAMPLE_MS: '500',
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

  /** Submits iris jobs through the producer and waits for each result. */
  const runJobs = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const response = await fetch(`${base}/v1/models/iris/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INFER}` },
        body: JSON.stringify({ inputs: irisInputs([IRIS_ROWS[i % IRIS_ROWS.length]!]) }),
      });
      expect(response.status).toBe(202);
      const { job_id } = (await response.json()) as { job_id: string };
      const result = await fetch(`${base}/v1/jobs/${job_id}/result?wait=20`, {
        headers: { authorization: `Bearer ${INFER}` },
      });
      expect(result.status).toBe(200);
    }
  };

  /** A logged-in page that records console errors, page errors and requests off loopback. */
  const openConsole = async (): Promise<{
    context: BrowserContext;
    page: Page;
    problems: string[];
  }> => {
    // What a person types into the browser's log-in prompt: some user name, the secret as password.
    const context = await browser.newContext({
      httpCredentials: { username: 'ops', password: ADMIN },
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    const problems = await localOnly(page);
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
    page.on('requestfailed', (request) => {
      // A request the page itself cancels by navigating away (bull-board's polling when a link
      // leaves it) is not a failure; anything else is, outside requests included (localOnly).
      if (request.failure()?.errorText !== 'net::ERR_ABORTED')
        problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`);
    });
    const response = await page.goto(`${base}/console`);
    expect(response?.status()).toBe(200);
    return { context, page, problems };
  };

  it('refuses the page and its API without the admin scope, and asks browsers for Basic', async () => {
    for (const path of ['/console', '/console/console.js', '/v1/status/history']) {
      const anonymous = await fetch(`${base}${path}`);
      expect({ path, status: anonymous.status }).toEqual({ path, status: 401 });
      expect(((await anonymous.json()) as { code: string }).code).toBe('ERR_UNAUTHORIZED');
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      const infer = await fetch(`${base}${path}`, {
        headers: { authorization: `Bearer ${INFER}` },
      });
      expect({ path, status: infer.status }).toEqual({ path, status: 403 });
      expect(((await infer.json()) as { code: string }).code).toBe('ERR_FORBIDDEN');
    }
  });

  it('serves the history as its schema says, and none of the page folder but the page', async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    const history = await fetch(`${base}/v1/status/history`, { headers: admin });
    expect(history.status).toBe(200);
    const body = StatusHistorySchema.parse(await history.json());
    expect(body.sampleMs).toBe(500);
    expect(body.at.length).toBeGreaterThan(0);
    for (const hidden of ['/console/tsconfig.json', '/console/vendor/uPlot.esm.d.ts']) {
      const response = await fetch(`${base}${hidden}`, { headers: admin });
      expect({ hidden, status: response.status }).toEqual({ hidden, status: 404 });
    }
    const uplot = await fetch(`${base}/console/vendor/uPlot.esm.js`, { headers: admin });
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get('content-type')).toMatch(/javascript/);
  });

  it('shows iris and a worker, and draws throughput after jobs run, all from loopback', async () => {
    const { context, page, problems } = await openConsole();
    try {
      const csp = (await page.request.get(`${base}/console`)).headers()['content-security-policy'];
      expect(csp).toContain("script-src 'self'");
      await expect
        .poll(() => page.locator('#models td', { hasText: /^iris$/ }).count(), UI)
        .toBeGreaterThan(0);
      await expect.poll(() => page.locator('#workers tbody td.num').count(), UI).toBeGreaterThan(0);
      // A worker is listed from its first beat, `starting`, and turns `ready` once it serves.
      await expect
        .poll(() => page.locator('#workers tbody').textContent(), UI)
        .toContain('iris v1 (ready)');

      await runJobs(12);
      // The chart's own data (not its pixels): the iris series has a positive rate in it.
      await expect
        .poll(async () => {
          const chart = await chartOf(page, 'chart-throughput');
          const index = chart?.labels.indexOf('iris v1') ?? -1;
          const rates = index < 0 ? [] : (chart?.data[index + 1] ?? []);
          return Math.max(0, ...rates.map((r) => r ?? 0));
        }, UI)
        .toBeGreaterThan(0);
      const throughput = await chartOf(page, 'chart-throughput');
      expect(throughput?.canvas?.width).toBeGreaterThan(0);
      expect(throughput?.data[0]?.length).toBeGreaterThan(1);
      const latency = await chartOf(page, 'chart-latency');
      expect(latency?.labels).toEqual(expect.arrayContaining(['iris v1 p50', 'iris v1 p99']));
      for (const id of ['chart-depth', 'chart-backlog'])
        expect((await chartOf(page, id))?.labels).toContain('iris v1');

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}console.png`, fullPage: true });
      expect(existsSync(`${ARTIFACTS}console.png`)).toBe(true);
      if (process.env.UPDATE_README_IMAGE === '1') {
        mkdirSync(dirname(README_IMAGE), { recursive: true });
        copyFileSync(`${ARTIFACTS}console.png`, README_IMAGE);
      }
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('links to bull-board, and bull-board links back', async () => {
    const { context, page, problems } = await openConsole();
    try {
      await page.click('a[href="/dashboard"]');
      await expect.poll(() => page.url(), UI).toBe(`${base}/dashboard`);
      // bull-board lists its misc links in the menu of the header's last action.
      await expect.poll(() => page.locator('header ul li').count(), UI).toBeGreaterThan(0);
      await page.locator('header ul li').last().locator('button').click();
      const back = page.getByText('Conveyor dashboard', { exact: true });
      await expect.poll(() => back.count(), UI).toBeGreaterThan(0);
      await back.first().click();
      await expect.poll(() => page.url(), UI).toBe(`${base}/console`);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('sends a test prediction: outputs for iris, the error code for a bad input', async () => {
    const { context, page, problems } = await openConsole();
    try {
      await expect
        .poll(() => page.locator('#predict-model option').allTextContents(), UI)
        .toContain('iris');
      await page.selectOption('#predict-model', 'iris');
      // Prefilled from the model's metadata: zeros in the shape of its input.
      await expect.poll(() => page.inputValue('#predict-body'), UI).toContain('"FP32"');
      const prefilled = JSON.parse(await page.inputValue('#predict-body')) as {
        inputs: { name: string; shape: number[]; data: number[] }[];
      };
      expect(prefilled.inputs[0]?.shape).toEqual([1, 4]);
      expect(prefilled.inputs[0]?.data).toEqual([0, 0, 0, 0]);

      await page.click('#predict button[type=submit]');
      const result = page.locator('#predict-result');
      await expect.poll(() => result.getAttribute('data-outcome'), UI).toBe('ok');
      await expect.poll(() => result.textContent(), UI).toMatch(/^iris v1\n/);
      expect(await result.textContent()).toMatch(/label|probabilities/);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}console-predict.png`, fullPage: true });

      // Three features where iris takes four: the producer refuses it with a stable code.
      await page.fill(
        '#predict-body',
        JSON.stringify({
          inputs: [
            { name: prefilled.inputs[0]?.name, shape: [1, 3], datatype: 'FP32', data: [0, 0, 0] },
          ],
        }),
      );
      await page.click('#predict button[type=submit]');
      await expect.poll(() => result.getAttribute('data-outcome'), UI).toBe('error');
      expect(await result.getAttribute('data-code')).toBe('ERR_INPUT_SHAPE');
      expect(await result.textContent()).toMatch(/^ERR_INPUT_SHAPE: /);

      // A producer refusal is an answer the page shows, not a page error; only the browser's own
      // note of the 4xx response reaches the console.
      expect(problems.filter((p) => !/status of 4\d\d/.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
