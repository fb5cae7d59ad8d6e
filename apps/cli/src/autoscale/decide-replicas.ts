import type { BacklogSignal } from './backlog-signal.js';

/** The bounds and pace of the autoscaler. */
export interface ScalingPolicy {
  /** Fewest replicas. */
  readonly min: number;
  /** Most replicas (at least 1, at least `min`). */
  readonly max: number;
  /** Seconds of work waiting per live worker above which replicas are added. */
  readonly targetBacklogSeconds: number;
  /** How long every decision must have wanted fewer replicas before one is removed, ms. */
  readonly cooldownMs: number;
  /** Most replicas added by one decision. */
  readonly stepUp: number;
  /** Most replicas removed by one decision. */
  readonly stepDown: number;
}

/** What the decisions remember: the replicas each one wanted over the last cool-down. */
export interface DecisionState {
  /** When the first decision was made, epoch ms; nothing is removed within a cool-down of it. */
  readonly since: number | undefined;
  /** What each decision of the last cool-down wanted, oldest first. */
  readonly wanted: readonly { readonly at: number; readonly replicas: number }[];
}

/** Why a decision came out as it did; stable words, printed and in the JSON lines. */
export type DecisionReason =
  | 'below-min'
  | 'above-max'
  | 'no-worker'
  | 'backlog-above-target'
  | 'starting'
  | 'unknown-service-time'
  | 'cooling-down'
  | 'backlog-below-target'
  | 'steady';

export interface Decision {
  /** The replicas to run. */
  readonly target: number;
  readonly action: 'up' | 'down' | 'hold';
  readonly reason: DecisionReason;
  /** The replicas the signal alone asks for, within the bounds. */
  readonly wanted: number;
  /** The state to pass to the next decision. */
  readonly state: DecisionState;
}

/** The state before the first decision. */
export const INITIAL_DECISION_STATE: DecisionState = Object.freeze({
  since: undefined,
  wanted: Object.freeze([]),
});

/**
 * The replicas the signal asks for, before bounds: enough that the work waiting drains within the
 * target (HPA's ceil(work / target)); one at least while jobs wait for no live worker; as many as
 * now while the workers' service time is not known.
 */
function wantedBy(current: number, signal: BacklogSignal, policy: ScalingPolicy): number {
  if (signal.kind === 'no-worker') return Math.max(current, 1);
  if (signal.kind === 'unknown') return current;
  // The epsilon keeps 30 s of work at a 10 s target at 3, not 4, despite floating point.
  return Math.ceil(signal.workSeconds / policy.targetBacklogSeconds - 1e-9);
}

/**
 * The next replica count. Replicas are added at once (at most `stepUp`) while the backlog is above
 * the target, and removed (at most `stepDown`) only when every decision of the last cool-down
 * wanted fewer, none is above the target and the service time is known: a backlog that swings
 * does not make replicas flap. The bounds always win. Pure: the clock is `now`.
 */
export function decideReplicas(
  input: { current: number; signal: BacklogSignal; now: number },
  policy: ScalingPolicy,
  state: DecisionState,
): Decision {
  const { current, signal, now } = input;
  const clamp = (n: number) => Math.min(policy.max, Math.max(policy.min, n));
  const wanted = clamp(wantedBy(current, signal, policy));
  const next: DecisionState = {
    since: state.since ?? now,
    wanted: [
      ...state.wanted.filter((w) => w.at > now - policy.cooldownMs && w.at <= now),
      { at: now, replicas: wanted },
    ],
  };
  const decide = (target: number, reason: DecisionReason): Decision => ({
    target,
    action: target > current ? 'up' : target < current ? 'down' : 'hold',
    reason,
    wanted,
    state: next,
  });

  if (current < policy.min) return decide(policy.min, 'below-min');
  if (current > policy.max) return decide(policy.max, 'above-max');
  if (signal.kind === 'unknown') return decide(current, 'unknown-service-time');
  if (signal.kind === 'no-worker')
    return current === 0 ? decide(wanted, 'no-worker') : decide(current, 'starting');
  if (signal.backlogSeconds > policy.targetBacklogSeconds)
    return wanted > current
      ? decide(Math.min(wanted, current + policy.stepUp), 'backlog-above-target')
      : decide(current, 'starting');
  if (wanted >= current) return decide(current, 'steady');
  const peak = Math.max(...next.wanted.map((w) => w.replicas));
  if (now - (state.since ?? now) < policy.cooldownMs || peak >= current)
    return decide(current, 'cooling-down');
  return decide(Math.max(peak, current - policy.stepDown), 'backlog-below-target');
}
