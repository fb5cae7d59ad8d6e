import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createModelAdmin, type ModelAdmin } from '@conveyor/sdk';
import { ROOT, runCli } from '../apps/cli/test/support.js';
import { dropPrefix, uniquePrefix } from './support/prefix.js';
import { MODELS, startInProcessWorker } from './support/workers.js';

const redisUrl = inject('redisUrl');

/** One `$ conveyor ...` line of a console block and the output printed under it. */
interface Step {
  command: string[];
  expected: string;
}

/** A command line's words, as a shell splits it: on spaces, outside single quotes. */
const words = (line: string): string[] =>
  [...line.matchAll(/'([^']*)'|(\S+)/g)].map(([, quoted, bare]) => quoted ?? bare ?? '');

/** The steps of every ```console block of a document, in order. */
function consoleSteps(markdown: string): Step[] {
  const steps: Step[] = [];
  for (const [, block = ''] of markdown.matchAll(/^```console\n([\s\S]*?)^```$/gm)) {
    for (const line of block.split('\n').slice(0, -1)) {
      if (line.startsWith('$ ')) steps.push({ command: words(line.slice(2)), expected: '' });
      else if (steps.length > 0) (steps.at(-1) as Step).expected += `${line}\n`;
    }
  }
  return steps;
}

/**
 * Output with what differs between runs replaced: times, the host in `ops@host`, durations (and
 * the column padding that follows their width).
 */
const stable = (text: string) =>
  text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'YYYY-MM-DDTHH:MM:SSZ')
    .replace(/\bops@\S+/g, 'ops@host')
    .replace(/\b\d+(\.\d+)? ms\b/g, 'N ms')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, 'UUID')
    .replace(/"out":"[^"]*\//g, '"out":"DIR/')
    .replace(/ {2,}/g, '  ')
    .replace(/ +$/gm, '');

/** Commands whose output follows work the workers finish a moment later: retried until it shows. */
const EVENTUAL = ['models compare', 'models drift'];

/** Thirty rows like the training data of iris, the same every run: the walkthrough's train.csv. */
function trainingCsv(): string {
  const rows = Array.from({ length: 30 }, (_, i) => {
    const t = (i % 10) / 10;
    return [4.6 + 2.2 * t, 2.4 + (1.4 * ((i * 7) % 10)) / 10, 1.2 + 5 * t, 0.2 + 2.1 * t];
  });
  const lines = rows.map((r) => r.map((v) => v.toFixed(1)).join(','));
  return ['sepal_length,sepal_width,petal_length,petal_width', ...lines].join('\n') + '\n';
}

describe('docs/lifecycle.md, run against a real Redis and worker', () => {
  const prefix = uniquePrefix();
  let dir: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let admin: ModelAdmin;

  beforeAll(async () => {
    // The walkthrough's working directory: the legacy iris 1 in ./models, the new file beside it.
    dir = await mkdtemp(join(tmpdir(), 'conveyor-lifecycle-doc-'));
    await cp(join(MODELS, 'iris', '1'), join(dir, 'models', 'iris', '1'), { recursive: true });
    await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(dir, 'iris-v2.onnx'));
    // The retraining loop's candidate (the same classifier, retrained) and training data.
    await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(dir, 'iris-v3.onnx'));
    await writeFile(join(dir, 'train.csv'), trainingCsv());
    // `conveyor` runs through tsx, which node resolves from the working directory.
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODEL_REPOSITORY: join(dir, 'models'),
      PREDICTION_LOG_SAMPLE: '1',
      DRIFT_SAMPLE: '1',
      DRIFT_FLUSH_MS: '100',
    });
    admin = await createModelAdmin({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await admin?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(dir, { recursive: true, force: true });
  });

  it('prints what the walkthrough shows, command by command', async () => {
    const steps = consoleSteps(await readFile(join(ROOT, 'docs', 'lifecycle.md'), 'utf8'));
    expect(steps.map((s) => s.command.slice(0, 3).join(' '))).toContain('conveyor models publish');
    for (const { command, expected } of steps) {
      expect(command[0]).toBe('conveyor');
      const line = command.join(' ');
      const run = () =>
        runCli(command.slice(1), {
          cwd: dir,
          env: {
            USER: 'ops',
            MODEL_REPOSITORY: 'models',
            REDIS_URL: redisUrl,
            REDIS_KEY_PREFIX: prefix,
          },
        });
      const seen = async () => {
        const done = await run();
        return { command: line, code: done.code, stdout: stable(done.stdout) };
      };
      const want = { command: line, code: 0, stdout: stable(expected) };
      if (EVENTUAL.some((words) => line.includes(words)))
        await expect.poll(seen, { timeout: 20_000, interval: 300 }).toEqual(want);
      else expect(await seen()).toEqual(want);
      // A worker loads a version again once its model.json changed: the next jobs count for drift.
      if (command[1] === 'baseline')
        await expect
          .poll(() => worker.engine.resolve('iris', '1').entry.config.baseline !== undefined, {
            timeout: 30_000,
            interval: 100,
          })
          .toBe(true);
      // The next command shows the published version as a worker serves it: wait for that.
      if (command[2] === 'publish') {
        await expect
          .poll(
            async () => {
              const { versions } = await admin.status('iris');
              return versions.length > 1 && versions.every((v) => v.state === 'ready');
            },
            { timeout: 30_000, interval: 200 },
          )
          .toBe(true);
        const { versions } = await admin.status('iris');
        expect(versions.at(-1)?.version).toBe(/iris@(\d+)/.exec(expected)?.[1]);
      }
    }
  }, 180_000);
});
