/**
 * @file The spans of one job on a worker: `job` (a consumer span continuing the trace context the
 * job carries, from the moment it was added) and its steps `queue wait`, `batch`, `inference` and
 * `result`. Built only when the worker was given a tracer (TRACING=otlp).
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';
import type { Job } from 'bullmq';
import { readJobTraceMetadata, type ConveyorError } from '@conveyor/shared';

/** The `job` span of one attempt and how its steps are recorded. */
export interface JobTrace {
  /** The job's trace id, for its log records. */
  readonly traceId: string;
  /**
   * Records a finished step as a child span of `job`, from `start` to `end` (epoch ms, or
   * `performance.now()` values, which OpenTelemetry tells apart).
   */
  step(name: string, start: TimeInput, end: TimeInput, attributes?: Attributes): void;
  /** Sets attributes of the `job` span. */
  set(attributes: Attributes): void;
  /** Ends `job`, as failed with the error's code when given one. */
  end(error?: ConveyorError): void;
}

/**
 * Starts the `job` span of an attempt taken at `takenAt` (epoch ms): a child of the context the
 * job carries (BullMQ's `opts.telemetry.metadata`, written by the SDK), or a new trace when it
 * carries none. Its `queue wait` step runs from the job's timestamp to `takenAt`.
 */
export function startJobTrace(
  tracer: Tracer,
  job: Job,
  model: string,
  version: string,
  takenAt: number,
): JobTrace {
  const carried = readJobTraceMetadata(job.opts.telemetry?.metadata);
  const parent = carried
    ? trace.setSpanContext(ROOT_CONTEXT, { ...carried.parent, isRemote: true })
    : ROOT_CONTEXT;
  const jobId = String(job.id);
  const queuedAt = Math.min(job.timestamp, takenAt);
  const span: Span = tracer.startSpan(
    'job',
    {
      kind: SpanKind.CONSUMER,
      startTime: queuedAt,
      attributes: {
        'conveyor.model': model,
        'conveyor.model.version': version,
        'conveyor.job.id': jobId,
        'conveyor.job.attempt': job.attemptsMade + 1,
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': job.queueName,
        'messaging.message.id': jobId,
      },
    },
    parent,
  );
  const inJob = trace.setSpan(parent, span);
  const step: JobTrace['step'] = (name, start, end, attributes) => {
    tracer.startSpan(name, { startTime: start, ...(attributes && { attributes }) }, inJob).end(end);
  };
  step('queue wait', queuedAt, takenAt);
  return {
    traceId: span.spanContext().traceId,
    step,
    set: (attributes) => span.setAttributes(attributes),
    end(error) {
      if (error) {
        span.setAttribute('conveyor.error.code', error.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
        span.recordException({ name: error.code, message: error.message });
      }
      span.end();
    },
  };
}
