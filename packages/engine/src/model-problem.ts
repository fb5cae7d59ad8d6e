import { ConveyorError, type ErrorCode, type ErrorIssue } from '@conveyor/shared';

/**
 * A model version that cannot be served, and why. `error.issues` lists every problem found in the
 * version (each message says how to fix it), and `error.message` joins them.
 */
export interface ModelProblem {
  readonly name: string;
  readonly version?: string;
  readonly path: string;
  readonly error: ConveyorError;
}

/** One problem of a model version, with the code of its kind. */
export interface ModelIssue extends ErrorIssue {
  readonly code: ErrorCode;
}

// When one version has problems of several kinds, its error takes the code listed first.
const PRECEDENCE: readonly ErrorCode[] = [
  'ERR_MODEL_UNSAFE',
  'ERR_MODEL_CONFIG_INVALID',
  'ERR_MODEL_UNAVAILABLE',
];

/** One error for every issue of a version: the most serious code, and every message joined. */
export function issuesError(where: string, issues: readonly ModelIssue[]): ConveyorError {
  const codes = new Set(issues.map((i) => i.code));
  const code = PRECEDENCE.find((c) => codes.has(c)) ?? issues[0]?.code ?? 'ERR_MODEL_UNAVAILABLE';
  const count = issues.length === 1 ? '' : `${issues.length} problems: `;
  return new ConveyorError(
    code,
    `${where}: ${count}${issues.map((i, n) => `${issues.length > 1 ? `(${n + 1}) ` : ''}${i.message}`).join('; ')}`,
    {
      issues: issues.map(({ path, message }) => ({ path, message })),
      details: { path: where },
    },
  );
}

/** The issues of an error: its own list when it has one (keeping its code), else its message. */
export function issuesOf(error: ConveyorError, path: string): ModelIssue[] {
  if (error.issues.length === 0) return [{ code: error.code, path, message: error.message }];
  return error.issues.map((i) => ({ code: error.code, path: i.path, message: i.message }));
}
