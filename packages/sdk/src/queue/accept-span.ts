/**
 * @file The `accept` span of an enqueue, and the trace context its jobs carry to the worker.
 * Only `@opentelemetry/api` is used: with no OpenTelemetry SDK in the application its tracer is a
 * no-op, and an explicit or incoming `traceparent` is still carried to the worker unchanged.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import {
  isConveyorError,
  jobTraceMetadata,
  parseTraceparent,
  queueOfJobId,
  type Logger,
} from '@conveyor/shared';

/** The span of one enqueue call and the metadata its jobs carry. */
export interface AcceptSpan {
  /** Trace context for the jobs (BullMQ's `opts.telemetry.metadata`, as bullmq-otel writes it). */
  readonly metadata: string;
  /** The span's trace id, for log records. */
  readonly traceId: string;
  /** Names the job (or the first of several) the call made. */
  job(jobId: string, version: string, count?: number): void;
  /** Ends the span, as failed when given an error; once only (later calls do nothing). */
  end(error?: unknown): void;
}

/**
 * The context an enqueue joins: its explicit `traceparent`, else the active span (an HTTP request
 * of the producer, an application's own span). Undefined when there is neither: nothing is traced.
 * An invalid `traceparent` is ignored with a debug record, as W3C Trace Context asks.
 */
function parentContext(traceparent: string | undefined, log: Logger): Context | undefined {
  if (traceparent !== undefined) {
    const parent = parseTraceparent(traceparent);
    if (parent) return trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
    log.debug({ traceparent: traceparent.slice(0, 64) }, 'traceparent ignored: not W3C');
  }
  const active = context.active();
  const span = trace.getSpanContext(active);
  return span && trace.isSpanContextValid(span) ? active : undefined;
}

/**
 * Starts the `accept` span of an enqueue of `model` when the call has a trace to join; undefined
 * otherwise, at the cost of one lookup of the active context.
 */
export function startAccept(
  model: string,
  traceparent: string | undefined,
  log: Logger,
): AcceptSpan | undefined {
  const parent = parentContext(traceparent, log);
  if (!parent) return undefined;
  // Looked up per call, not at import: a proxy tracer taken before the application registers its
  // provider stays a no-op when the provider registers through another copy of the API (CJS/ESM).
  const span: Span = trace.getTracer('@conveyor/sdk').startSpan(
    'accept',
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'conveyor.model': model,
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'send',
      },
    },
    parent,
  );
  const spanContext = span.spanContext();
  let ended = false;
  return {
    metadata: jobTraceMetadata(spanContext, spanContext.traceState?.serialize()),
    traceId: spanContext.traceId,
    job(jobId, version, count = 1) {
      span.setAttributes({
        'conveyor.model.version': version,
        'conveyor.job.id': jobId,
        'messaging.message.id': jobId,
        'messaging.destination.name': queueOfJobId(jobId),
        'messaging.batch.message_count': count,
      });
    },
    end(error) {
      if (ended) return;
      ended = true;
      if (error !== undefined) {
        const code = isConveyorError(error) ? error.code : 'ERR_INTERNAL';
        span.setAttribute('conveyor.error.code', code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      }
      span.end();
    },
  };
}

/**
 * Ends `accept` (if any) when `work` settles, and returns `work`; with `keepOpen`, only when it
 * fails (the call goes on).
 */
export async function acceptWhile<T>(
  accept: AcceptSpan | undefined,
  work: Promise<T>,
  keepOpen = false,
): Promise<T> {
  if (!accept) return work;
  try {
    const value = await work;
    if (!keepOpen) accept.end();
    return value;
  } catch (error) {
    accept.end(error);
    throw error;
  }
}
