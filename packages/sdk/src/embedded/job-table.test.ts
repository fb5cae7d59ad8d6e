import { describe, expect, it } from 'vitest';
import {
  ConveyorError,
  PredictOptionsSchema,
  silentLogger,
  type ModelSignature,
} from '@conveyor/shared';
import type { Prediction } from '../client.js';
import type { PreparedJob } from '../request.js';
import { createJobTable, type JobTableOptions } from './job-table.js';

let ids = 0;
function job(options: Record<string, unknown> = {}): PreparedJob {
  ids += 1;
  return {
    jobId: `iris.1.job-${ids}`,
    model: 'iris',
    tensors: {},
    // The table never reads the signature: it hands the job to `run` as it is.
    signature: { name: 'iris', version: '1' } as unknown as ModelSignature,
    outputs: undefined,
    options: PredictOptionsSchema.parse(options),
    deadline: undefined,
  };
}

const prediction = (prepared: PreparedJob): Prediction => ({
  jobId: prepared.jobId,
  model: prepared.model,
  version: '1',
  outputs: {},
  timings: { queuedMs: 0, inferenceMs: 0, runMs: 0 },
});

function table(run: JobTableOptions['run'], overrides: Partial<JobTableOptions> = {}) {
  return createJobTable({
    run,
    concurrency: 1,
    attempts: 3,
    backoffMs: 1,
    keepCompleted: { count: 10, ageSeconds: 3600 },
    keepFailed: { count: 10, ageSeconds: 3600 },
    log: silentLogger(),
    ...overrides,
  });
}

describe('the embedded job table, running a job at once', () => {
  it('keeps a job it ran at once, completed, for reading by id', async () => {
    const jobs = table((p) => Promise.resolve(prediction(p)));
    const prepared = job();
    const result = await jobs.run(prepared, 1000);
    expect(result.jobId).toBe(prepared.jobId);
    expect(jobs.status(prepared.jobId, 'iris')).toMatchObject({
      state: 'completed',
      attemptsMade: 1,
    });
    await expect(jobs.wait(prepared.jobId, 'iris', 1000)).resolves.toEqual(result);
  });

  it('retries a retryable failure of a job it ran at once', async () => {
    let calls = 0;
    const jobs = table((p) => {
      calls += 1;
      if (calls === 1) return Promise.reject(new ConveyorError('ERR_MODEL_UNAVAILABLE', 'busy'));
      return Promise.resolve(prediction(p));
    });
    const prepared = job();
    await jobs.run(prepared, 1000);
    expect(jobs.status(prepared.jobId, 'iris')).toMatchObject({
      state: 'completed',
      attemptsMade: 2,
    });
  });

  it('fails a job it ran at once with the code of a failure that is not retryable', async () => {
    const jobs = table(() => Promise.reject(new ConveyorError('ERR_INFERENCE_FAILED', 'bad')));
    const prepared = job();
    await expect(jobs.run(prepared, 1000)).rejects.toMatchObject({ code: 'ERR_INFERENCE_FAILED' });
    expect(jobs.status(prepared.jobId, 'iris')).toMatchObject({ state: 'failed', attemptsMade: 1 });
  });

  it('queues a job behind the running ones when every slot is taken', async () => {
    let release: () => void = () => undefined;
    const order: string[] = [];
    const jobs = table(async (p) => {
      order.push(p.jobId);
      if (order.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return prediction(p);
    });
    const first = job();
    const second = job();
    const running = jobs.run(first, 1000);
    const queued = jobs.run(second, 1000);
    expect(jobs.status(second.jobId, 'iris').state).toBe('waiting');
    release();
    await Promise.all([running, queued]);
    expect(order).toEqual([first.jobId, second.jobId]);
  });

  it('queues a job with an idempotency key, which a caller can look up while it waits', () => {
    const jobs = table((p) => Promise.resolve(prediction(p)));
    jobs.pause();
    const keyed = job({ idempotencyKey: 'order-1' });
    void jobs.run(keyed, 1000).catch(() => undefined);
    expect(jobs.status(keyed.jobId, 'iris').state).toBe('waiting');
    return jobs.close();
  });

  it('rejects a job running at once with ERR_CLOSED when the table closes', async () => {
    let release: () => void = () => undefined;
    const jobs = table(async (p) => {
      await new Promise<void>((resolve) => (release = resolve));
      return prediction(p);
    });
    const pending = jobs.run(job(), 1000);
    const closing = jobs.close();
    release();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await closing;
  });
});
