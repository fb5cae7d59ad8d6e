/**
 * The handlers of `inference.GRPCInferenceService`, over the same model catalogue, infer core,
 * API keys and errors as the REST routes (oip/models.ts, oip/infer-run.ts, plugins/auth.ts).
 * RepositoryModelLoad and RepositoryModelUnload are left out: grpc-js answers UNIMPLEMENTED.
 */
import { randomUUID } from 'node:crypto';
import {
  Metadata,
  status,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { ConveyorClient } from '@conveyor/sdk';
import type { Config, Logger } from '@conveyor/shared';
import { runInfer, waitMsOf, type InferContext } from '../oip/infer-run.js';
import type { InferStats } from '../oip/infer-stats.js';
import {
  PLATFORM,
  SERVER_EXTENSIONS,
  lookUp,
  notServing,
  type ModelLookup,
} from '../oip/models.js';
import { DTYPE_TO_OIP } from '../oip/schemas.js';
import { createKeyCheck, type Principal } from '../plugins/auth.js';
import { PRODUCER_VERSION } from '../version.js';
import { principalOfCall } from './auth.js';
import { modelParams, toRestInfer } from './infer-request.js';
import { toModelInferResponse } from './infer-response.js';
import type {
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataResponse,
  ModelRequest,
  ServerMetadataResponse,
} from './proto.js';
import { JOB_ID_KEY, errorBodyOf, grpcStatusOf, serviceError } from './status.js';

export interface GrpcServiceDeps {
  client: Pick<ConveyorClient, 'predict' | 'enqueue'> & ModelLookup;
  config: InferContext['config'] & Pick<Config, 'API_KEYS'>;
  checkBackPressure(model: string): Promise<void> | undefined;
  /** True when Redis answers PING (ServerReady), as REST's readiness probe. */
  redisPing(): Promise<boolean>;
  logger: Logger;
  /** Where ModelInfer outcomes are counted: the HTTP app's, so `/stats` counts both. */
  stats?: InferStats;
  /** How long ServerReady waits for the PING, in ms. Default 1000, as REST's probe. */
  readyTimeoutMs?: number;
  /**
   * Called when a call ends: its RPC, its status code's name (`OK`, `RESOURCE_EXHAUSTED`, as
   * gRPC's own docs spell it), and the model it names (if any).
   */
  onCall?: (rpc: string, code: string, model: string | undefined) => void;
}

/** The model a call names: `name` of ModelReady and ModelMetadata, `model_name` of ModelInfer. */
const modelOfCall = (rpc: string, call: ServerUnaryCall<unknown, unknown>): string | undefined => {
  if (!rpc.startsWith('Model')) return undefined;
  const request = call.request as { name?: unknown; model_name?: unknown } | null;
  const name = rpc === 'ModelInfer' ? request?.model_name : request?.name;
  return typeof name === 'string' ? name : undefined;
};

/**
 * The wait ends this share of the time left before a call's deadline (at least 20 ms, at most
 * 1 s sooner), so that ERR_JOB_TIMEOUT with the job id reaches the client before its own deadline
 * ends the call.
 */
export const DEADLINE_MARGIN = 0.1;

/** The ms to wait for a call with a deadline; undefined without one. */
function waitForDeadline(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  const left = at - Date.now();
  const margin = Math.min(1000, Math.max(20, left * DEADLINE_MARGIN));
  // A day at most: the SDK's cap on a wait, as REST's timeouts.
  return Math.min(86_400_000, Math.max(1, Math.floor(left - margin)));
}

/**
 * The extensions of SERVER_EXTENSIONS served over gRPC: the schedule policy's parameters. Binary
 * tensor data is REST's (gRPC has raw contents), and the configuration and statistics are REST
 * routes only: this service has no ModelConfig or ModelStatistics RPC.
 */
export const GRPC_EXTENSIONS: readonly string[] = SERVER_EXTENSIONS.filter(
  (name) => name === 'schedule_policy',
);

type Handler<Req, Res> = (
  call: ServerUnaryCall<Req, Res>,
  principal: Principal | undefined,
) => Promise<Res>;

export function createGrpcService(deps: GrpcServiceDeps): UntypedServiceImplementation {
  const { client, config, logger } = deps;
  const keys = createKeyCheck(config.API_KEYS);
  const context: InferContext = {
    client,
    config,
    checkBackPressure: (model) => deps.checkBackPressure(model),
    ...(deps.stats && { stats: deps.stats }),
  };
  const readyTimeoutMs = deps.readyTimeoutMs ?? 1000;
  const onCall = deps.onCall ?? (() => undefined);

  /** A handler with its auth (unless `open`), its errors as statuses and its log lines. */
  const unary =
    <Req, Res>(rpc: string, handler: Handler<Req, Res>, open = false) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const run = async () =>
        handler(call, open ? undefined : principalOfCall(keys, call.metadata));
      run().then(
        (response) => {
          onCall(rpc, 'OK', modelOfCall(rpc, call));
          callback(null, response);
        },
        (error: unknown) => {
          const callId = randomUUID();
          const body = errorBodyOf(error, callId);
          onCall(rpc, status[grpcStatusOf(body.statusCode)] ?? 'UNKNOWN', modelOfCall(rpc, call));
          const fields = { rpc, callId, code: body.code };
          if (body.code === 'ERR_INTERNAL')
            logger.error({ ...fields, err: error }, 'grpc call failed');
          else if (body.statusCode >= 500)
            logger.warn({ ...fields, jobId: body.job_id }, 'grpc call failed');
          else logger.info(fields, 'grpc call refused');
          if (!call.cancelled) callback(serviceError(body, error));
        },
      );
    };

  const modelReady: Handler<ModelRequest, { ready: boolean }> = async ({ request }) => {
    const { name, version } = modelParams(request.name, request.version);
    const { versions } = await lookUp(client, name, version);
    return { ready: notServing(versions) === undefined };
  };

  const modelMetadata: Handler<ModelRequest, ModelMetadataResponse> = async ({ request }) => {
    const { name, version } = modelParams(request.name, request.version);
    const { versions, chosen } = await lookUp(client, name, version);
    const tensors = (specs: typeof chosen.inputs) =>
      specs.map((spec) => ({
        name: spec.name,
        datatype: DTYPE_TO_OIP[spec.dtype],
        shape: [...spec.shape],
      }));
    return {
      name,
      versions: versions.map((m) => m.version),
      platform: PLATFORM,
      inputs: tensors(chosen.inputs),
      outputs: tensors(chosen.outputs),
    };
  };

  const modelInfer: Handler<ModelInferRequest, ModelInferResponse> = async (call, principal) => {
    const arrivedAt = Date.now();
    const { name, version, body, binary } = toRestInfer(call.request);
    const inferCall = {
      name,
      ...(version !== undefined && { version }),
      body,
      ...(binary !== undefined && { binary }),
      ...(principal !== undefined && { owner: principal.name }),
      arrivedAt,
    };
    // The deadline is the wait: `parameters.timeout` may only shorten it.
    const remaining = waitForDeadline(call);
    const waitMs =
      remaining === undefined
        ? undefined
        : Math.min(remaining, waitMsOf(context, { ...inferCall, headerTimeoutMs: remaining }));
    const prediction = await runInfer(context, {
      ...inferCall,
      ...(waitMs !== undefined && { waitMs }),
    });
    logger.debug(
      {
        rpc: 'ModelInfer',
        model: name,
        version: prediction.version,
        jobId: prediction.jobId,
        ...prediction.timings,
      },
      'inference completed',
    );
    const metadata = new Metadata();
    metadata.set(JOB_ID_KEY, prediction.jobId);
    call.sendMetadata(metadata);
    return toModelInferResponse(body, prediction);
  };

  const serverReady = async (): Promise<{ ready: boolean }> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), readyTimeoutMs);
    });
    try {
      return { ready: await Promise.race([deps.redisPing().catch(() => false), late]) };
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    ServerLive: unary('ServerLive', () => Promise.resolve({ live: true }), true),
    ServerReady: unary('ServerReady', serverReady, true),
    ServerMetadata: unary('ServerMetadata', (): Promise<ServerMetadataResponse> =>
      Promise.resolve({
        name: 'conveyor',
        version: PRODUCER_VERSION,
        extensions: [...GRPC_EXTENSIONS],
      }),
    ),
    ModelReady: unary('ModelReady', modelReady),
    ModelMetadata: unary('ModelMetadata', modelMetadata),
    ModelInfer: unary('ModelInfer', modelInfer),
  };
}
