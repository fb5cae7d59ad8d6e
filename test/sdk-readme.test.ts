import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer } from '../scripts/lib/redis-server.js';
import { MODELS, startInProcessWorker } from './support/workers.js';

const SDK = fileURLToPath(new URL('../packages/sdk/', import.meta.url));
const readme = readFileSync(join(SDK, 'README.md'), 'utf8');

/** Each ```ts block of the README with the heading it sits under; `ts no-run` blocks are left out. */
function examples(markdown: string): { title: string; code: string }[] {
  const found: { title: string; code: string }[] = [];
  let title = '(top)';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) title = line.replace(/^#+\s*/, '');
    const fence = /^```ts(.*)$/.exec(line);
    if (!fence) continue;
    const body: string[] = [];
    for (i += 1; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (!fence[1]!.includes('no-run')) found.push({ title, code: body.join('\n') });
  }
  return found;
}

// The snippets run as modules next to the SDK, so `@conveyor/sdk` resolves as in an application.
// Their free variables come from the test; what they print is recorded (tests must not print)
// and checked against what the README says it is.
const PRELUDE = `const { REDIS_URL, MODELS, logged } = (globalThis as unknown as { readme: { REDIS_URL: string; MODELS: string; logged: unknown[][] } }).readme;
const console = { info: (...values: unknown[]) => void logged.push(values) };
`;

const logs: unknown[][] = [];
const isProbabilities = (value: unknown, count: number) =>
  value instanceof Float32Array &&
  value.length === count &&
  Math.abs(value.reduce((a, b) => a + b, 0) - count / 3) < 1e-4;

/** What each example prints, as its README comments say. */
const PRINTS: Record<string, (lines: unknown[][]) => void> = {
  'Queue client': (lines) => {
    const [jobId, queuedMs, probabilities] = lines[0]!;
    expect(jobId).toMatch(/^iris\.1\./);
    expect(typeof queuedMs).toBe('number');
    expect(isProbabilities(probabilities, 3)).toBe(true);
  },
  'Embedded client': (lines) => expect(lines).toContainEqual([[1, 3]]),
  // Prints nothing: it throws itself when the two clients' answers differ.
  'Moving from embedded to queued': (lines) => expect(lines).toEqual([]),
  'Jobs and handles': (lines) => {
    expect(lines.map((l) => l[1])).toEqual(expect.arrayContaining(['active', 'completed']));
    expect(lines.at(-1)).toEqual(['completed', true]);
  },
  'Many predictions: predictMany': (lines) => {
    expect(lines.length).toBeGreaterThan(0);
    for (const [index, value] of lines) {
      expect(typeof index).toBe('number');
      expect(typeof value === 'string' ? value : isProbabilities(value, 3)).toBeTruthy();
    }
  },
  'Named features': (lines) => expect(lines).toContainEqual([[2, 3]]),
  'Typed models': (lines) => expect(isProbabilities(lines[0]![0], 3)).toBe(true),
  Errors: (lines) =>
    expect(lines).toEqual([
      ['ERR_INPUT_SHAPE', expect.objectContaining({ input: 'features', expected: [-1, 4] })],
    ]),
};

describe('packages/sdk/README.md', () => {
  const dir = join(SDK, 'test', `readme-${randomUUID()}`);
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;

  beforeAll(async () => {
    // A Redis of its own, so the examples can use the default key prefix as an application would.
    server = await startRedisServer();
    worker = await startInProcessWorker(server.url, 'conveyor');
    (globalThis as unknown as { readme: unknown }).readme = {
      REDIS_URL: server.url,
      MODELS,
      logged: logs,
    };
    mkdirSync(dir, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await worker?.close();
    await server?.stop();
  });

  const blocks = examples(readme);

  it('has an example for each part of the SDK', () => {
    expect(blocks.map((b) => b.title)).toEqual([
      'Queue client',
      'Embedded client',
      'Moving from embedded to queued',
      'Jobs and handles',
      'Many predictions: predictMany',
      'Named features',
      'Typed models',
      'Errors',
    ]);
  });

  it.each(blocks.map((b, i) => [b.title, i, b.code] as const))(
    'runs the example of "%s"',
    async (title, index, code) => {
      const file = join(dir, `example-${index}.ts`);
      writeFileSync(file, PRELUDE + code);
      logs.length = 0;
      await expect(import(pathToFileURL(file).href)).resolves.toBeDefined();
      expect(PRINTS[title], `no expected output for "${title}"`).toBeDefined();
      PRINTS[title]!([...logs]);
    },
    60_000,
  );
});
