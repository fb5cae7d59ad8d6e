import {
  JobIdSchema,
  ModelNameSchema,
  PredictOptionsSchema,
  checkRequest,
  featuresToInputs,
  isFeatureRow,
  isFeatureRows,
  isModelName,
  newJobId,
  parseOrThrow,
  toTensors,
  type ModelSignature,
  type ParsedPredictOptions,
  type Tensor,
} from '@conveyor/shared';
import type { JobHandle, Prediction } from './client.js';
import { isPlainPredictOptions } from './options-check.js';
import { predictMany } from './predict-many.js';
import { checkDefinition, type ModelDefinition } from './typed-model.js';

/** A model named by a call: its validated name, and its definition when it was given one. */
export interface ModelTarget {
  name: string;
  definition?: ModelDefinition;
}

/**
 * Where a client reads the signature of the version a request runs on: `ref` is a version, an
 * alias or nothing (production), resolved by the Redis catalogue and aliases, or by the engine.
 */
export type SignatureSource = (model: string, ref?: string) => Promise<ModelSignature>;

/** A job checked against its model's signature, ready to enqueue or run. */
export interface PreparedJob {
  jobId: string;
  model: string;
  tensors: Record<string, Tensor>;
  signature: ModelSignature;
  /** Outputs to compute: asked for, or declared by a definition; undefined for all. */
  outputs: string[] | undefined;
  options: ParsedPredictOptions;
  /** Epoch ms. */
  deadline: number | undefined;
}

/** Reads the model argument of a call: a name, or a definition from defineModel. */
export function modelTarget(model: unknown): ModelTarget {
  if (typeof model === 'object' && model !== null && 'name' in model && 'outputs' in model) {
    const definition = model as ModelDefinition;
    return { name: parseOrThrow(ModelNameSchema, definition.name, 'model name'), definition };
  }
  return { name: isModelName(model) ? model : parseOrThrow(ModelNameSchema, model, 'model name') };
}

/** Validates predict options (ERR_VALIDATION). */
export function predictOptions(options: unknown): ParsedPredictOptions {
  if (options === undefined) return {};
  // The common options without zod's copy; a copy of our own, which the call may not share.
  if (isPlainPredictOptions(options)) return { ...options };
  return parseOrThrow(PredictOptionsSchema, options ?? {}, 'predict options');
}

/**
 * Validates inputs and checks them against the model's signature, in the same order for every
 * client, so a bad request gets the same code whatever serves it. The signature comes first:
 * plain values take the dtypes it declares, and its input names tell inputs from named features.
 */
export async function prepareJob(
  target: ModelTarget,
  inputs: unknown,
  options: ParsedPredictOptions,
  signatureOf: SignatureSource,
  maxTensorBytes: number,
): Promise<PreparedJob> {
  const signature = await signatureOf(target.name, options.version).catch((error: unknown) =>
    refuseWithoutSignature(inputs, maxTensorBytes, error),
  );
  return prepareSigned(target, inputs, options, signature, maxTensorBytes);
}

/**
 * What a request whose signature could not be read is refused with: inputs that could not be
 * tensors for any model are refused for that first, as before the model was looked up, so a bad
 * request gets the same code whether its model exists or not; otherwise `error`.
 */
export function refuseWithoutSignature(
  inputs: unknown,
  maxTensorBytes: number,
  error: unknown,
): never {
  if (!isFeatureRow(inputs) && !isFeatureRows(inputs)) toTensors(inputs, maxTensorBytes);
  throw error;
}

/**
 * prepareJob once the signature is known (synchronous). `jobId` is the job's id when the caller
 * made it already (valid by construction), else a new one.
 */
export function prepareSigned(
  target: ModelTarget,
  inputs: unknown,
  options: ParsedPredictOptions,
  signature: ModelSignature,
  maxTensorBytes: number,
  jobId?: string,
): PreparedJob {
  const tensors = toTensors(
    isFeatureRow(inputs, signature) || isFeatureRows(inputs)
      ? featuresToInputs(signature, inputs)
      : inputs,
    maxTensorBytes,
    signature,
  );
  if (target.definition) checkDefinition(target.definition, signature);
  const outputs =
    options.outputs ?? (target.definition ? Object.keys(target.definition.outputs) : undefined);
  checkRequest(signature, tensors, outputs);
  // A date at or before the epoch is in the past like every other; the payload format wants a
  // positive number.
  const deadline =
    options.deadline instanceof Date ? Math.max(1, options.deadline.getTime()) : options.deadline;
  return {
    jobId: jobId ?? newJobId(target.name, signature.version),
    model: target.name,
    tensors,
    signature,
    outputs,
    options,
    deadline,
  };
}

/**
 * The calls both clients build the same way from their own `enqueue` and job handles: predict
 * (enqueue, then wait), predictMany over predict, and job(id).
 */
export function derivedCalls(
  enqueue: (model: unknown, inputs: unknown, options?: unknown) => Promise<JobHandle>,
  handle: (id: string) => JobHandle,
  assertOpen: () => void,
  /** A client's own predict, when it can do better than enqueue-then-wait. */
  ownPredict?: (model: unknown, inputs: unknown, options?: unknown) => Promise<Prediction>,
) {
  async function enqueueThenWait(
    model: unknown,
    inputs: unknown,
    options?: unknown,
  ): Promise<Prediction> {
    const job = await enqueue(model, inputs, options);
    const timeoutMs = predictOptions(options).timeoutMs;
    return job.result(timeoutMs === undefined ? {} : { timeoutMs });
  }
  const predict = ownPredict ?? enqueueThenWait;
  return {
    predict,
    predictMany(
      model: unknown,
      items: Iterable<unknown> | AsyncIterable<unknown>,
      options?: unknown,
    ) {
      return predictMany((inputs, opts) => predict(model, inputs, opts), items, options);
    },
    job(id: string) {
      assertOpen();
      return handle(parseOrThrow(JobIdSchema, id, 'job id'));
    },
  };
}
