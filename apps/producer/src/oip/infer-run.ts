/**
 * The Open Inference Protocol `infer` core, free of any transport: REST (`infer.ts`) and gRPC
 * (`ModelInfer`) both go through it, so validation, options (version, outputs, owner, Triton's
 * `timeout` and `priority` parameters), back-pressure, the deadline and the encoding of the answer
 * are the same whichever way a request came. A transport parses its request into an
 * `InferRequest` (zod, `InferRequestSchema`), hands it here with the binary part of the body if
 * any, and sends what comes back in its own framing.
 */
import type { ConveyorClient, PredictOptions, Prediction } from '@conveyor/sdk';
import { RedisTimeoutError, redisAddress, redisUnavailable, type Config } from '@conveyor/shared';
import { encodeOipOutputs, toSdkInputs } from './tensors.js';
import type { BinaryOutput, InferOutput, InferRequest } from './schemas.js';
import type { InferStats } from './infer-stats.js';

/** What an infer needs from the server, whatever the transport. */
export interface InferContext {
  client: Pick<ConveyorClient, 'predict' | 'enqueue'>;
  config: Pick<Config, 'PREDICT_TIMEOUT_MS' | 'MAX_TENSOR_BYTES' | 'REDIS_URL'>;
  /**
   * Rejects with ERR_QUEUE_FULL (or ERR_QUEUE_UNAVAILABLE) when the model's queue is too deep;
   * may answer at once instead (undefined, or ERR_QUEUE_FULL thrown): call it with `await`.
   */
  checkBackPressure(model: string): Promise<void> | undefined;
  /** Where outcomes are counted for `/v2/models/{name}/stats`; pass the app's `inferStats`. */
  stats?: InferStats;
}

/** One infer request, parsed. */
export interface InferCall {
  name: string;
  /** A version or alias from the path (REST) or `model_version` (gRPC). */
  version?: string;
  body: InferRequest;
  /** The binary part of the body: each input with `parameters.binary_data_size`, in order. */
  binary?: Buffer;
  /** Who the job belongs to (the API key's name), recorded in it; none when auth is off. */
  owner?: string;
  /** Epoch ms the request arrived: its wait counts from here. */
  arrivedAt: number;
  /** The transport's own timeout in ms (REST: `Conveyor-Timeout-Ms`), below `parameters.timeout`. */
  headerTimeoutMs?: number;
  /** A wait the transport chose (REST: `Prefer: wait=N`), in ms, above everything else. */
  waitMs?: number;
}

/**
 * How long past its wait a request may run, in ms, so that the client's own ERR_JOB_TIMEOUT (with
 * the job id), armed once the job is queued, comes first even when the first request of a model
 * opens connections and loads scripts; past it Redis is too slow to queue a job and the request
 * answers ERR_QUEUE_UNAVAILABLE.
 */
export const DEADLINE_GRACE_MS = 1000;

/** Settles like `work`, or rejects with `late()` after `ms`; `work` goes on, its outcome ignored. */
async function beforeDeadline<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The SDK inputs and options of a call; throws ConveyorError on a tensor that does not hold. */
function prepare(ctx: InferContext, call: InferCall) {
  const { body } = call;
  const inputs = toSdkInputs(body.inputs, ctx.config.MAX_TENSOR_BYTES, call.binary);
  const options: PredictOptions = {};
  if (call.version !== undefined) options.version = call.version;
  if (body.outputs !== undefined) options.outputs = body.outputs.map((o) => o.name);
  // A job kept for later (respond-async, a timeout) belongs to the request's key.
  if (call.owner !== undefined) options.owner = call.owner;
  const priority = sdkPriority(body.parameters?.priority);
  if (priority !== undefined) options.priority = priority;
  return { inputs, options };
}

/**
 * The SDK (BullMQ) priority of Triton's `priority`. Triton: lower is more urgent and 0 asks for
 * the model's default level. BullMQ runs jobs without a priority first, then 1, 2, …; so
 * Conveyor's default level is 1 (as a Triton model with `default_priority_level: 1`): 0, 1 and
 * none run first, first in first out, with every other job that has no priority, and 2, 3, … run
 * after them in that order (BullMQ priority 1, 2, …).
 */
export function sdkPriority(triton: number | undefined): number | undefined {
  return triton === undefined || triton <= 1 ? undefined : triton - 1;
}

/**
 * How long to wait for the result, in ms: the transport's wait, `parameters.timeout` (µs, rounded
 * up to whole ms), the transport's header, the default.
 */
export function waitMsOf(ctx: InferContext, call: InferCall): number {
  const timeoutUs = call.body.parameters?.timeout;
  return (
    call.waitMs ??
    (timeoutUs === undefined ? undefined : Math.ceil(timeoutUs / 1000)) ??
    call.headerTimeoutMs ??
    ctx.config.PREDICT_TIMEOUT_MS
  );
}

/**
 * Queues one job and waits for its prediction. The wait covers the whole request from its
 * arrival (the rate limit's count, the body, the back-pressure check, the enqueue), so a Redis that
 * does not answer cannot hold it past its deadline: ERR_QUEUE_UNAVAILABLE then, and
 * ERR_JOB_TIMEOUT (with `details.jobId`) when the job was queued but did not finish in time.
 */
export async function runInfer(ctx: InferContext, call: InferCall): Promise<Prediction> {
  const { inputs, options } = prepare(ctx, call);
  const wait = waitMsOf(ctx, call);
  const deadline = call.arrivedAt + wait;
  try {
    const prediction = await beforeDeadline(
      (async () => {
        await ctx.checkBackPressure(call.name);
        options.timeoutMs = Math.max(1, deadline - Date.now());
        return ctx.client.predict(call.name, inputs, options);
      })(),
      Math.max(0, deadline - Date.now()) + DEADLINE_GRACE_MS,
      () => redisUnavailable(redisAddress(ctx.config.REDIS_URL), new RedisTimeoutError(wait)),
    );
    ctx.stats?.succeeded(prediction, Date.now() - call.arrivedAt);
    return prediction;
  } catch (error) {
    ctx.stats?.failed(call.name, error, Date.now() - call.arrivedAt);
    throw error;
  }
}

/**
 * Queues one job without waiting for it (REST `Prefer: respond-async`) and returns its id; each
 * Redis call fails within PRODUCER_COMMAND_TIMEOUT_MS, so there is no deadline to keep.
 */
export async function enqueueInfer(ctx: InferContext, call: InferCall): Promise<string> {
  const { inputs, options } = prepare(ctx, call);
  // Most checks answer at once: no wait for them (an `await` of undefined is a turn of its own).
  const checking = ctx.checkBackPressure(call.name);
  if (checking) await checking;
  const job = await ctx.client.enqueue(call.name, inputs, options);
  return job.id;
}

/** Whether an output goes back in binary: its own `binary_data`, else `binary_data_output`. */
export function binaryChoice(body: InferRequest): (name: string) => boolean {
  const all = body.parameters?.binary_data_output === true;
  const own = new Map(body.outputs?.map((o) => [o.name, o.parameters?.binary_data]));
  return (name) => own.get(name) ?? all;
}

/** The head of an infer response: the model, the version that ran, and the request's `id`. */
export interface InferResponseHead {
  model_name: string;
  model_version: string;
  /** The request's `id`, absent when it had none (the job id travels apart: Conveyor-Job-Id). */
  id?: string;
}

/** A prediction encoded for the protocol: its head, its outputs, and the bytes of binary ones. */
export interface EncodedInferResponse {
  head: InferResponseHead;
  /** In the order the request asked for, else the model's; binary ones name their byte count. */
  outputs: (InferOutput | BinaryOutput)[];
  /** The raw bytes of each binary output, in the order of `outputs`. */
  blocks: Uint8Array[];
}

/**
 * Encodes a prediction as the protocol's response: outputs in the requested order, each in JSON
 * or in binary as `binary` says (REST: the binary tensor data extension; gRPC: raw contents).
 */
export function encodeInferResponse(
  body: InferRequest,
  prediction: Prediction,
  { binary }: { binary: (name: string) => boolean },
): EncodedInferResponse {
  const { outputs, blocks } = encodeOipOutputs(prediction.outputs, {
    ...(body.outputs && { order: body.outputs.map((o) => o.name) }),
    binary,
  });
  const head: InferResponseHead = {
    model_name: prediction.model,
    model_version: prediction.version,
    ...(body.id !== undefined && { id: body.id }),
  };
  return { head, outputs, blocks };
}
