/**
 * Scenario 12, OCR: the shipped `ocr` pipeline (PP-OCRv4 detection, direction, recognition),
 * pages per second end to end through the SDK and one worker process serving `ocr,text-direction`,
 * against the same pipeline in this process through `createEmbeddedClient`. Both read the same
 * PNG pages round-robin, with the same number of pages in flight, one side after the other.
 */
import type { ConveyorClient, Prediction } from '@conveyor/sdk';
import { createClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { MODELS } from '../../lib/worker-process.js';
import type { BenchContext } from '../context.js';
import { cpuSecondsOf } from '../cpu.js';
import { BUILT, percentile, round, say } from '../lib.js';
import { ocrPages, type OcrPage } from '../ocr-pages.js';
import type { BenchResults, OcrPageInfo, OcrSide } from '../results.js';

const SERVED = ['ocr', 'text-direction'] as const;

const linesOf = (p: Prediction) => (p.outputs.text?.data as readonly string[] | undefined)?.length;

/** Reads every page once (loading, first-run allocations), and returns the lines of each. */
async function warmUp(client: ConveyorClient, pages: readonly OcrPage[]): Promise<number[]> {
  const lines: number[] = [];
  for (const page of pages) {
    const found = linesOf(await client.predict('ocr', { image: page.png }));
    if (found === undefined) throw new Error(`ocr gave no text output for ${page.name}`);
    lines.push(found);
  }
  return lines;
}

/**
 * Reads `total` pages (round-robin over `pages`) with at most `inFlight` at once, stopping early
 * at the time limit; the rate counts the pages read.
 */
async function drive(
  client: ConveyorClient,
  pages: readonly OcrPage[],
  total: number,
  inFlight: number,
  timeLimitS: number,
): Promise<OcrSide> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + timeLimitS * 1000;
  let next = 0;
  const lane = async () => {
    while (next < total && performance.now() < deadline) {
      const page = pages[next % pages.length] as OcrPage;
      next += 1;
      const t0 = performance.now();
      const prediction = await client.predict('ocr', { image: page.png }, { timeoutMs: 120_000 });
      if (linesOf(prediction) === undefined) throw new Error(`no text for ${page.name}`);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const seconds = (performance.now() - started) / 1000;
  return {
    pages: latencies.length,
    seconds: round(seconds, 2),
    pagesPerSecond: round(latencies.length / seconds, 2),
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    finished: latencies.length === total,
  };
}

/** The same pipeline in this process, on the shipped repository the worker reads too. */
async function inProcess(ctx: BenchContext, pages: readonly OcrPage[]) {
  const client = await createEmbeddedClient({ repository: MODELS, models: [...SERVED] });
  try {
    const lines = await warmUp(client, pages);
    const { ocrPages: total, ocrInFlight, ocrTimeLimitS } = ctx.counts;
    return { lines, side: await drive(client, pages, total, ocrInFlight, ocrTimeLimitS) };
  } finally {
    await client.close();
  }
}

/** Through the queue: the SDK client here, one worker process on loopback Redis. */
async function endToEnd(ctx: BenchContext, pages: readonly OcrPage[]) {
  const prefix = ctx.prefixFor('ocr');
  const worker = await ctx.start(
    BUILT.worker,
    { REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: MODELS, MODELS: SERVED.join(',') },
    '"worker ready"',
  );
  const client = await createClient({ redisUrl: ctx.redis.url, prefix });
  try {
    const lines = await warmUp(client, pages);
    const { ocrPages: total, ocrInFlight, ocrTimeLimitS } = ctx.counts;
    const before = { driver: process.cpuUsage(), worker: cpuSecondsOf([worker.child.pid]) };
    const side = await drive(client, pages, total, ocrInFlight, ocrTimeLimitS);
    const driver = process.cpuUsage(before.driver);
    const cpuSeconds = {
      driver: round((driver.user + driver.system) / 1e6, 2),
      worker: round(cpuSecondsOf([worker.child.pid]) - before.worker, 2),
    };
    return { lines, side: { ...side, cpuSeconds } };
  } finally {
    await client.close();
    await ctx.stop(worker);
  }
}

export async function runOcr(ctx: BenchContext, results: BenchResults): Promise<void> {
  const { ocrPages: total, ocrInFlight } = ctx.counts;
  say(`\n12. ocr pipeline: ${total} pages, ${ocrInFlight} in flight, in-process vs end to end`);
  const pages = await ocrPages();
  const local = await inProcess(ctx, pages);
  say(`   in-process: ${JSON.stringify(local.side)}`);
  const queued = await endToEnd(ctx, pages);
  say(`   end to end: ${JSON.stringify(queued.side)}`);
  const images: OcrPageInfo[] = pages.map((p, i) => ({
    name: p.name,
    width: p.width,
    height: p.height,
    bytes: p.png.byteLength,
    lines: local.lines[i] ?? 0,
  }));
  // The same pipeline reads the same page the same way on both sides; anything else is a bug.
  if (queued.lines.some((n, i) => n !== local.lines[i]))
    throw new Error(
      `lines per page differ: in-process ${local.lines.join(',')}, end to end ${queued.lines.join(',')}`,
    );
  results.ocr = {
    images,
    inFlight: ocrInFlight,
    timeLimitS: ctx.counts.ocrTimeLimitS,
    inProcess: local.side,
    endToEnd: queued.side,
  };
  say(`   pages: ${JSON.stringify(images)}`);
}
