import { setTimeout as sleep } from 'node:timers/promises';
import { toConveyorError, type ConveyorStatus } from '@conveyor/shared';
import { backlogSignal, type BacklogSignal } from './backlog-signal.js';
import {
  INITIAL_DECISION_STATE,
  decideReplicas,
  type Decision,
  type DecisionReason,
  type DecisionState,
  type ScalingPolicy,
} from './decide-replicas.js';
import type { Scaler } from './scaler.js';

/** One decision as printed: a line of text, or a JSON line with --json. */
export interface DecisionRecord {
  /** ISO time of the decision. */
  readonly at: string;
  readonly models: readonly string[];
  /** The signal's kind; `error` when the status or the replicas could not be read. */
  readonly signal: BacklogSignal['kind'] | 'error';
  /** Highest backlog in seconds of work; null when infinite (no live worker) or unknown. */
  readonly backlogSeconds: number | null;
  /** Seconds of work waiting in all the versions; null when not measured. */
  readonly workSeconds: number | null;
  /** Jobs waiting (waiting + prioritized); null when the status could not be read. */
  readonly waiting: number | null;
  /** Replicas before the decision; null when they could not be read. */
  readonly current: number | null;
  readonly target: number | null;
  readonly action: Decision['action'];
  readonly reason: DecisionReason | 'error';
  readonly dryRun: boolean;
  /** What went wrong, with `signal: 'error'` or when the scaler failed to apply the decision. */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface AutoscalerOptions {
  readonly models: readonly string[];
  readonly policy: ScalingPolicy;
  /** Time between decisions, ms. */
  readonly intervalMs: number;
  /** Decide and report, never scale. */
  readonly dryRun: boolean;
  readonly scaler: Scaler;
  /** Reads the status (`client.status()`). */
  status(): Promise<ConveyorStatus>;
  /** Receives every decision. */
  report(record: DecisionRecord): void;
}

const errorOf = (error: unknown) => {
  const known = toConveyorError(error);
  return { code: known.code, message: known.message };
};

/**
 * Decides every `intervalMs` until `stop` aborts, and scales when a decision says so. A status or
 * scaler that fails is reported and the next decision tries again: the replicas stay as they are.
 */
export async function runAutoscaler(options: AutoscalerOptions, stop: AbortSignal): Promise<void> {
  let state = INITIAL_DECISION_STATE;
  while (!stop.aborted) {
    const step = await decideOnce(options, state, stop);
    state = step.state;
    options.report(step.record);
    await pause(options.intervalMs, stop);
  }
}

/** One decision: read the replicas and the status, decide, scale. */
async function decideOnce(
  options: AutoscalerOptions,
  state: DecisionState,
  stop: AbortSignal,
): Promise<{ record: DecisionRecord; state: DecisionState }> {
  const now = Date.now();
  const base = { at: new Date(now).toISOString(), models: options.models, dryRun: options.dryRun };
  let current: number | undefined;
  let signal: BacklogSignal;
  try {
    current = await options.scaler.current();
    signal = backlogSignal(await options.status(), options.models);
  } catch (error) {
    const record: DecisionRecord = {
      ...base,
      signal: 'error',
      backlogSeconds: null,
      workSeconds: null,
      waiting: null,
      current: current ?? null,
      target: current ?? null,
      action: 'hold',
      reason: 'error',
      error: errorOf(error),
    };
    return { record, state };
  }
  const decision = decideReplicas({ current, signal, now }, options.policy, state);
  let failure: DecisionRecord['error'];
  if (!options.dryRun && decision.target !== current && !stop.aborted)
    failure = await options.scaler.scale(decision.target).then(
      () => undefined,
      (error: unknown) => errorOf(error),
    );
  const record: DecisionRecord = {
    ...base,
    signal: signal.kind,
    backlogSeconds: signal.kind === 'measured' ? signal.backlogSeconds : null,
    workSeconds: signal.kind === 'measured' ? signal.workSeconds : null,
    waiting: signal.waiting,
    current,
    target: decision.target,
    action: decision.action,
    reason: decision.reason,
    ...(failure && { error: failure }),
  };
  return { record, state: decision.state };
}

/** Waits `ms`, or less when `stop` aborts. */
async function pause(ms: number, stop: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal: stop }).catch(() => undefined);
}

const secondsText = (s: number) => (s < 10 ? s.toFixed(3) : s.toFixed(1));

/** A decision on one line: time, models, signal, replicas before and after, and why. */
export function decisionLine(record: DecisionRecord): string {
  const signal =
    record.signal === 'measured'
      ? `backlog ${secondsText(record.backlogSeconds ?? 0)}s work ${secondsText(record.workSeconds ?? 0)}s`
      : record.signal === 'no-worker'
        ? 'backlog inf (no live worker)'
        : record.signal === 'unknown'
          ? 'backlog ? (no service time yet)'
          : 'backlog ? (not read)';
  const waiting = record.waiting === null ? '' : ` waiting ${record.waiting}`;
  const replicas = `replicas ${record.current ?? '?'} -> ${record.target ?? '?'}`;
  const error = record.error ? ` ${record.error.code}: ${record.error.message}` : '';
  return `${record.at} ${record.models.join(',')} ${signal}${waiting} ${replicas} ${record.action} (${record.reason})${record.dryRun ? ' [dry run]' : ''}${error}`;
}
