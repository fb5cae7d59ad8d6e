/**
 * @file The fast road for a CSV of numbers: rows go straight from the file's bytes into one typed
 * array per block of rows, in the order of the model's input labels, with no per-row object. A
 * line with a quote (which may open a field across lines) hands the rest of the file to
 * csv-parse, from that line on, so every file still reads as csv-parse reads it.
 */
import { open } from 'node:fs/promises';
import { ConveyorError, featureInput, type ModelSignature } from '@conveyor/shared';
import { COMMA, NEWLINE, QUOTE, RETURN, SPACE, TAB } from './ascii.js';
import { plainNumber } from './number-field.js';

/** Rows per block: the unit the reader hands on, packed with others into jobs. */
export const BLOCK_ROWS = 512;
/** The header must end within this many bytes for the fast road to be taken. */
const HEADER_BYTES = 1 << 16;
const CHUNK_BYTES = 1 << 18;

/** Consecutive rows of the file: `values` holds `lines.length` rows, row-major. */
export interface RowBlock {
  /** The 1-based input line of each row (the header is line 1). */
  readonly lines: number[];
  readonly values: Float32Array | Float64Array;
}

/** A row the reader refused, by its line. */
export interface RowError {
  line: number;
  error: ConveyorError;
}

/** How a CSV maps onto a model's only input, when it can take the fast road. */
export interface NumericCsvPlan {
  /** The input the rows fill. */
  input: string;
  dtype: 'float32' | 'float64';
  /** Column names, in the file's order. */
  header: string[];
  /** For each column of the file, its index among the input's labels. */
  order: number[];
  /** Bytes of the header line, its newline and any byte order mark included. */
  bodyStart: number;
}

/** Rows of a csv-parse read, from `csvRows` in input-reader.ts. */
export type CsvRecords = (from: {
  start: number;
  line: number;
  header: string[];
}) => AsyncIterable<{ line: number; inputs: Record<string, unknown> } | RowError>;

const isBlank = (bytes: Uint8Array, from: number, to: number): boolean => {
  for (let at = from; at < to; at += 1)
    if (bytes[at] !== SPACE && bytes[at] !== TAB && bytes[at] !== RETURN) return false;
  return true;
};

/**
 * The plan for a CSV whose header names exactly the labels of the model's only input, of dtype
 * float32 or float64, and has no quote; undefined for any other file or model (which the general
 * reader takes).
 */
export async function numericCsvPlan(
  path: string,
  signature: ModelSignature,
): Promise<NumericCsvPlan | undefined> {
  let spec;
  try {
    spec = featureInput(signature);
  } catch {
    return undefined;
  }
  if (spec.dtype !== 'float32' && spec.dtype !== 'float64') return undefined;
  const handle = await open(path, 'r');
  const head = Buffer.alloc(HEADER_BYTES);
  let bytes: number;
  try {
    ({ bytesRead: bytes } = await handle.read(head, 0, HEADER_BYTES, 0));
  } finally {
    await handle.close();
  }
  const end = head.subarray(0, bytes).indexOf(NEWLINE);
  if (end === -1) return undefined;
  const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  const text = head.toString('utf8', bom, end).replace(/\r$/, '');
  if (text.includes('"') || text.includes('\r')) return undefined;
  const header = text.split(',').map((name) => name.trim());
  const order = header.map((name) => spec.labels.indexOf(name));
  if (header.length !== spec.labels.length || new Set(order).size !== order.length)
    return undefined;
  if (order.some((i) => i === -1)) return undefined;
  return { input: spec.name, dtype: spec.dtype, header, order, bodyStart: end + 1 };
}

/**
 * Reads the rows of a CSV planned by `numericCsvPlan`, in blocks of up to `blockRows` rows, and
 * a RowError for each row that is not numbers (at once, ahead of the block its neighbours are
 * in). Rows for which `skip(line)` is true are left out. Values are read as csv-parse and Number
 * read them: trimmed, an empty or non-finite value refused.
 */
export async function* csvBlocks(
  path: string,
  plan: NumericCsvPlan,
  options: { skip: (line: number) => boolean; csvRecords: CsvRecords; blockRows?: number },
): AsyncGenerator<RowBlock | RowError> {
  const { header, order } = plan;
  const width = header.length;
  const blockRows = options.blockRows ?? BLOCK_ROWS;
  const Values = plan.dtype === 'float64' ? Float64Array : Float32Array;
  let values = new Values(blockRows * width);
  let lines: number[] = [];
  const ready: (RowBlock | RowError)[] = [];
  const flush = () => {
    if (lines.length === 0) return;
    const used = lines.length * width;
    ready.push({ lines, values: used === values.length ? values : values.slice(0, used) });
    values = new Values(blockRows * width);
    lines = [];
  };
  const badValue = (line: number, column: number, text: string) =>
    new ConveyorError(
      'ERR_VALIDATION',
      `line ${line}: column "${header[column] ?? column}" is "${text}", not a number`,
      { details: { line, column: header[column] } },
    );

  /** Parses the line `bytes[from, to)` into the block; false when it holds a quote. */
  const parseLine = (bytes: Buffer, from: number, to: number, line: number): boolean => {
    if (to > from && bytes[to - 1] === RETURN) to -= 1;
    if (isBlank(bytes, from, to)) return true;
    // A quote may open a field that goes on over the next lines: csv-parse reads from here.
    if (options.skip(line)) return bytes.subarray(from, to).indexOf(QUOTE) === -1;
    const base = lines.length * width;
    let column = 0;
    let bad: ConveyorError | undefined;
    for (let start = from; ; column += 1) {
      let end = start;
      while (end < to && bytes[end] !== COMMA) {
        if (bytes[end] === QUOTE) return false;
        end += 1;
      }
      if (column < width && bad === undefined) {
        let value = plainNumber(bytes, start, end);
        if (value === undefined) {
          const text = bytes.toString('utf8', start, end).trim();
          value = text === '' ? Number.NaN : Number(text);
          if (!Number.isFinite(value)) bad = badValue(line, column, text);
        }
        values[base + (order[column] as number)] = value;
      }
      if (end >= to) break;
      start = end + 1;
    }
    if (column + 1 !== width) {
      bad = new ConveyorError(
        'ERR_VALIDATION',
        `line ${line} has ${column + 1} values; the header names ${width}`,
      );
    }
    if (bad !== undefined) ready.push({ line, error: bad });
    else {
      lines.push(line);
      if (lines.length === blockRows) flush();
    }
    return true;
  };

  let line = 1;
  let switchAt: number | undefined;
  // The bytes of a line cut at the end of the last read, and where they are in the file.
  let carry: Buffer | undefined;
  let carryAt = plan.bodyStart;
  // Where the current read starts in the file.
  let at = plan.bodyStart;
  // One buffer for every read: a stream's fresh Buffer per read is memory outside the heap that
  // only a full garbage collection frees, and the process grew with it all run long.
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  const handle = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, at);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      let start = 0;
      if (carry !== undefined) {
        // Only the cut line is copied, not the whole read.
        const nl = chunk.indexOf(NEWLINE);
        if (nl === -1) {
          carry = Buffer.concat([carry, chunk]);
          at += chunk.length;
          continue;
        }
        const joined = Buffer.concat([carry, chunk.subarray(0, nl)]);
        carry = undefined;
        line += 1;
        if (!parseLine(joined, 0, joined.length, line)) {
          switchAt = carryAt;
          break;
        }
        start = nl + 1;
      }
      for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        line += 1;
        if (!parseLine(chunk, start, nl, line)) {
          switchAt = at + start;
          break;
        }
        start = nl + 1;
      }
      if (switchAt !== undefined) break;
      if (start < chunk.length) {
        // A copy: the buffer is read into again.
        carry = Buffer.from(chunk.subarray(start));
        carryAt = at + start;
      }
      at += chunk.length;
      yield* ready.splice(0);
    }
  } finally {
    await handle.close();
  }
  if (switchAt === undefined && carry !== undefined) {
    line += 1;
    if (!parseLine(carry, 0, carry.length, line)) switchAt = carryAt;
  }
  if (switchAt !== undefined) {
    line -= 1;
    for await (const row of options.csvRecords({ start: switchAt, line, header })) {
      if (options.skip(row.line)) continue;
      if ('error' in row) {
        ready.push(row);
      } else {
        const base = lines.length * width;
        header.forEach(
          (name, i) => (values[base + (order[i] as number)] = row.inputs[name] as number),
        );
        lines.push(row.line);
        if (lines.length === blockRows) flush();
      }
      if (ready.length > 0) yield* ready.splice(0);
    }
  }
  flush();
  yield* ready.splice(0);
}
