import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve, win32 } from 'node:path';
import { ConveyorError, type ErrorIssue } from '@conveyor/shared';
import { WireFormatError, fieldText, isLengthDelimited, wireFields } from './onnx-proto-walker.js';

/** What checkOnnxFile learnt about a model file. */
export interface OnnxFileInfo {
  /** The external data files its tensors read, as the model names them (relative to its folder). */
  readonly externalData: readonly string[];
}

type Kind = 'model' | 'graph' | 'training' | 'function' | 'node' | 'attribute' | 'sparse';

// The ONNX messages that can hold tensors, and the fields (onnx.proto numbers) that lead to them.
const CHILDREN: Readonly<Record<Kind, Readonly<Record<number, Kind | 'tensor'>>>> = {
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  training: { 1: 'graph', 2: 'graph' },
  function: { 7: 'node' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  sparse: { 1: 'tensor', 2: 'tensor' },
};
const MAX_DEPTH = 64;
const TENSOR_NAME = 8;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1;
// protobuf messages are limited to 2 GiB; larger models keep their weights in external files.
const MAX_FILE_BYTES = 2 ** 31 - 1;

interface ExternalTensor {
  readonly tensor: string;
  readonly location: string | undefined;
}

function readTensor(bytes: Uint8Array, start: number, end: number): ExternalTensor | undefined {
  let tensor = '';
  let location: string | undefined;
  let external = false;
  for (const f of wireFields(bytes, start, end)) {
    if (f.field === TENSOR_NAME && isLengthDelimited(f)) tensor = fieldText(bytes, f);
    if (f.field === TENSOR_DATA_LOCATION && !isLengthDelimited(f))
      external ||= f.value === DATA_LOCATION_EXTERNAL;
    if (f.field !== TENSOR_EXTERNAL_DATA || !isLengthDelimited(f)) continue;
    external = true;
    const entry = new Map<number, string>();
    for (const e of wireFields(bytes, f.start, f.end))
      if (isLengthDelimited(e)) entry.set(e.field, fieldText(bytes, e));
    if (entry.get(1) === 'location') location = entry.get(2);
  }
  return external ? { tensor, location } : undefined;
}

function walk(
  bytes: Uint8Array,
  kind: Kind,
  range: { start: number; end: number },
  depth: number,
  found: ExternalTensor[],
): void {
  if (depth > MAX_DEPTH) throw new WireFormatError(`messages nested over ${MAX_DEPTH} deep`);
  for (const f of wireFields(bytes, range.start, range.end)) {
    const child = CHILDREN[kind][f.field];
    if (child === undefined) continue;
    if (!isLengthDelimited(f))
      throw new WireFormatError(`field ${f.field} of a ${kind} is not a message`);
    if (child === 'tensor') {
      const tensor = readTensor(bytes, f.start, f.end);
      if (tensor) found.push(tensor);
    } else walk(bytes, child, f, depth + 1, found);
  }
}

/** The tensors of a serialised ModelProto that keep their data in external files. */
function externalTensors(bytes: Uint8Array): ExternalTensor[] {
  const top = [...wireFields(bytes, 0, bytes.length)];
  if (!top.some((f) => f.field === 1 && !isLengthDelimited(f)))
    throw new WireFormatError('it has no ir_version');
  if (!top.some((f) => f.field === 7 && isLengthDelimited(f)))
    throw new WireFormatError('it has no graph');
  const found: ExternalTensor[] = [];
  walk(bytes, 'model', { start: 0, end: bytes.length }, 0, found);
  return found;
}

/**
 * The external tensors of model files already parsed, by path, while the file keeps its size and
 * modification time: a worker rescans its repository every few seconds and must not read every
 * model each time. The checks of the locations themselves (links) run every time.
 */
const parsed = new Map<string, { stamp: string; tensors: ExternalTensor[] }>();
const MAX_PARSED = 1024;

/** The external tensors of the file at `path`, read and parsed unless the cache has them. */
async function tensorsOf(path: string): Promise<ExternalTensor[]> {
  const { stamp, read } = await readModelBytes(path);
  const hit = parsed.get(path);
  if (hit?.stamp === stamp) return hit.tensors;
  const bytes = await read();
  let tensors: ExternalTensor[];
  try {
    tensors = externalTensors(bytes);
  } catch (cause) {
    if (!(cause instanceof WireFormatError)) throw cause;
    throw new ConveyorError(
      'ERR_MODEL_UNAVAILABLE',
      `${path} is not an ONNX model: ${cause.message}`,
      {
        cause,
        details: { path },
      },
    );
  }
  parsed.delete(path);
  parsed.set(path, { stamp, tensors });
  if (parsed.size > MAX_PARSED) parsed.delete(parsed.keys().next().value as string);
  return tensors;
}

/** The file's identity (inode, size, modification time) and a function that reads it. */
async function readModelBytes(
  path: string,
): Promise<{ stamp: string; read: () => Promise<Uint8Array> }> {
  const failed = (cause: unknown): ConveyorError => {
    const reason =
      (cause as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'is missing'
        : `cannot be read: ${(cause as Error).message}`;
    return new ConveyorError('ERR_MODEL_UNAVAILABLE', `${path} ${reason}`, {
      cause,
      details: { path },
    });
  };
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
    if (info.size > MAX_FILE_BYTES)
      throw new Error('larger than 2 GiB, more than one protobuf file can hold');
    return {
      stamp: `${info.ino}:${info.size}:${info.mtimeMs}`,
      read: () => readFile(path).catch((cause: unknown) => Promise.reject(failed(cause))),
    };
  } catch (cause) {
    throw failed(cause);
  }
}

const isInside = (dir: string, target: string): boolean => {
  const rel = relative(dir, target);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

async function locationIssue(
  { tensor, location }: ExternalTensor & { location: string },
  dir: string,
): Promise<ErrorIssue | undefined> {
  const issue = (why: string): ErrorIssue => ({
    path: location,
    message: `tensor "${tensor}" reads its data from "${location}", ${why}: only files inside the model's own folder may be read`,
  });
  if (isAbsolute(location) || win32.isAbsolute(location)) return issue('an absolute path');
  if (location.split(/[\\/]/).includes('..') || location.includes('\0'))
    return issue('a path that leads out of its folder');
  const target = resolve(dir, location);
  if (!isInside(dir, target)) return issue('a path outside its folder');
  const real = await realpath(target).catch(() => undefined);
  if (real !== undefined && !isInside(await realpath(dir).catch(() => dir), real))
    return issue('a link that leads outside its folder');
  return undefined;
}

/**
 * Checks that `path` is an ONNX ModelProto whose tensors read external data only from files
 * inside `dir` (default: the file's own folder), without loading it in onnxruntime. Throws
 * ERR_MODEL_UNSAFE listing each offending tensor (an absolute location, `..`, or a symbolic link
 * leading out), or ERR_MODEL_UNAVAILABLE for a file that is missing or not an ONNX model.
 *
 * @example
 * ```ts
 * const { externalData } = await checkOnnxFile('/uploads/abc/model.onnx', '/uploads/abc');
 * ```
 */
export async function checkOnnxFile(
  path: string,
  dir: string = dirname(path),
): Promise<OnnxFileInfo> {
  const tensors = await tensorsOf(resolve(path));
  const unnamed = tensors.find((t) => t.location === undefined);
  if (unnamed) {
    throw new ConveyorError(
      'ERR_MODEL_UNAVAILABLE',
      `${path}: tensor "${unnamed.tensor}" is stored externally but names no location`,
      { details: { path } },
    );
  }
  const located = tensors as (ExternalTensor & { location: string })[];
  const base = resolve(dir);
  const issues = (await Promise.all(located.map((t) => locationIssue(t, base)))).filter(
    (i): i is ErrorIssue => i !== undefined,
  );
  if (issues.length > 0) {
    throw new ConveyorError(
      'ERR_MODEL_UNSAFE',
      `${basename(path)} refers to data outside ${base}: ${issues.map((i) => i.message).join('; ')}`,
      { issues, details: { path } },
    );
  }
  return { externalData: [...new Set(located.map((t) => t.location))] };
}
