/**
 * @module The only module that touches onnxruntime-node. Everything else speaks Conveyor's Tensor.
 */
import * as ort from 'onnxruntime-node';
import {
  ConveyorError,
  DTYPES,
  createTensor,
  type Dtype,
  type SessionConfig,
  type Tensor,
  type TypedArray,
} from '@conveyor/shared';

/** A model input or output as onnxruntime reports it. Symbolic or unknown dims are -1. */
export interface RuntimeTensorSpec {
  name: string;
  /** A Conveyor dtype, or the runtime's own type name when Conveyor cannot carry it (e.g. string). */
  dtype: string;
  shape: number[];
  /** The dims as the runtime names them, symbolic names included, for display. */
  runtimeShape: (number | string)[];
}

/** What one onnxruntime call gave: its outputs, and the ms the runtime itself ran. */
export interface SessionRun {
  outputs: Record<string, Tensor>;
  ms: number;
}

/** An open onnxruntime session. */
export interface ModelSession {
  readonly inputs: readonly RuntimeTensorSpec[];
  readonly outputs: readonly RuntimeTensorSpec[];
  run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames: readonly string[],
  ): Promise<SessionRun>;
  release(): Promise<void>;
}

/**
 * Times one call of onnxruntime-node's run(), which starts the runtime on a setImmediate of its
 * own: on a busy event loop (an inline version on the worker's main thread) the wait for that turn
 * can be ten times the run. An immediate queued just before the call runs just before the
 * runtime's, so the clock starts there; were the runtime ever to start at once, the call's own
 * start stands.
 */
async function timedFromRuntimeStart<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const called = performance.now();
  let started = Number.NaN;
  setImmediate(() => {
    started = performance.now();
  });
  const value = await call();
  const ended = performance.now();
  return { value, ms: ended - (started <= ended ? started : called) };
}

// onnxruntime's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. Its own log lines go
// to stderr as plain text, outside the JSON log; every error it reports also rejects the call and
// reaches our log as a typed error, so only fatal lines are let through.
const ORT_LOG_SEVERITY = 4;

function specOf(meta: ort.InferenceSession.ValueMetadata): RuntimeTensorSpec {
  if (!meta.isTensor) return { name: meta.name, dtype: 'non-tensor', shape: [], runtimeShape: [] };
  return {
    name: meta.name,
    dtype: meta.type,
    shape: meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)),
    runtimeShape: [...meta.shape],
  };
}

function isDtype(type: string): type is Dtype {
  return (DTYPES as readonly string[]).includes(type);
}

function fromOrt(name: string, value: ort.Tensor): Tensor {
  if (!isDtype(value.type)) {
    throw new ConveyorError(
      'ERR_INFERENCE_FAILED',
      `output "${name}" has type ${value.type}, which Conveyor cannot carry`,
    );
  }
  if (value.type === 'string') {
    const strings = [...(value.data as readonly string[])];
    return createTensor(
      'string',
      value.dims,
      strings,
      Number.POSITIVE_INFINITY,
      `output "${name}"`,
    );
  }
  const data = value.data as TypedArray;
  // Float16Array (where the runtime has it) is stored as its raw bits.
  const stored =
    value.type === 'float16' && !(data instanceof Uint16Array)
      ? new Uint16Array(data.buffer, data.byteOffset, data.length)
      : data;
  return createTensor(value.type, value.dims, stored, Number.POSITIVE_INFINITY, `output "${name}"`);
}

/**
 * Our tensor as onnxruntime's. onnxruntime has no bytes type: a bytes input (an image, a file)
 * feeds a preprocessing step, and one that reaches the model is refused with ERR_INPUT_DTYPE.
 */
function toOrt(name: string, tensor: Tensor): ort.Tensor {
  if (tensor.dtype === 'string')
    return new ort.Tensor('string', tensor.data as string[], tensor.shape);
  if (tensor.dtype === 'bytes') {
    throw new ConveyorError(
      'ERR_INPUT_DTYPE',
      `input "${name}" is bytes, which onnxruntime cannot take: bytes inputs feed a preprocess step (declare one in model.json), or send the model's own dtype`,
      { details: { input: name, dtype: 'bytes' } },
    );
  }
  return new ort.Tensor(tensor.dtype, tensor.data as TypedArray, tensor.shape);
}

/** Opens a session with explicit thread settings; a missing or corrupt file is ERR_MODEL_UNAVAILABLE. */
export async function openSession(path: string, config: SessionConfig): Promise<ModelSession> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: config.intraOpNumThreads,
      interOpNumThreads: config.interOpNumThreads,
      executionMode: config.executionMode,
      graphOptimizationLevel: config.graphOptimizationLevel,
      logSeverityLevel: ORT_LOG_SEVERITY,
    });
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConveyorError('ERR_MODEL_UNAVAILABLE', `cannot load ${path}: ${reason}`, {
      cause,
      details: { path },
    });
  }
  return {
    inputs: session.inputMetadata.map(specOf),
    outputs: session.outputMetadata.map(specOf),
    async run(inputs, outputNames) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(inputs)) feeds[name] = toOrt(name, tensor);
      let results: ort.InferenceSession.ReturnType;
      let ms: number;
      try {
        ({ value: results, ms } = await timedFromRuntimeStart(() =>
          session.run(feeds, [...outputNames], { logSeverityLevel: ORT_LOG_SEVERITY }),
        ));
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new ConveyorError('ERR_INFERENCE_FAILED', `onnxruntime failed: ${reason}`, { cause });
      }
      const outputs: Record<string, Tensor> = {};
      for (const name of outputNames) {
        const value = results[name];
        if (value === undefined)
          throw new ConveyorError('ERR_INFERENCE_FAILED', `onnxruntime returned no "${name}"`);
        outputs[name] = fromOrt(name, value);
      }
      return { outputs, ms };
    },
    release: () => session.release(),
  };
}
