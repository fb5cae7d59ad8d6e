import { describe, expect, it } from 'vitest';
import { ConveyorError } from '@conveyor/shared';
import { createBackPressure, type BackPressureOptions } from './back-pressure.js';

/** Back-pressure over a queue whose depth the test sets, with a clock the test moves. */
function harness(options: Partial<BackPressureOptions> = {}) {
  const state = { depth: 0, reads: 0, now: 1000, fail: false };
  const backPressure = createBackPressure({
    depth: () => {
      state.reads += 1;
      return state.fail ? Promise.reject(new Error('down')) : Promise.resolve(state.depth);
    },
    limit: 3,
    now: () => state.now,
    ...options,
  });
  return { state, backPressure };
}

const refusal = async (promise: Promise<void>) => {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (!(error instanceof ConveyorError)) throw error;
    return { code: error.code, details: error.details };
  }
};

describe('createBackPressure', () => {
  it('accepts work while the queue has room and refuses with ERR_QUEUE_FULL at the limit', async () => {
    const { state, backPressure } = harness();
    state.depth = 2;
    await expect(backPressure.check('iris')).resolves.toBeUndefined();
    expect(await refusal(backPressure.check('iris'))).toMatchObject({
      code: 'ERR_QUEUE_FULL',
      details: { model: 'iris', depth: 3, limit: 3, retryAfterS: 1 },
    });
  });

  it('reads the depth once per model per TTL, counting the jobs it accepted meanwhile', async () => {
    const { state, backPressure } = harness({ ttlMs: 250 });
    await Promise.all([backPressure.check('iris'), backPressure.check('iris')]);
    await backPressure.check('echo');
    expect(state.reads).toBe(2);
    expect((await refusal(backPressure.check('iris', 2)))?.code).toBe('ERR_QUEUE_FULL');
    state.now += 250;
    await backPressure.check('iris', 3);
    expect(state.reads).toBe(3);
  });

  it('uses a per-model limit over the default one', async () => {
    const { backPressure } = harness({ limits: { iris: 1 } });
    await backPressure.check('iris');
    expect((await refusal(backPressure.check('iris')))?.code).toBe('ERR_QUEUE_FULL');
    await backPressure.check('echo', 3);
  });

  it('refuses a batch that does not fit as a whole', async () => {
    const { backPressure } = harness();
    expect((await refusal(backPressure.check('iris', 4)))?.code).toBe('ERR_QUEUE_FULL');
    await backPressure.check('iris', 3);
  });

  it('does not reuse a failed read', async () => {
    const { state, backPressure } = harness();
    state.fail = true;
    await expect(backPressure.check('iris')).rejects.toThrow('down');
    state.fail = false;
    await backPressure.check('iris');
    expect(state.reads).toBe(2);
  });
});
