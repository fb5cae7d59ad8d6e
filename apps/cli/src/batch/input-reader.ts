import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import {
  ConveyorError,
  isConveyorError,
  toConveyorError,
  type ModelSignature,
} from '@conveyor/shared';
import { fileError, inputsForModel, parseInputsValue } from '../inputs.js';
import {
  csvBlocks,
  numericCsvPlan,
  type NumericCsvPlan,
  type RowBlock,
  type RowError,
} from './csv-blocks.js';

/** What the reader needs of a model's signature to give a bare array to its only input. */
type InputsOf = Pick<ModelSignature, 'name' | 'version' | 'inputs'>;

/** The formats `conveyor batch` reads. */
export type InputFormat = 'jsonl' | 'csv';

/** One row of the input file, by its 1-based line number: its inputs, or why it cannot be read. */
export type InputRow =
  { line: number; inputs: Record<string, unknown> } | { line: number; error: ConveyorError };

/** The format a file name implies: `.csv` is CSV, `.jsonl`, `.ndjson` and `.json` are JSON lines. */
export function formatOfPath(path: string): InputFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson') || lower.endsWith('.json'))
    return 'jsonl';
  return undefined;
}

async function* jsonLines(path: string, signature: InputsOf): AsyncGenerator<InputRow> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim() === '') continue;
    const where = `line ${line}`;
    try {
      yield { line, inputs: inputsForModel(parseInputsValue(text, where), where, signature) };
    } catch (error) {
      yield { line, error: toConveyorError(error) };
    }
  }
}

/** Where a read starts in the middle of a file: its byte, the lines before it, and the header. */
export interface CsvFrom {
  start: number;
  line: number;
  header: string[];
}

async function* csvRows(path: string, text: boolean, from?: CsvFrom): AsyncGenerator<InputRow> {
  const parser = createReadStream(path, { start: from?.start ?? 0 }).pipe(
    parse({ info: true, relax_column_count: true, skip_empty_lines: true, trim: true, bom: true }),
  );
  let header = from?.header;
  const before = from?.line ?? 0;
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const { record, info } = item;
    if (header === undefined) {
      header = record;
      const seen = new Set<string>();
      for (const name of header) {
        if (name === '' || seen.has(name)) {
          throw new ConveyorError(
            'ERR_VALIDATION',
            `${path}: the header row must name every column once (got ${header.map((h) => `"${h}"`).join(', ')})`,
          );
        }
        seen.add(name);
      }
      continue;
    }
    const line = before + info.lines;
    if (record.length !== header.length) {
      yield {
        line,
        error: new ConveyorError(
          'ERR_VALIDATION',
          `line ${line} has ${record.length} values; the header names ${header.length}`,
        ),
      };
      continue;
    }
    if (text) {
      // The model takes strings: every value is text, the empty string included.
      yield { line, inputs: Object.fromEntries(header.map((name, i) => [name, record[i] ?? ''])) };
      continue;
    }
    const inputs: Record<string, number> = {};
    let bad: ConveyorError | undefined;
    record.forEach((text, i) => {
      const name = header?.[i] ?? String(i);
      const value = text === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(value) && bad === undefined) {
        bad = new ConveyorError(
          'ERR_VALIDATION',
          `line ${line}: column "${name}" is "${text}", not a number`,
          { details: { line, column: name } },
        );
      }
      inputs[name] = value;
    });
    yield bad === undefined ? { line, inputs } : { line, error: bad };
  }
}

/**
 * Streams the rows of an input file: JSON lines (each line an inputs object, or an array for a
 * model with one input) or CSV (a header row naming the features, then one row of numbers per
 * line; of text for a model whose only input is of dtype `string`). Only a window of the file is
 * in memory. A row that cannot be read comes back with its error; a file that cannot be parsed at
 * all throws.
 */
export async function* readRows(
  path: string,
  format: InputFormat,
  signature: InputsOf,
): AsyncGenerator<InputRow> {
  // CSV values are text for a model whose (single) input takes strings, numbers otherwise.
  const text = signature.inputs.length === 1 && signature.inputs[0]?.dtype === 'string';
  try {
    yield* format === 'csv' ? csvRows(path, text) : jsonLines(path, signature);
  } catch (error) {
    throw readError(path, error);
  }
}

function readError(path: string, error: unknown): ConveyorError {
  if (isConveyorError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('CSV_'))
    return new ConveyorError(
      'ERR_VALIDATION',
      `${path} is not valid CSV: ${(error as Error).message}`,
    );
  return fileError(path, 'input file', error);
}

/** Rows that go to predictMany as one item: one row, or a block of rows of one tensor. */
export interface WorkItem {
  /** The input line of each row, in order along the first dimension. */
  lines: number[];
  inputs: Record<string, unknown>;
  /** A block's row `i` alone, as its own inputs; absent for a single row. */
  row?: (i: number) => Record<string, unknown>;
}

function blockItem(plan: NumericCsvPlan, block: RowBlock): WorkItem {
  const { input, dtype } = plan;
  const width = plan.header.length;
  const tensor = (data: Float32Array | Float64Array) => ({
    [input]: { data, shape: [data.length / width, width], dtype },
  });
  return {
    lines: block.lines,
    inputs: tensor(block.values),
    row: (i) => tensor(block.values.subarray(i * width, (i + 1) * width)),
  };
}

/**
 * The rows of an input file as predictMany items, leaving out those for which `skip(line)` is
 * true. With `blocks`, a CSV of numbers for a model with one labelled input (see
 * numericCsvPlan) comes in blocks of rows, each one tensor; any other file comes row by row as
 * readRows reads it. A row that cannot be read comes back with its error.
 */
export async function* readWork(
  path: string,
  format: InputFormat,
  signature: ModelSignature,
  options: { blocks: boolean; skip: (line: number) => boolean },
): AsyncGenerator<WorkItem | RowError> {
  const { skip } = options;
  try {
    const plan =
      options.blocks && format === 'csv' ? await numericCsvPlan(path, signature) : undefined;
    if (plan !== undefined) {
      const csvRecords = (from: CsvFrom) => csvRows(path, false, from);
      for await (const item of csvBlocks(path, plan, { skip, csvRecords }))
        yield 'error' in item ? item : blockItem(plan, item);
      return;
    }
  } catch (error) {
    throw readError(path, error);
  }
  for await (const row of readRows(path, format, signature)) {
    if (skip(row.line)) continue;
    yield 'error' in row ? row : { lines: [row.line], inputs: row.inputs };
  }
}

/** Counts the rows of an input file by counting its newlines (an estimate for the progress bar). */
export async function countRows(path: string, format: InputFormat): Promise<number> {
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buffer = chunk as Buffer;
    for (let at = buffer.indexOf(0x0a); at !== -1; at = buffer.indexOf(0x0a, at + 1)) lines += 1;
    if (buffer.length > 0) last = buffer[buffer.length - 1] ?? 0x0a;
  }
  if (last !== 0x0a) lines += 1;
  return Math.max(0, format === 'csv' ? lines - 1 : lines);
}
