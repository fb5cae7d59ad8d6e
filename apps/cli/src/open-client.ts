import type { ConveyorClient } from '@conveyor/sdk';
import type { EmbeddedClientOptions } from '@conveyor/sdk/embedded';
import {
  ConveyorError,
  ModelVersionSchema,
  compareVersions,
  notAnnouncedHint,
  redactUrl,
  type Config,
  type ModelSignature,
  clientRedisOf,
} from '@conveyor/shared';
import { importEmbedded, importSdk } from './deferred-imports.js';

/** A client through the queue or in-process, and the model signatures it knows. */
export interface CliClient {
  readonly mode: 'queue' | 'embedded';
  readonly client: ConveyorClient;
  /** A model's signature (newest version by default); ERR_MODEL_NOT_FOUND when nobody serves it. */
  signature(model: string, version?: string): Promise<ModelSignature>;
  close(): Promise<void>;
}

export interface OpenClientOptions {
  embedded: boolean;
  /** In-process: load only this model (a faster start); default every model of the repository. */
  model?: string | undefined;
  /** In-process: jobs handed to onnxruntime at once (the engine batches them). */
  concurrency?: number | undefined;
  /**
   * In-process: keep no finished job. A batch reads each result as it arrives and never asks
   * again, so its memory stays flat however many rows it runs. (Through the queue, results are
   * read from Redis, so they are kept as configured.)
   */
  keepNothing?: boolean;
}

/**
 * Opens a client through the queue (Redis; rejects with ERR_QUEUE_UNAVAILABLE when it does not
 * answer) or, with `embedded`, onnxruntime in this process on the model repository.
 */
export async function openClient(config: Config, options: OpenClientOptions): Promise<CliClient> {
  const common = {
    timeoutMs: config.PREDICT_TIMEOUT_MS,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    keepCompleted: { count: config.KEEP_COMPLETED_JOBS, ageSeconds: config.KEEP_COMPLETED_AGE_S },
    keepFailed: { count: config.KEEP_FAILED_JOBS, ageSeconds: config.KEEP_FAILED_AGE_S },
    maxTensorBytes: config.MAX_TENSOR_BYTES,
  };
  if (options.embedded && options.keepNothing) {
    common.keepCompleted = { count: 0, ageSeconds: 0 };
    common.keepFailed = { count: 0, ageSeconds: 0 };
  }
  let client: ConveyorClient;
  if (options.embedded) {
    const embedded: EmbeddedClientOptions = {
      ...common,
      repository: config.MODEL_REPOSITORY,
      threads: config.INFERENCE_THREADS,
    };
    if (options.model !== undefined) embedded.models = [options.model];
    if (options.concurrency !== undefined)
      embedded.concurrency = Math.min(options.concurrency, 4096);
    const { createEmbeddedClient } = await importEmbedded();
    client = await createEmbeddedClient(embedded);
  } else {
    const { createClient } = await importSdk();
    client = await createClient({
      ...common,
      ...clientRedisOf(config),
      prefix: config.REDIS_KEY_PREFIX,
      eventsMaxLen: config.EVENTS_MAX_LEN,
      feedbackMaxLen: config.FEEDBACK_MAX_LEN,
      shadowSample: config.SHADOW_SAMPLE,
      modelExpiryMs: config.MODEL_EXPIRY_MS,
    });
  }
  return {
    mode: options.embedded ? 'embedded' : 'queue',
    client,
    async signature(model, version) {
      const versions = (await client.models())
        .filter((m) => m.name === model)
        .sort((a, b) => compareVersions(a.version, b.version));
      if (versions.length === 0) {
        throw new ConveyorError(
          'ERR_MODEL_NOT_FOUND',
          options.embedded
            ? `the model repository ${config.MODEL_REPOSITORY} has no servable model named "${model}"`
            : `no worker has announced a model named "${model}" ${notAnnouncedHint(redactUrl(config.REDIS_URL), config.REDIS_KEY_PREFIX)}`,
          { details: { model } },
        );
      }
      // An alias is resolved per job by the client; its inputs are read with the newest
      // signature, and the job is checked against its own version's when it is enqueued.
      const match =
        version === undefined || !ModelVersionSchema.safeParse(version).success
          ? versions[versions.length - 1]
          : versions.find((s) => s.version === version);
      if (match === undefined) {
        throw new ConveyorError(
          'ERR_MODEL_VERSION_NOT_FOUND',
          `model "${model}" has no version ${version}; versions: ${versions.map((s) => s.version).join(', ')}`,
          { details: { model, version } },
        );
      }
      return {
        name: match.name,
        version: match.version,
        inputs: match.inputs,
        outputs: match.outputs,
      };
    },
    close: () => client.close(),
  };
}
