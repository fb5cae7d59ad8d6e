import { toConveyorError, type ErrorCode, type PredictOptions } from '@conveyor/shared';
import type { Outputs, Prediction, PredictManyResult } from './client.js';
import { packIdempotencyKey, packInputs, splitOutputs, type RowLayout } from './row-pack.js';
import type { PackSizer } from './row-pack-sizer.js';

/**
 * Errors that say something about a pack's data: its items run alone so only a bad one fails.
 * Strings, not ErrorCode: a code may be newer than the catalogue this SDK was built with.
 */
const DATA_ERRORS: ReadonlySet<string> = new Set([
  'ERR_VALIDATION',
  'ERR_TENSOR_INVALID',
  'ERR_TENSOR_TOO_LARGE',
  'ERR_INPUT_MISSING',
  'ERR_INPUT_UNEXPECTED',
  'ERR_INPUT_DTYPE',
  'ERR_INPUT_VALUE',
  'ERR_INPUT_SHAPE',
  'ERR_FEATURES_UNSUPPORTED',
  'ERR_PAYLOAD_INVALID',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_RESULT_TOO_LARGE',
  'ERR_INFERENCE_FAILED',
]);
/** Of those, the ones that say the pack was too big rather than that a row was bad. */
const SIZE_ERRORS: ReadonlySet<string> = new Set([
  'ERR_TENSOR_TOO_LARGE',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_RESULT_TOO_LARGE',
]);
/** How predictMany runs one job: the client's own predict. */
export type PredictOne = (inputs: unknown, options: PredictOptions) => Promise<Prediction<Outputs>>;

/** Items run alone at once when a pack falls back. */
const ALONE_AT_ONCE = 32;

/** Consecutive items that run as one job: item `first + i` is `items[i]`. */
export interface Pack {
  first: number;
  items: unknown[];
  layouts: RowLayout[];
  rows: number;
}

/** What running packs shares within one predictMany call. */
export interface PackContext {
  predictOne: PredictOne;
  /** Options of every job; the idempotency key is set per job from `keyPrefix`. */
  shared: PredictOptions;
  keyPrefix: string | undefined;
  sizer: PackSizer;
  /** Called when a pack failed (or could not be split) while its items all succeeded alone. */
  packingFailed(): void;
}

async function runOne(
  ctx: PackContext,
  index: number,
  inputs: unknown,
): Promise<PredictManyResult> {
  const own: PredictOptions = { ...ctx.shared };
  if (ctx.keyPrefix !== undefined) own.idempotencyKey = `${ctx.keyPrefix}.${index}`;
  try {
    return { index, ok: true, prediction: await ctx.predictOne(inputs, own) };
  } catch (error) {
    return { index, ok: false, error: toConveyorError(error) };
  }
}

/** Each item of a pack as its own job, a few at a time. */
async function runAlone(ctx: PackContext, pack: Pack): Promise<PredictManyResult[]> {
  const results: PredictManyResult[] = [];
  for (let at = 0; at < pack.items.length; at += ALONE_AT_ONCE) {
    const chunk = pack.items.slice(at, at + ALONE_AT_ONCE);
    results.push(
      ...(await Promise.all(chunk.map((inputs, i) => runOne(ctx, pack.first + at + i, inputs)))),
    );
  }
  return results;
}

/**
 * Runs a pack as one job and gives each item its own result: a Prediction whose outputs are that
 * item's rows. When the job fails for its data (a bad row, a model that takes no packs), its items
 * run again alone, so only a bad item fails; any other failure (timeout, Redis gone, closed) is
 * every item's.
 */
export async function runPack(ctx: PackContext, pack: Pack): Promise<PredictManyResult[]> {
  if (pack.items.length === 1) {
    const [result] = [await runOne(ctx, pack.first, pack.items[0])];
    // An item of many rows teaches the sizer as a pack does: else items larger than the first
    // pack size would each go alone, the size never learnt.
    if (result.ok && pack.layouts[0]?.key) ctx.sizer.observe(result.prediction.timings, pack.rows);
    return [result];
  }
  const own: PredictOptions = { ...ctx.shared };
  if (ctx.keyPrefix !== undefined)
    own.idempotencyKey = packIdempotencyKey(ctx.keyPrefix, pack.first, pack.items.length);
  let failed: ErrorCode;
  try {
    const prediction = await ctx.predictOne(packInputs(pack.items, pack.rows), own);
    const split = splitOutputs(
      prediction.outputs,
      pack.layouts.map((l) => l.rows),
    );
    if (split !== undefined) {
      ctx.sizer.observe(prediction.timings, pack.rows);
      return split.map((outputs, i) => ({
        index: pack.first + i,
        ok: true,
        prediction: { ...prediction, outputs },
      }));
    }
    failed = 'ERR_INFERENCE_FAILED';
  } catch (error) {
    const conveyorError = toConveyorError(error);
    if (!DATA_ERRORS.has(conveyorError.code)) {
      return pack.items.map((_, i) => ({
        index: pack.first + i,
        ok: false,
        error: conveyorError,
      }));
    }
    failed = conveyorError.code;
  }
  if (SIZE_ERRORS.has(failed)) ctx.sizer.shrink();
  const results = await runAlone(ctx, pack);
  if (!SIZE_ERRORS.has(failed) && results.every((r) => r.ok)) ctx.packingFailed();
  return results;
}
