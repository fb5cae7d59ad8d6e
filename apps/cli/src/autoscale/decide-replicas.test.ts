import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BacklogSignal } from './backlog-signal.js';
import {
  INITIAL_DECISION_STATE,
  decideReplicas,
  type DecisionState,
  type ScalingPolicy,
} from './decide-replicas.js';

const POLICY: ScalingPolicy = {
  min: 0,
  max: 4,
  targetBacklogSeconds: 10,
  cooldownMs: 60_000,
  stepUp: 2,
  stepDown: 1,
};

const measured = (backlogSeconds: number, workers = 1): BacklogSignal => ({
  kind: 'measured',
  backlogSeconds,
  workSeconds: backlogSeconds * workers,
  waiting: backlogSeconds > 0 ? 1 : 0,
});
const idle = measured(0);

/** Runs decisions one interval apart from `start`, each on the replicas the one before chose. */
function run(
  signals: readonly BacklogSignal[],
  options: { current?: number; policy?: ScalingPolicy; stepMs?: number } = {},
) {
  const policy = options.policy ?? POLICY;
  let current = options.current ?? 0;
  let state: DecisionState = INITIAL_DECISION_STATE;
  const targets: number[] = [];
  signals.forEach((signal, i) => {
    const decision = decideReplicas(
      { current, signal, now: 1_000_000 + i * (options.stepMs ?? 5000) },
      policy,
      state,
    );
    state = decision.state;
    current = decision.target;
    targets.push(current);
  });
  return targets;
}

describe('decideReplicas', () => {
  it('starts one replica from zero when jobs wait for no live worker', () => {
    const decision = decideReplicas(
      { current: 0, signal: { kind: 'no-worker', waiting: 3 }, now: 0 },
      POLICY,
      INITIAL_DECISION_STATE,
    );
    expect(decision).toMatchObject({ target: 1, action: 'up', reason: 'no-worker' });
  });

  it('waits for the replicas it started while no worker is live yet', () => {
    const decision = decideReplicas(
      { current: 1, signal: { kind: 'no-worker', waiting: 3 }, now: 0 },
      POLICY,
      INITIAL_DECISION_STATE,
    );
    expect(decision).toMatchObject({ target: 1, action: 'hold', reason: 'starting' });
  });

  it('adds enough replicas for the work to drain within the target, at most stepUp at once', () => {
    // 35 s of work with one worker at a 10 s target wants 4 replicas: 1 + 2 now.
    expect(run([measured(35)], { current: 1 })).toEqual([3]);
    expect(run([measured(35)], { current: 3 })).toEqual([4]);
  });

  it('does not add more while the replicas it added are still starting', () => {
    // Two of three replicas are not live yet: the work per live worker is high, the work is not.
    const signal: BacklogSignal = {
      kind: 'measured',
      backlogSeconds: 25,
      workSeconds: 25,
      waiting: 9,
    };
    const decision = decideReplicas({ current: 3, signal, now: 0 }, POLICY, INITIAL_DECISION_STATE);
    expect(decision).toMatchObject({ target: 3, reason: 'starting' });
  });

  it('keeps 30 s of work at a 10 s target at 3 replicas, not 4', () => {
    expect(run([measured(10, 3)], { current: 3 })).toEqual([3]);
  });

  it('removes a replica only after the backlog stayed low for the cool-down, then one per decision', () => {
    // 12 decisions 5 s apart make the 60 s cool-down; the 13th may remove one.
    const targets = run(Array<BacklogSignal>(15).fill(idle), { current: 3 });
    expect(targets.slice(0, 12)).toEqual(Array(12).fill(3));
    expect(targets.slice(12)).toEqual([2, 1, 0]);
  });

  it('restarts the cool-down when the backlog rises in it', () => {
    const signals = [
      ...Array<BacklogSignal>(8).fill(idle),
      measured(15, 2),
      ...Array<BacklogSignal>(13).fill(idle),
    ];
    const targets = run(signals, { current: 2 });
    // The rise (30 s of work: 3 replicas wanted, 2 more is within stepUp) adds one at once ...
    expect(targets[8]).toBe(3);
    // ... and nothing is removed until 60 s after it.
    expect(targets.slice(9, 20)).toEqual(Array(11).fill(3));
    expect(targets[20]).toBe(2);
  });

  it('holds while the service time is unknown', () => {
    const targets = run(Array<BacklogSignal>(20).fill({ kind: 'unknown', waiting: 100 }), {
      current: 2,
    });
    expect(targets).toEqual(Array(20).fill(2));
  });

  it('moves into the bounds at once, whatever the signal', () => {
    expect(run([idle], { current: 0, policy: { ...POLICY, min: 2 } })).toEqual([2]);
    expect(run([measured(1000)], { current: 9 })).toEqual([4]);
  });

  it('scales to zero after an idle cool-down when min is 0, and not below min otherwise', () => {
    expect(run(Array<BacklogSignal>(14).fill(idle), { current: 1 }).at(-1)).toBe(0);
    expect(
      run(Array<BacklogSignal>(14).fill(idle), { current: 2, policy: { ...POLICY, min: 1 } }).at(
        -1,
      ),
    ).toBe(1);
  });
});

const signalArb: fc.Arbitrary<BacklogSignal> = fc.oneof(
  fc
    .record({ backlog: fc.double({ min: 0, max: 1e5, noNaN: true }), workers: fc.nat(8) })
    .map(({ backlog, workers }) => ({
      kind: 'measured' as const,
      backlogSeconds: backlog,
      workSeconds: backlog * workers,
      waiting: backlog > 0 ? 1 : 0,
    })),
  fc.constant<BacklogSignal>({ kind: 'no-worker', waiting: 1 }),
  fc.constant<BacklogSignal>({ kind: 'unknown', waiting: 1 }),
);

const policyArb: fc.Arbitrary<ScalingPolicy> = fc
  .record({
    min: fc.nat(5),
    extra: fc.nat(5),
    targetBacklogSeconds: fc.double({ min: 0.001, max: 1000, noNaN: true }),
    cooldownMs: fc.nat(120_000),
    stepUp: fc.integer({ min: 1, max: 5 }),
    stepDown: fc.integer({ min: 1, max: 5 }),
  })
  .map(({ min, extra, ...rest }) => ({ ...rest, min, max: Math.max(1, min + extra) }));

/** A run of decisions: a policy, a first replica count, then signals with the time between them. */
const runArb = fc.record({
  policy: policyArb,
  current: fc.nat(12),
  steps: fc.array(fc.record({ signal: signalArb, gapMs: fc.integer({ min: 0, max: 30_000 }) }), {
    maxLength: 40,
  }),
});

type Run = typeof runArb extends fc.Arbitrary<infer T> ? T : never;

/** Plays a run, calling `check` on each decision with the replicas before it. */
function play(
  { policy, current: first, steps }: Run,
  check: (before: number, signal: BacklogSignal, target: number, now: number) => void,
): void {
  let current = first;
  let state = INITIAL_DECISION_STATE;
  let now = 0;
  for (const { signal, gapMs } of steps) {
    now += gapMs;
    const decision = decideReplicas({ current, signal, now }, policy, state);
    check(current, signal, decision.target, now);
    state = decision.state;
    current = decision.target;
  }
}

describe('decideReplicas, over any run of signals', () => {
  it('always lands within the bounds once inside them, and moves toward them from outside', () => {
    fc.assert(
      fc.property(runArb, (r) =>
        play(r, (before, _signal, target) => {
          if (before >= r.policy.min && before <= r.policy.max) {
            expect(target).toBeGreaterThanOrEqual(r.policy.min);
            expect(target).toBeLessThanOrEqual(r.policy.max);
          } else expect(target).toBe(before < r.policy.min ? r.policy.min : r.policy.max);
        }),
      ),
    );
  });

  it('never removes a replica while the backlog is above the target, unknown or unserved', () => {
    fc.assert(
      fc.property(runArb, (r) =>
        play(r, (before, signal, target) => {
          if (before > r.policy.max) return;
          const high =
            signal.kind !== 'measured' || signal.backlogSeconds > r.policy.targetBacklogSeconds;
          if (high) expect(target).toBeGreaterThanOrEqual(before);
        }),
      ),
    );
  });

  it('changes by at most stepUp or stepDown inside the bounds', () => {
    fc.assert(
      fc.property(runArb, (r) =>
        play(r, (before, _signal, target) => {
          if (before < r.policy.min || before > r.policy.max) return;
          expect(target - before).toBeLessThanOrEqual(r.policy.stepUp);
          expect(before - target).toBeLessThanOrEqual(r.policy.stepDown);
        }),
      ),
    );
  });

  it('never removes a replica within a cool-down of the first decision or of a rise', () => {
    fc.assert(
      fc.property(runArb, (r) => {
        let lastRise = 0;
        play(r, (before, _signal, target, now) => {
          if (before < r.policy.min || before > r.policy.max) return;
          if (target < before) expect(now - lastRise).toBeGreaterThanOrEqual(r.policy.cooldownMs);
          if (target > before) lastRise = now;
        });
      }),
    );
  });
});
