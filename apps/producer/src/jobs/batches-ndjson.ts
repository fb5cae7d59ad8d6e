import { StringDecoder } from 'node:string_decoder';
import { ConveyorError } from '@conveyor/shared';

/** One non-blank line of an NDJSON body: its 1-based line number and its parsed value. */
export interface NdjsonLine {
  line: number;
  value: unknown;
}

function parseLine(text: string, line: number): NdjsonLine {
  try {
    return { line, value: JSON.parse(text) as unknown };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConveyorError('ERR_VALIDATION', `line ${line} is not valid JSON: ${reason}`, {
      issues: [{ path: `line ${line}`, message: 'is not valid JSON' }],
      details: { line },
    });
  }
}

/**
 * Reads an NDJSON body as it arrives, one line at a time, without holding the whole text.
 * Blank lines are skipped but counted, so line numbers match an editor's. Throws ERR_VALIDATION
 * naming the first line that is not JSON, and ERR_PAYLOAD_TOO_LARGE once more than `maxBytes`
 * arrived (the body limit of every request, MAX_BODY_BYTES).
 */
export async function* ndjsonLines(
  body: AsyncIterable<Buffer | string>,
  maxBytes: number,
): AsyncGenerator<NdjsonLine> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let bytes = 0;
  let line = 0;
  for await (const chunk of body) {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (bytes > maxBytes) {
      throw new ConveyorError(
        'ERR_PAYLOAD_TOO_LARGE',
        `request body is over the limit of ${maxBytes} bytes (MAX_BODY_BYTES), at line ${line + 1}`,
        { details: { line: line + 1 } },
      );
    }
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n', start)) {
      line += 1;
      const text = pending.slice(start, end).trim();
      start = end + 1;
      if (text !== '') yield parseLine(text, line);
    }
    pending = pending.slice(start);
  }
  pending += decoder.end();
  if (pending.trim() !== '') yield parseLine(pending.trim(), line + 1);
}
