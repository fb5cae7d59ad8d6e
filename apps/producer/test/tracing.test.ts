import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  createLogger,
  jobTraceMetadata,
  newJobId,
  parseTraceparent,
  queueName,
  type Config,
  queuePrefix,
  queueKey,
} from '@conveyor/shared';
import { startTracing, type Tracing } from '@conveyor/telemetry';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

/**
 * One trace per prediction, across producer, queue and worker: a tracer provider with an
 * in-memory exporter stands in for the OTLP receiver (producer and worker share this process, so
 * they share it too; their spans tell apart by instrumentation scope).
 */
const redisUrl = inject('redisUrl');
const tracedPrefix = uniquePrefix();
const offPrefix = uniquePrefix();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
const ROW = [5.1, 3.5, 1.4, 0.2];
const body = { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: ROW }] };

/** Log records in memory, at debug. */
function recordingLogger() {
  const records: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { records, logger: createLogger({ level: 'debug', component: 'worker', destination }) };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const scopeOf = (span: ReadableSpan) => span.instrumentationScope.name;

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  const worker = recordingLogger();
  let tracing: Tracing;
  let traced: { config: Config; worker: WorkerService; producer: TestProducer; url: string };
  let off: { worker: WorkerService; producer: TestProducer; url: string };

  const spans = () => exporter.getFinishedSpans();
  const ofTrace = (traceId: string) => spans().filter((s) => s.spanContext().traceId === traceId);
  const named = (list: readonly ReadableSpan[], name: string) => {
    const found = list.filter((s) => s.name === name);
    expect(found.map((s) => s.name)).toEqual([name]);
    return found[0]!;
  };
  const infer = (url: string, headers: Record<string, string> = {}) =>
    fetch(`${url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    const config = testConfig(redisUrl, tracedPrefix, { MODELS: 'iris', TRACING: 'otlp' });
    tracing = (await startTracing(config, {
      service: 'conveyor-producer',
      exporter,
      exportEach: true,
    }))!;
    const tracedWorker = await startWorkerService(config, worker.logger, {
      tracer: tracing.tracer('@conveyor/worker'),
    });
    const producer = await startProducer(config);
    traced = {
      config,
      worker: tracedWorker,
      producer,
      url: await producer.app.listen({ host: '127.0.0.1', port: 0 }),
    };
    const offConfig = testConfig(redisUrl, offPrefix, { MODELS: 'iris' });
    const offWorker = await startWorkerService(
      offConfig,
      createLogger({ level: 'silent', component: 'worker' }),
    );
    const offProducer = await startProducer(offConfig);
    off = {
      worker: offWorker,
      producer: offProducer,
      url: await offProducer.app.listen({ host: '127.0.0.1', port: 0 }),
    };
  }, 60_000);

  afterAll(async () => {
    await traced?.producer.close();
    await traced?.worker.close();
    await off?.producer.close();
    await off?.worker.close();
    await tracing?.shutdown();
    await dropPrefix(redisUrl, tracedPrefix);
    await dropPrefix(redisUrl, offPrefix);
  });

  beforeEach(() => exporter.reset());

  it('follows one HTTP prediction through producer and worker in one trace', async () => {
    const response = await infer(traced.url, { traceparent: TRACEPARENT });
    expect(response.status).toBe(200);
    await expect.poll(() => ofTrace(TRACE_ID).some((s) => s.name === 'result')).toBe(true);
    const trace = ofTrace(TRACE_ID);

    // The HTTP server span continues the caller's span; accept is inside it (under its handler).
    const request = named(trace, 'POST /v2/models/:name/infer');
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(parentOf(request)).toBe(CALLER_SPAN);
    const accept = named(trace, 'accept');
    expect(scopeOf(accept)).toBe('@conveyor/sdk');
    expect(accept.kind).toBe(SpanKind.PRODUCER);
    const ancestors: string[] = [];
    for (let at = parentOf(accept); at !== undefined;) {
      ancestors.push(at);
      at = trace.find((s) => idOf(s) === at)?.parentSpanContext?.spanId;
    }
    expect(ancestors).toContain(idOf(request));
    const jobId = accept.attributes['conveyor.job.id'];
    expect(typeof jobId).toBe('string');
    expect(accept.attributes).toMatchObject({
      'conveyor.model': 'iris',
      'conveyor.model.version': '1',
      'messaging.destination.name': queueName('iris', '1'),
    });

    // The worker's job span is the child of accept; its steps are the job span's children.
    const job = named(trace, 'job');
    expect(scopeOf(job)).toBe('@conveyor/worker');
    expect(job.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(job)).toBe(idOf(accept));
    expect(job.attributes).toMatchObject({
      'conveyor.model': 'iris',
      'conveyor.model.version': '1',
      'conveyor.job.id': jobId,
      'conveyor.job.attempt': 1,
    });
    for (const step of ['queue wait', 'batch', 'inference', 'result'])
      expect({ step, parent: parentOf(named(trace, step)) }).toEqual({ step, parent: idOf(job) });
    expect(named(trace, 'inference').attributes['conveyor.batch.rows']).toBeGreaterThanOrEqual(1);

    // The completed job's one debug record carries its job id and trace id.
    const completed = worker.records.filter((r) => r.msg === 'job completed' && r.jobId === jobId);
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ level: 20, traceId: TRACE_ID, model: 'iris' });
  });

  it('starts a new trace for a request whose traceparent is not valid, and answers it', async () => {
    const bad = `00-${'0'.repeat(32)}-${CALLER_SPAN}-01`;
    const response = await infer(traced.url, { traceparent: bad });
    expect(response.status).toBe(200);
    await expect.poll(() => spans().some((s) => s.name === 'result')).toBe(true);
    const request = named(spans(), 'POST /v2/models/:name/infer');
    expect(request.parentSpanContext).toBeUndefined();
    const traceId = request.spanContext().traceId;
    expect(traceId).not.toBe('0'.repeat(32));
    expect(parentOf(named(ofTrace(traceId), 'job'))).toBe(idOf(named(ofTrace(traceId), 'accept')));
  });

  it('joins the SDK caller’s traceparent, and ignores a bad one without failing', async () => {
    const { client } = traced.producer;
    const prediction = await client.predict(
      'iris',
      { features: [ROW] },
      { traceparent: TRACEPARENT },
    );
    expect(prediction.outputs.probabilities?.shape).toEqual([1, 3]);
    await expect.poll(() => ofTrace(TRACE_ID).some((s) => s.name === 'result')).toBe(true);
    const accept = named(ofTrace(TRACE_ID), 'accept');
    expect(parentOf(accept)).toBe(CALLER_SPAN);
    expect(parentOf(named(ofTrace(TRACE_ID), 'job'))).toBe(idOf(accept));

    exporter.reset();
    const again = await client.predict('iris', { features: [ROW] }, { traceparent: 'nonsense' });
    expect(again.outputs.probabilities?.shape).toEqual([1, 3]);
    // No active span and no valid traceparent: the SDK adds nothing; the worker's job is a root.
    await expect.poll(() => spans().some((s) => s.name === 'result')).toBe(true);
    expect(spans().filter((s) => s.name === 'accept')).toEqual([]);
    expect(named(spans(), 'job').parentSpanContext).toBeUndefined();
  });

  it('logs a failed job at warn with its job id, trace id and code', async () => {
    const jobId = newJobId('iris', '1');
    const queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(tracedPrefix, queueName('iris', '1')),
    });
    try {
      // A payload of an unknown format version, carrying a trace context as the SDK writes it.
      const metadata = jobTraceMetadata(parseTraceparent(TRACEPARENT)!);
      await queue.add(
        'predict',
        { v: 99, model: 'iris' },
        { jobId, attempts: 1, telemetry: { metadata } },
      );
      await expect
        .poll(() => worker.records.filter((r) => r.msg === 'job failed' && r.jobId === jobId))
        .toHaveLength(1);
    } finally {
      await queue.close();
    }
    const [failed] = worker.records.filter((r) => r.msg === 'job failed' && r.jobId === jobId);
    expect(failed).toMatchObject({ level: 40, traceId: TRACE_ID, code: 'ERR_PAYLOAD_INVALID' });
    expect(worker.records.some((r) => r.msg === 'job completed' && r.jobId === jobId)).toBe(false);
    await expect.poll(() => ofTrace(TRACE_ID).some((s) => s.name === 'job')).toBe(true);
    const job = named(ofTrace(TRACE_ID), 'job');
    expect(parentOf(job)).toBe(CALLER_SPAN);
    expect(job.attributes['conveyor.error.code']).toBe('ERR_PAYLOAD_INVALID');
  });

  it('records nothing and stores no trace context when tracing is off', async () => {
    const response = await infer(off.url, { traceparent: TRACEPARENT });
    expect(response.status).toBe(200);
    expect(spans()).toEqual([]);
    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(queueKey(offPrefix, queueName('iris', '1'), '*'));
      const opts = await Promise.all(
        keys.map(async (key) => (await redis.type(key)) === 'hash' && redis.hget(key, 'opts')),
      );
      const stored = opts.filter((o): o is string => typeof o === 'string');
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.filter((o) => o.includes('"tm"'))).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});
