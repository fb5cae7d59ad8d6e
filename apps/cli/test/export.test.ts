import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type Prediction, type QueueClient } from '@conveyor/sdk';
import { feedbackRepository } from '../../../test/support/feedback-repository.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import { runCli, tempDir } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const queue = ['--redis-url', redisUrl, '--prefix', prefix];

/** Flowers, two rows per job: what was predicted, to compare the exports with. */
const JOBS = Array.from({ length: 30 }, (_, j) => [
  [4.5 + (j % 7) * 0.3, 3.0 + (j % 3) * 0.2, 1.2 + (j % 11) * 0.5, 0.2 + (j % 5) * 0.4],
  [6.0 + (j % 4) * 0.2, 2.8, 4.5 + (j % 6) * 0.3, 1.5 + (j % 2) * 0.5],
]);

const f32 = (values: readonly number[]) => [...new Float32Array(values)];

describe('conveyor export and conveyor models accuracy', () => {
  let repository: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: QueueClient;
  const predictions: Prediction[] = [];
  const dir = tempDir();

  beforeAll(async () => {
    repository = await feedbackRepository();
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
    client = await createClient({ redisUrl, prefix });
    for (const rows of JOBS) predictions.push(await client.predict('iris', { features: rows }));
    while ((await client.predictionLogSize('iris')).entries < JOBS.length)
      await new Promise((resolve) => setTimeout(resolve, 10));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(repository, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('exports NDJSON that reads back as what was predicted', async () => {
    const out = join(dir, 'iris.ndjson');
    const run = await runCli(['export', 'iris', '--since', '1h', '--out', out, ...queue]);
    expect(run.code).toBe(0);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            id: string;
            version: string;
            inputs: Record<string, { dtype: string; shape: number[]; data: number[] }>;
            outputs: Record<string, { dtype: string; shape: number[]; data: number[] }>;
          },
      );
    expect(lines.map((l) => l.id)).toEqual(predictions.map((p) => p.jobId));
    lines.forEach((l, j) => {
      expect(l.version).toBe('1');
      expect(l.inputs.features).toEqual({
        dtype: 'float32',
        shape: [2, 4],
        data: f32((JOBS[j] as number[][]).flat()),
      });
      const probabilities = predictions[j]?.outputs.probabilities;
      expect(l.outputs.probabilities).toEqual({
        dtype: 'float32',
        shape: [2, 3],
        data: [...(probabilities?.data as Float32Array)],
      });
    });
    expect(run.stderr).toContain(`${JOBS.length} predictions written`);
  });

  it('exports Arrow IPC whose tensors decode to what was predicted', async () => {
    const out = join(dir, 'iris.arrow');
    const run = await runCli(['export', 'iris', '--out', out, '--quiet', ...queue]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const table = tableFromIPC(readFileSync(out));
    expect(table.numRows).toBe(JOBS.length);
    const rows = table.toArray() as {
      id: string;
      version: string;
      queued_ms: number;
      inputs: {
        toArray(): {
          name: string;
          dtype: string;
          shape: { toArray(): Int32Array };
          data: Uint8Array;
        }[];
      };
      outputs: {
        toArray(): {
          name: string;
          dtype: string;
          shape: { toArray(): Int32Array };
          data: Uint8Array;
        }[];
      };
    }[];
    const floats = (bytes: Uint8Array) => [
      ...new Float32Array(bytes.slice().buffer, 0, bytes.byteLength / 4),
    ];
    rows.forEach((row, j) => {
      expect(row.id).toBe(predictions[j]?.jobId);
      expect(row.version).toBe('1');
      expect(row.queued_ms).toBeGreaterThanOrEqual(0);
      const [input] = row.inputs.toArray();
      expect(input?.name).toBe('features');
      expect([...(input?.shape.toArray() ?? [])]).toEqual([2, 4]);
      expect(floats(input?.data as Uint8Array)).toEqual(f32((JOBS[j] as number[][]).flat()));
      const [output] = row.outputs.toArray();
      expect(output?.dtype).toBe('float32');
      expect(floats(output?.data as Uint8Array)).toEqual([
        ...(predictions[j]?.outputs.probabilities?.data as Float32Array),
      ]);
    });
  });

  it('exports nothing for another version or a window after the last prediction', async () => {
    for (const flags of [
      ['--version', '2'],
      ['--since', '2999-01-01'],
    ]) {
      const out = join(dir, `empty-${flags[0]}.ndjson`);
      const run = await runCli(['export', 'iris', ...flags, '--out', out, '--quiet', ...queue]);
      expect(run.code).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe('');
    }
    const bad = await runCli(['export', 'iris', '--since', 'yesterday', '--out', 'x', ...queue]);
    expect(bad.code).toBe(2);
  });

  it('prints the live accuracy per version and window', async () => {
    const first = predictions[0] as Prediction;
    const top = (r: number) => {
      const p = [...(first.outputs.probabilities?.data as Float32Array)].slice(r * 3, r * 3 + 3);
      return p.indexOf(Math.max(...p));
    };
    // Row 0 right, row 1 wrong.
    await client.feedback(first.jobId, { label: [top(0), (top(1) + 1) % 3] });
    const run = await runCli(['models', 'accuracy', 'iris', '--json', ...queue]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      versions: {
        version: string;
        windows: Record<string, { labelled: number; accuracy: number }>;
      }[];
    };
    expect(report.versions[0]?.windows['5m']).toMatchObject({ labelled: 2, accuracy: 0.5 });
    const text = await runCli(['models', 'accuracy', 'iris', ...queue]);
    expect(text.stdout).toMatch(/^1 +5m +2 +50\.0%/m);
  });
});
