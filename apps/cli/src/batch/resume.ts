import { createReadStream } from 'node:fs';
import { stat, truncate } from 'node:fs/promises';
import { ConveyorError, isConveyorError } from '@conveyor/shared';
import { fileError } from '../inputs.js';
import { LineSet } from './line-set.js';

const NEWLINE = 0x0a;

/** The rows an earlier run already wrote to a result file. */
export interface DoneRows {
  readonly lines: LineSet;
  /** Bytes of a cut-off last line that were dropped (0 when the file ended cleanly). */
  readonly truncatedBytes: number;
}

function lineNumberOf(text: string): number | undefined {
  try {
    const value: unknown = JSON.parse(text);
    const line = (value as { line?: unknown } | null)?.line;
    return typeof line === 'number' && Number.isSafeInteger(line) && line > 0 ? line : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a result file (--out or --failed) of an earlier run: the line number of every complete
 * record. A last line without its newline is what a killed run leaves behind: it is cut off the
 * file, so its row is done again and appended records start on a fresh line. Any other line that
 * is not a record means the file is not ours: ERR_VALIDATION, and the file is left alone.
 */
export async function readDoneRows(path: string, what: string): Promise<DoneRows> {
  const lines = new LineSet();
  const info = await stat(path).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return undefined;
    throw fileError(path, what, cause);
  });
  if (!info) return { lines, truncatedBytes: 0 };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let offset = 0;
  let complete = 0;
  let number = 0;
  const take = (chunk: Buffer) => {
    let start = 0;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, at);
      const text = (pendingBytes > 0 ? Buffer.concat([...pending, piece]) : piece).toString('utf8');
      number += 1;
      complete = offset + at + 1;
      pending = [];
      pendingBytes = 0;
      start = at + 1;
      if (text.trim() === '') continue;
      const line = lineNumberOf(text);
      if (line === undefined) {
        throw new ConveyorError(
          'ERR_VALIDATION',
          `${what} ${path} line ${number} is not a batch record ({"line": n, ...}); move the file away or pick another path`,
          { details: { path, line: number } },
        );
      }
      lines.add(line);
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
    }
    offset += chunk.length;
  };
  try {
    for await (const chunk of createReadStream(path)) take(chunk as Buffer);
  } catch (cause) {
    if (isConveyorError(cause)) throw cause;
    throw fileError(path, what, cause);
  }
  const truncatedBytes = offset - complete;
  if (truncatedBytes > 0) await truncate(path, complete);
  return { lines, truncatedBytes };
}
