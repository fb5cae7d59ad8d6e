import {
  DTYPE_ARRAYS,
  createTensor,
  shapeMatches,
  toConveyorError,
  toTensor,
  type ModelSignature,
  type Tensor,
  type TensorData,
  type TensorSpec,
  type TypedArray,
  type WarmupSample,
} from '@conveyor/shared';
import type { RunFn } from './batcher.js';
import type { ModelIssue } from './model-problem.js';
import type { RuntimeSignature } from './signature.js';

/** What a version is warmed up on: every input's shape (and data, when model.json gives it). */
export interface WarmupPlan {
  readonly inputs: Readonly<Record<string, { shape: number[]; data?: unknown[] }>>;
  /** The size given to each symbolic dimension of the inputs, by name. */
  readonly dims: Readonly<Record<string, number>>;
}

/** The outcome of a warm-up: its time, or why it failed. */
export type WarmupOutcome = { ms: number; reason?: undefined } | { ms?: undefined; reason: string };

const show = (dims: readonly number[]) => `[${dims.join(', ')}]`;

/** An input's shape with each free dimension sized by its symbolic name (else 1). */
function sampleShape(
  spec: TensorSpec,
  runtime: RuntimeSignature,
  given: Readonly<Record<string, number>>,
  used: Record<string, number>,
): number[] {
  const names = runtime.inputs.find((r) => r.name === spec.name)?.runtimeShape ?? [];
  return spec.shape.map((dim, axis) => {
    if (dim !== -1) return dim;
    const name = names[axis];
    if (typeof name !== 'string' || name === '') return 1;
    used[name] = given[name] ?? 1;
    return used[name];
  });
}

/** The symbolic names of the inputs' free dimensions. */
function freeDimNames(signature: ModelSignature, runtime: RuntimeSignature): string[] {
  const names = new Set<string>();
  for (const spec of signature.inputs) {
    const dims = runtime.inputs.find((r) => r.name === spec.name)?.runtimeShape ?? [];
    spec.shape.forEach((dim, axis) => {
      const name = dims[axis];
      if (dim === -1 && typeof name === 'string' && name !== '') names.add(name);
    });
  }
  return [...names];
}

/** Builds the tensors of a plan (fresh each call: a run moves their buffers to its thread). */
export function sampleTensors(plan: WarmupPlan, signature: ModelSignature): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  for (const spec of signature.inputs) {
    const { shape, data } = plan.inputs[spec.name] ?? { shape: [] };
    if (data !== undefined) {
      tensors[spec.name] = toTensor(spec.name, { data, shape, dtype: spec.dtype }, Infinity);
      continue;
    }
    const elements = shape.reduce((n, d) => n * d, 1);
    const zeros: TensorData =
      spec.dtype === 'string'
        ? new Array<string>(elements).fill('')
        : spec.dtype === 'bytes'
          ? Array.from({ length: elements }, () => new Uint8Array(0))
          : new (DTYPE_ARRAYS[spec.dtype] as unknown as new (length: number) => TypedArray)(
              elements,
            );
    tensors[spec.name] = createTensor(spec.dtype, shape, zeros, Infinity);
  }
  return tensors;
}

/**
 * The warm-up sample of a version: model.json's `warmup` inputs as given, the other inputs zeros
 * with free dimensions sized by `warmup.dims` (else 1). Each part of `warmup` that does not fit
 * the model is an issue.
 */
export function planWarmup(
  signature: ModelSignature,
  runtime: RuntimeSignature,
  sample: WarmupSample | boolean,
): { plan: WarmupPlan; issues: ModelIssue[] } {
  const given = typeof sample === 'boolean' ? {} : sample;
  const issues: ModelIssue[] = [];
  const fail = (path: string, message: string) =>
    issues.push({ code: 'ERR_MODEL_UNAVAILABLE', path: `model.json warmup.${path}`, message });
  const inputs: Record<string, { shape: number[]; data?: unknown[] }> = {};
  const used: Record<string, number> = {};
  const names = signature.inputs.map((s) => `"${s.name}"`).join(', ');
  for (const name of Object.keys(given.inputs ?? {})) {
    if (!signature.inputs.some((s) => s.name === name))
      fail(
        `inputs.${name}`,
        `model.json warmup names input "${name}", which the model does not have; its inputs are ${names}`,
      );
  }
  for (const spec of signature.inputs) {
    const explicit = given.inputs?.[spec.name];
    if (explicit && !shapeMatches(spec.shape, explicit.shape)) {
      fail(
        `inputs.${spec.name}.shape`,
        `model.json warmup input "${spec.name}" has shape ${show(explicit.shape)} but the model takes ${show(spec.shape)} (-1 is any size): change the shape`,
      );
    }
    inputs[spec.name] = explicit
      ? { shape: explicit.shape, ...(explicit.data !== undefined && { data: explicit.data }) }
      : { shape: sampleShape(spec, runtime, given.dims ?? {}, used) };
  }
  const known = freeDimNames(signature, runtime);
  for (const name of Object.keys(given.dims ?? {})) {
    if (!known.includes(name))
      fail(
        `dims.${name}`,
        `model.json warmup dims names "${name}", which is no free dimension of the model's inputs${known.length ? `; they are ${known.map((k) => `"${k}"`).join(', ')}` : ''}`,
      );
  }
  const plan = { inputs, dims: used };
  if (issues.length === 0) {
    try {
      sampleTensors(plan, signature);
    } catch (error) {
      fail('inputs', `model.json warmup: ${toConveyorError(error).message}`);
    }
  }
  return { plan, issues };
}

/** What to write in model.json so that warm-up runs on a sample the model accepts. */
function hint(plan: WarmupPlan): string {
  const dims = Object.keys(plan.dims);
  if (dims.length > 0)
    return `"warmup": { "dims": { ${dims.map((d) => `"${d}": <size>`).join(', ')} } }`;
  return `"warmup": { "inputs": { "<input>": { "shape": [...] } } }`;
}

/**
 * Runs the version once on every one of its threads (each opens its own session), so the first
 * real job pays neither the session load nor onnxruntime's first-run allocations. A failure is
 * returned, with onnxruntime's message and what to write in model.json, not thrown.
 */
export async function warmUp(
  plan: WarmupPlan,
  signature: ModelSignature,
  threads: number,
  run: RunFn,
): Promise<WarmupOutcome> {
  const started = performance.now();
  const outputs = signature.outputs.map((o) => o.name);
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, threads) }, () =>
        run(sampleTensors(plan, signature), outputs, true),
      ),
    );
    return { ms: performance.now() - started };
  } catch (error) {
    const shapes = Object.entries(plan.inputs)
      .map(([name, input]) => `${name} ${show(input.shape)}`)
      .join(', ');
    const reason = `warm-up on ${shapes} failed: ${toConveyorError(error).message}; give a warm-up sample the model accepts in model.json, such as ${hint(plan)}`;
    return { reason };
  }
}
