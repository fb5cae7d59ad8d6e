import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createShadowGate } from './shadow-gate.js';

const live = { data: { model: 'iris' } } as Job;
const copy = { data: { model: 'iris', shadowOf: 'iris:1:a' } } as Job;

/** Work that records its start and end in `log` and ends when `release` is called. */
function held(log: string[], name: string) {
  let release = () => {};
  const done = new Promise<void>((resolve) => (release = resolve));
  const work = async () => {
    log.push(`${name} start`);
    await done;
    log.push(`${name} end`);
    return name;
  };
  return { work, release: () => release() };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('shadow gate', () => {
  it('runs a live job at once and a copy only once no live job runs', async () => {
    const gate = createShadowGate(1, 10_000);
    const log: string[] = [];
    const a = held(log, 'live');
    const b = held(log, 'copy');
    const liveRun = gate.run(live, a.work);
    const copyRun = gate.run(copy, b.work);
    await tick(20);
    expect(log).toEqual(['live start']);
    a.release();
    await expect(liveRun).resolves.toBe('live');
    await tick(20);
    expect(log).toEqual(['live start', 'live end', 'copy start']);
    b.release();
    await expect(copyRun).resolves.toBe('copy');
  });

  it('runs quiet-time work in the line of copies, after live jobs', async () => {
    const gate = createShadowGate(1, 10_000);
    const log: string[] = [];
    const a = held(log, 'live');
    const b = held(log, 'copy');
    const c = held(log, 'meeting');
    const runs = [gate.run(live, a.work), gate.run(copy, b.work), gate.whenQuiet(c.work)];
    await tick(20);
    expect(log).toEqual(['live start']);
    a.release();
    await tick(20);
    expect(log).toEqual(['live start', 'live end', 'copy start']);
    b.release();
    await tick(20);
    expect(log.slice(-2)).toEqual(['copy end', 'meeting start']);
    c.release();
    await expect(Promise.all(runs)).resolves.toEqual(['live', 'copy', 'meeting']);
  });

  it('runs copies one at a time', async () => {
    const gate = createShadowGate(1, 10_000);
    const log: string[] = [];
    const first = held(log, 'first');
    const second = held(log, 'second');
    const runs = [gate.run(copy, first.work), gate.run(copy, second.work)];
    await tick(20);
    expect(log).toEqual(['first start']);
    first.release();
    await tick(20);
    expect(log).toEqual(['first start', 'first end', 'second start']);
    second.release();
    await expect(Promise.all(runs)).resolves.toEqual(['first', 'second']);
  });

  it('lets a copy run after waiting maxWaitMs while live jobs keep running', async () => {
    const gate = createShadowGate(1, 30);
    const log: string[] = [];
    const a = held(log, 'live');
    const b = held(log, 'copy');
    const liveRun = gate.run(live, a.work);
    const copyRun = gate.run(copy, b.work);
    await tick(10);
    expect(log).toEqual(['live start']);
    await tick(60);
    expect(log).toEqual(['live start', 'copy start']);
    b.release();
    a.release();
    await Promise.all([liveRun, copyRun]);
  });

  it('passes a failure of the work through and frees the turn', async () => {
    const gate = createShadowGate(1, 10_000);
    await expect(gate.run(copy, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(gate.run(copy, () => Promise.resolve('next'))).resolves.toBe('next');
  });
});
