import {
  JobPayloadSchema,
  blobKey,
  decodeTensor,
  tensorFromBytes,
  type Tensor,
} from '@conveyor/shared';
import type { JobRequest } from '../client.js';
import type { QueueContext } from './context.js';
import { readJob } from './job-read.js';

/**
 * A job's request read back through the one job reader: its payload (validated, never trusting
 * Redis) and its stored inputs in one pipelined read. Undefined when any of them is gone.
 */
export async function readJobRequest(
  ctx: QueueContext,
  id: string,
): Promise<JobRequest | undefined> {
  const found = await readJob(ctx, id);
  const parsed = JobPayloadSchema.safeParse(found?.stored.data);
  if (!found || !parsed.success) return undefined;
  const payload = parsed.data;
  const stored = Object.keys(payload.inputs).filter(
    (name) => 'blob' in (payload.inputs[name] ?? {}),
  );
  let bytes: (Buffer | null)[] = [];
  if (stored.length > 0) {
    const pipeline = ctx.redis.pipeline();
    for (const name of stored) pipeline.getBuffer(blobKey(ctx.config.prefix, id, name));
    const replies = await pipeline.exec().catch(ctx.rejectUnavailable);
    bytes = (replies ?? []).map(([, value]) => (Buffer.isBuffer(value) ? value : null));
  }
  const inputs: Record<string, Tensor> = {};
  for (const [name, wire] of Object.entries(payload.inputs)) {
    if ('data' in wire) {
      inputs[name] = decodeTensor(wire, { maxBytes: ctx.config.maxTensorBytes });
      continue;
    }
    const data = bytes[stored.indexOf(name)];
    if (!data) return undefined;
    inputs[name] = tensorFromBytes(wire.dtype, wire.shape, data, {
      maxBytes: ctx.config.maxTensorBytes,
    });
  }
  const request: JobRequest = { model: payload.model, inputs };
  if (payload.version !== undefined) request.version = payload.version;
  if (payload.outputs !== undefined) request.outputs = payload.outputs;
  if (payload.owner !== undefined) request.owner = payload.owner;
  if (payload.deadline !== undefined) request.deadline = payload.deadline;
  if (found.stored.opts.priority !== undefined) request.priority = found.stored.opts.priority;
  return request;
}
