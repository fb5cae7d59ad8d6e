/**
 * @file W3C Trace Context (https://www.w3.org/TR/trace-context/) as a job carries it: read and
 * written without OpenTelemetry, so the SDK and the worker agree on it whether tracing is on or
 * not.
 */

/** The fields of a `traceparent` header. */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the caller's span. */
  readonly spanId: string;
  /** Trace flags; bit 0 is `sampled`. */
  readonly traceFlags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** A traceparent longer than this is refused unread (version 00 is 55 characters). */
const MAX_TRACEPARENT = 512;
const MAX_TRACESTATE = 512;

/**
 * Reads a `traceparent` value as the W3C recommendation does: undefined for anything invalid
 * (version ff, an all-zero id, version 00 with extra fields), which the caller then ignores.
 */
export function parseTraceparent(text: string): TraceParent | undefined {
  if (text.length > MAX_TRACEPARENT) return undefined;
  const match = TRACEPARENT.exec(text.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) };
}

/** A `traceparent` value (version 00) for a span. */
export function formatTraceparent(parent: TraceParent): string {
  const flags = (parent.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${parent.traceId}-${parent.spanId}-${flags}`;
}

/** A job's trace context: the span it continues, and the caller's `tracestate` when it had one. */
export interface JobTraceContext {
  readonly parent: TraceParent;
  readonly tracestate?: string;
}

/**
 * The text a job carries its trace context in: BullMQ's `opts.telemetry.metadata`, as bullmq-otel
 * writes it (the JSON of a W3C propagation carrier), so a BullMQ consumer traced with bullmq-otel
 * joins the same trace.
 */
export function jobTraceMetadata(parent: TraceParent, tracestate?: string): string {
  const carrier: Record<string, string> = { traceparent: formatTraceparent(parent) };
  if (tracestate) carrier.tracestate = tracestate;
  return JSON.stringify(carrier);
}

/**
 * Reads a job's trace context back from its metadata, never trusting Redis: undefined for
 * anything but a carrier with a valid `traceparent`.
 */
export function readJobTraceMetadata(metadata: unknown): JobTraceContext | undefined {
  if (typeof metadata !== 'string' || metadata.length > MAX_TRACEPARENT + MAX_TRACESTATE + 64)
    return undefined;
  let carrier: unknown;
  try {
    carrier = JSON.parse(metadata);
  } catch {
    return undefined;
  }
  if (typeof carrier !== 'object' || carrier === null) return undefined;
  const { traceparent, tracestate } = carrier as Record<string, unknown>;
  const parent = typeof traceparent === 'string' ? parseTraceparent(traceparent) : undefined;
  if (!parent) return undefined;
  return typeof tracestate === 'string' && tracestate.length <= MAX_TRACESTATE
    ? { parent, tracestate }
    : { parent };
}
