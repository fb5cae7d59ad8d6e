import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BLOCK_ALIGN, readBinaryBody, type BinaryBodyOptions } from './binary-body.js';

/** Reads `chunks` through readBinaryBody; resolves with the body or the error it gave. */
function read(chunks: readonly Buffer[], options: BinaryBodyOptions): Promise<Buffer | Error> {
  const stream = new PassThrough();
  const result = new Promise<Buffer | Error>((resolve) =>
    readBinaryBody(stream, options, (error, body) => resolve(error ?? (body as Buffer))),
  );
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return result;
}

const errorCode = (value: Buffer | Error) =>
  value instanceof Error ? (value as Error & { code?: string }).code : undefined;

describe('readBinaryBody', () => {
  it('keeps the bytes and starts the binary part at an aligned offset, whatever the header length', async () => {
    for (const headerLength of [1, 5, 8, 13]) {
      const bytes = Buffer.from(Array.from({ length: headerLength + 16 }, (_, i) => i));
      const body = await read([bytes.subarray(0, 7), bytes.subarray(7)], {
        limit: 1024,
        contentLength: String(bytes.length),
        headerLength,
      });
      expect(Buffer.compare(body as Buffer, bytes)).toBe(0);
      expect(((body as Buffer).byteOffset + headerLength) % BLOCK_ALIGN).toBe(0);
    }
  });

  it('refuses a body over the limit with FST_ERR_CTP_BODY_TOO_LARGE, declared or sent', async () => {
    const declared = await read([Buffer.alloc(4)], {
      limit: 8,
      contentLength: '9',
      headerLength: 1,
    });
    expect(errorCode(declared)).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
    const sent = await read([Buffer.alloc(6), Buffer.alloc(6)], {
      limit: 8,
      contentLength: undefined,
      headerLength: 1,
    });
    expect(errorCode(sent)).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
  });

  it('refuses a body shorter than its Content-Length with FST_ERR_CTP_INVALID_CONTENT_LENGTH', async () => {
    const short = await read([Buffer.alloc(4)], { limit: 64, contentLength: '6', headerLength: 1 });
    expect(errorCode(short)).toBe('FST_ERR_CTP_INVALID_CONTENT_LENGTH');
  });
});
