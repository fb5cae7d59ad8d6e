import {
  ConveyorError,
  ERROR_CATALOGUE,
  isErrorCode,
  type ErrorCatalogueEntry,
  type ErrorCode,
  type ErrorIssue,
} from './errors.js';

/** The most bytes of exposed details a failed job or an error body carries, as JSON. */
export const MAX_FAILURE_DETAILS_BYTES = 8192;

/**
 * What separates the message from the exposed details in a failedReason. JSON escapes a line
 * break, so the details' text never holds it; a message that does gets details (`{}`) after it.
 */
export const FAILURE_DETAILS_MARKER = '\n-- details: ';

/** Set in details that were cut to fit MAX_FAILURE_DETAILS_BYTES. */
const TRUNCATED = 'truncated';

/** Where a failure's validation issues travel beside its exposed details. */
const ISSUES = 'issues';

const FAILURE_PATTERN = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/;

/** BullMQ's failedReason for a job whose lock expired more than `maxStalledCount` times. */
const BULLMQ_STALLED_REASON = 'job stalled more than allowable limit';

const encoder = new TextEncoder();
const sizeOf = (value: unknown): number => encoder.encode(JSON.stringify(value)).length;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The details the catalogue lets a code show, plus `truncated` when it is set. */
function pickExposed(code: ErrorCode, details: Readonly<Record<string, unknown>>) {
  const entry: ErrorCatalogueEntry = ERROR_CATALOGUE[code];
  const picked: Record<string, unknown> = {};
  for (const key of [...(entry.expose ?? []), TRUNCATED])
    if (Object.hasOwn(details, key) && details[key] !== undefined) picked[key] = details[key];
  return picked;
}

/** The longest prefix of `list` that keeps `details` (with the prefix under `key`) within max. */
function fitList(details: Record<string, unknown>, key: string, list: unknown[], max: number) {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (sizeOf({ ...details, [key]: list.slice(0, mid) }) <= max) low = mid;
    else high = mid - 1;
  }
  return list.slice(0, low);
}

/**
 * Details cut to at most `max` bytes of JSON, marked `truncated: true` when cut: the largest value
 * goes first, a list by its last items, anything else whole. Details JSON cannot write are dropped.
 */
export function boundDetails(
  details: Readonly<Record<string, unknown>>,
  max = MAX_FAILURE_DETAILS_BYTES,
): Record<string, unknown> {
  let bounded: Record<string, unknown>;
  try {
    bounded = JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  } catch {
    return {};
  }
  if (sizeOf(bounded) <= max) return bounded;
  bounded[TRUNCATED] = true;
  while (sizeOf(bounded) > max) {
    const keys = Object.keys(bounded).filter((key) => key !== TRUNCATED);
    if (keys.length === 0) return {};
    const largest = keys.reduce((a, b) => (sizeOf(bounded[a]) >= sizeOf(bounded[b]) ? a : b));
    const value = bounded[largest];
    if (Array.isArray(value) && value.length > 0) {
      bounded[largest] = fitList(bounded, largest, value, max);
      if (sizeOf(bounded) <= max) break;
    }
    delete bounded[largest];
  }
  return bounded;
}

/**
 * The details of an error a caller may see: the keys its code's catalogue entry exposes, cut to
 * MAX_FAILURE_DETAILS_BYTES. Empty for codes that expose none: their details stay in the log.
 */
export function exposedDetails(error: ConveyorError): Record<string, unknown> {
  return boundDetails(pickExposed(error.code, error.details));
}

/**
 * The text a failed job carries in BullMQ's `failedReason`: `CODE: message`, then the exposed
 * details as JSON after FAILURE_DETAILS_MARKER when there are any. BullMQ keeps only an error's
 * message, so the code travels as its prefix; people reading the dashboard see it too.
 */
export function formatFailure(error: ConveyorError): string {
  const head = `${error.code}: ${error.message}`;
  // Validation issues are `{ path, message }` pairs our own schemas wrote: safe to show, always.
  const details =
    error.issues.length > 0
      ? boundDetails({ ...pickExposed(error.code, error.details), [ISSUES]: error.issues })
      : exposedDetails(error);
  const some = Object.keys(details).length > 0;
  if (!some && !error.message.includes(FAILURE_DETAILS_MARKER)) return head;
  return `${head}${FAILURE_DETAILS_MARKER}${JSON.stringify(details)}`;
}

/** The `{ path, message }` pairs of a parsed failure's issues; others are dropped. */
function issuesOf(value: unknown): ErrorIssue[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((issue: unknown) =>
    isPlainObject(issue) && typeof issue.path === 'string' && typeof issue.message === 'string'
      ? [{ path: issue.path, message: issue.message }]
      : [],
  );
}

/**
 * Splits a formatted message into the message, its exposed details and its validation issues
 * (none in old reasons).
 */
function splitDetails(
  code: ErrorCode,
  text: string,
): [string, Record<string, unknown>, ErrorIssue[]] {
  const at = text.lastIndexOf(FAILURE_DETAILS_MARKER);
  if (at < 0) return [text, {}, []];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(at + FAILURE_DETAILS_MARKER.length));
  } catch {
    return [text, {}, []];
  }
  if (!isPlainObject(parsed)) return [text, {}, []];
  return [text.slice(0, at), pickExposed(code, parsed), issuesOf(parsed[ISSUES])];
}

/**
 * Reads a `failedReason` written by formatFailure, with its exposed details under `details` (the
 * given ones win) and its validation issues under `issues`. BullMQ's own reason for a job whose
 * worker kept dying becomes ERR_JOB_STALLED; any other reason from elsewhere becomes
 * ERR_JOB_FAILED.
 */
export function parseFailure(reason: string, details: Record<string, unknown> = {}): ConveyorError {
  const match = FAILURE_PATTERN.exec(reason);
  if (match && isErrorCode(match[1])) {
    const [message, exposed, issues] = splitDetails(match[1], match[2] ?? '');
    return new ConveyorError(match[1], message, { details: { ...exposed, ...details }, issues });
  }
  if (reason === BULLMQ_STALLED_REASON) {
    return new ConveyorError(
      'ERR_JOB_STALLED',
      `${reason}: the worker running it stopped before finishing it, more than once`,
      { details },
    );
  }
  return new ConveyorError('ERR_JOB_FAILED', reason, { details });
}
