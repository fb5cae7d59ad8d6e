import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isConveyorError } from '@conveyor/shared';
import { ndjsonLines, type NdjsonLine } from './batches-ndjson.js';

/** A body that arrives in the given chunks. */
const body = (...chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c)));

async function read(stream: Readable, maxBytes = 1024): Promise<NdjsonLine[]> {
  const lines: NdjsonLine[] = [];
  for await (const line of ndjsonLines(stream, maxBytes)) lines.push(line);
  return lines;
}

async function failure(stream: Readable, maxBytes = 1024) {
  try {
    await read(stream, maxBytes);
  } catch (error) {
    return isConveyorError(error) ? { code: error.code, details: error.details } : error;
  }
  return undefined;
}

describe('ndjsonLines', () => {
  it('parses lines split across chunks, and a last line without a newline', async () => {
    expect(await read(body('{"a":', '1}\n{"b"', ':2}\n{"c":3}'))).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 2, value: { b: 2 } },
      { line: 3, value: { c: 3 } },
    ]);
  });

  it('skips blank lines but counts them, and reads CRLF line ends', async () => {
    expect(await read(body('{"a":1}\r\n\r\n  \n{"b":2}\r\n'))).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 4, value: { b: 2 } },
    ]);
  });

  it('keeps a multi-byte character split between chunks', async () => {
    const bytes = Buffer.from('{"s":"é"}\n');
    const stream = Readable.from([bytes.subarray(0, 7), bytes.subarray(7)]);
    expect(await read(stream)).toEqual([{ line: 1, value: { s: 'é' } }]);
  });

  it('names the first line that is not JSON', async () => {
    expect(await failure(body('{"a":1}\n\n{oops}\n{"b":2}\n'))).toEqual({
      code: 'ERR_VALIDATION',
      details: { line: 3 },
    });
  });

  it('stops with ERR_PAYLOAD_TOO_LARGE once the body passes the limit', async () => {
    expect(await failure(body('{"a":1}\n', '{"b":2}\n', '{"c":3}\n'), 12)).toMatchObject({
      code: 'ERR_PAYLOAD_TOO_LARGE',
    });
  });
});
