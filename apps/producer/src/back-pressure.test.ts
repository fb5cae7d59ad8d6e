import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConveyorError } from '@conveyor/shared';
import { createBackPressure, type BackPressureOptions } from './back-pressure.js';

/** Back-pressure over a queue whose depth the test sets; timers and clock are vitest's fakes. */
function harness(options: Partial<BackPressureOptions> = {}) {
  const state = { depth: 0, reads: 0, fail: false };
  const backPressure = createBackPressure({
    depth: () => {
      state.reads += 1;
      return state.fail ? Promise.reject(new Error('down')) : Promise.resolve(state.depth);
    },
    limit: 3,
    refreshMs: 200,
    ...options,
  });
  return { state, backPressure };
}

const refusal = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (!(error instanceof ConveyorError)) throw error;
    return { code: error.code, details: error.details };
  }
};

describe('createBackPressure', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('accepts work while the queue has room and refuses with ERR_QUEUE_FULL at the limit', async () => {
    const { state, backPressure } = harness();
    state.depth = 2;
    await expect(backPressure.check('iris')).resolves.toBeUndefined();
    expect(await refusal(backPressure.check('iris'))).toMatchObject({
      code: 'ERR_QUEUE_FULL',
      details: { model: 'iris', depth: 3, limit: 3, retryAfterS: 1 },
    });
    backPressure.close();
  });

  it('waits for one read per model at first, then answers from the reading without a read per check', async () => {
    const { state, backPressure } = harness();
    await Promise.all([backPressure.check('iris'), backPressure.check('iris')]);
    await backPressure.check('echo');
    expect(state.reads).toBe(2);
    // The jobs it accepted are counted until a read sees them.
    expect((await refusal(backPressure.check('iris', 2)))?.code).toBe('ERR_QUEUE_FULL');
    await backPressure.check('iris');
    expect(state.reads).toBe(2);
    backPressure.close();
  });

  it('checkNow answers at once from a fresh reading, and says false where check must read', async () => {
    const { state, backPressure } = harness();
    state.depth = 1;
    // No reading yet: nothing is counted and no read starts here.
    expect(backPressure.checkNow('iris')).toBe(false);
    expect(state.reads).toBe(0);
    await backPressure.check('iris');
    expect(backPressure.checkNow('iris')).toBe(true);
    // 1 queued + 2 counted here: one more does not fit, and the refusal is thrown at once.
    expect(await refusal(Promise.resolve().then(() => backPressure.checkNow('iris')))).toEqual({
      code: 'ERR_QUEUE_FULL',
      details: { model: 'iris', depth: 3, limit: 3, jobs: 1, retryAfterS: 1 },
    });
    expect(() => backPressure.checkNow('iris')).toThrow(ConveyorError);
    expect(state.reads).toBe(1);
    // A reading older than maxAgeMs (its refreshes failing) is stale: check must read again.
    state.fail = true;
    await vi.advanceTimersByTimeAsync(2000);
    expect(backPressure.checkNow('iris')).toBe(false);
    backPressure.close();
  });

  it('refreshes the depth in the background, so a queue filled by others is refused within one refresh', async () => {
    const { state, backPressure } = harness();
    await backPressure.check('iris');
    expect(state.reads).toBe(1);
    // Another producer fills the queue: this one does not know yet, and accepts.
    state.depth = 3;
    await backPressure.check('iris');
    await vi.advanceTimersByTimeAsync(200);
    expect(state.reads).toBe(2);
    expect((await refusal(backPressure.check('iris')))?.code).toBe('ERR_QUEUE_FULL');
    // Workers drain it: served again after the next refresh, with no read on the request's path.
    state.depth = 0;
    await vi.advanceTimersByTimeAsync(200);
    const reads = state.reads;
    await backPressure.check('iris', 3);
    expect(state.reads).toBe(reads);
    backPressure.close();
  });

  it('stops refreshing a model nobody checks, and reads it again on its next check', async () => {
    const { state, backPressure } = harness({ idleMs: 1000 });
    await backPressure.check('iris');
    await vi.advanceTimersByTimeAsync(5000);
    const reads = state.reads;
    expect(reads).toBeLessThanOrEqual(6);
    await vi.advanceTimersByTimeAsync(5000);
    expect(state.reads).toBe(reads);
    await backPressure.check('iris');
    expect(state.reads).toBe(reads + 1);
    backPressure.close();
  });

  it('uses a per-model limit over the default one', async () => {
    const { backPressure } = harness({ limits: { iris: 1 } });
    await backPressure.check('iris');
    expect((await refusal(backPressure.check('iris')))?.code).toBe('ERR_QUEUE_FULL');
    await backPressure.check('echo', 3);
    backPressure.close();
  });

  it('refuses a batch that does not fit as a whole', async () => {
    const { backPressure } = harness();
    expect((await refusal(backPressure.check('iris', 4)))?.code).toBe('ERR_QUEUE_FULL');
    await backPressure.check('iris', 3);
    backPressure.close();
  });

  it('does not reuse a failed read: the next check waits for a new one', async () => {
    const { state, backPressure } = harness();
    state.fail = true;
    await expect(backPressure.check('iris')).rejects.toThrow('down');
    state.fail = false;
    await backPressure.check('iris');
    expect(state.reads).toBe(2);
    // A background refresh that fails drops the reading too.
    state.fail = true;
    await vi.advanceTimersByTimeAsync(200);
    await expect(backPressure.check('iris')).rejects.toThrow('down');
    backPressure.close();
  });
});
