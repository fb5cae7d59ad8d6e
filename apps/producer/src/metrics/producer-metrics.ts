/**
 * The producer's Prometheus metrics, on a registry of its own (never prom-client's global one),
 * served at `GET /metrics` by plugins/metrics.ts (docs/operations.md lists them): HTTP requests
 * and refusals, gRPC calls, per-queue gauges read from the status at scrape time, and
 * prom-client's default process metrics.
 */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { ComparisonReport } from '@conveyor/shared';
import type { ConveyorStatus, DriftReport } from '@conveyor/shared';
import type { ModelAccuracy } from '@conveyor/shared';
import { registerDriftMetrics } from './drift-metrics.js';
import { registerAccuracyMetrics } from './accuracy-metrics.js';
import { registerComparisonMetrics } from './comparison-metrics.js';
import { createHttpMetrics, type HttpMetrics } from './http-metrics.js';
import { createModelLabels, type ModelLabels } from './model-labels.js';
import { registerQueueMetrics, type QueueMetricsOptions } from './queue-metrics.js';

export interface ProducerMetricsOptions {
  /** The model names of the catalogue, which bound the `model` label (`client.models()`). */
  models: () => Promise<readonly string[]>;
  /** The status the queue gauges are read from at scrape time (`client.status()`). */
  status: () => Promise<ConveyorStatus>;
  /** Tuning of the status read (cache and bound, in ms). */
  statusRead?: Omit<QueueMetricsOptions, 'status'>;
  /** Every model's shadow and replay comparisons, read at scrape time; none without it. */
  comparisons?: () => Promise<readonly ComparisonReport[]>;
  /** The drift of every model, read at scrape time (`client.drift()`); none without it. */
  drift?: () => Promise<readonly DriftReport[]>;
  /** Live accuracy of every model, read at scrape time (`client.accuracy()`); none without it. */
  accuracy?: () => Promise<readonly ModelAccuracy[]>;
}

export interface ProducerMetrics {
  readonly registry: Registry;
  /** The `model` label of a model name: itself when the catalogue has it, else `other`. */
  readonly models: ModelLabels;
  readonly http: HttpMetrics;
  /**
   * Counts a finished gRPC call: its RPC, its status code's name (`OK`, `RESOURCE_EXHAUSTED`, as
   * gRPC's own docs spell it), and the model it named (if any). The name, not the number: this
   * module does not load gRPC, which a producer without GRPC_PORT never does.
   */
  grpcCall(rpc: string, code: string, model: string | undefined): void;
}

export function createProducerMetrics(options: ProducerMetricsOptions): ProducerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const models = createModelLabels({ list: options.models });
  const http = createHttpMetrics(registry);
  const grpc = new Counter({
    name: 'conveyor_grpc_requests_total',
    help: 'gRPC calls the producer answered, by RPC method, status code name and model ("other" for one the catalogue does not know; "" when the RPC names none).',
    labelNames: ['method', 'code', 'model'] as const,
    registers: [registry],
  });
  registerQueueMetrics(registry, { ...options.statusRead, status: options.status });
  registerComparisonMetrics(registry, options.comparisons);
  registerDriftMetrics(registry, options.drift);
  registerAccuracyMetrics(registry, options.accuracy);

  return {
    registry,
    models,
    http,
    grpcCall(rpc, code, model) {
      const count = (label: string) => grpc.inc({ method: rpc, code, model: label });
      const label = models.label(model);
      if (typeof label === 'string') count(label);
      else void label.then(count);
    },
  };
}
