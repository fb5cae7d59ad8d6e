import type { FileHandle } from 'node:fs/promises';

/** Bytes gathered before they are written. */
export const FLUSH_BYTES = 1 << 18;

/**
 * Appends lines to a file in large writes through one reused buffer. Each line is encoded into
 * the buffer as it is added, so its string dies young: strings held until a write (a result line
 * is a tree of short number strings until it is encoded) outlived the young generation, and the
 * old one grew with them until each full garbage collection, in saw teeth of tens of MB. A write
 * stream would instead turn every string into a Buffer of its own, memory outside the heap freed
 * only by full collections. Lines not yet written are lost on a kill, which a resume redoes: they
 * are not in the file.
 */
export class LineWriter {
  private bytes = 0;
  private buffer = Buffer.allocUnsafe(2 * FLUSH_BYTES);

  constructor(private readonly handle: FileHandle) {}

  /** Holds `text` (whole lines) for the next write. */
  add(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const most = 3 * text.length;
    if (this.bytes + most > this.buffer.length) {
      // Only a text larger than the buffer's spare room (a pack of wide outputs) grows it, once.
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.bytes + most));
      this.buffer.copy(grown, 0, 0, this.bytes);
      this.buffer = grown;
    }
    this.bytes += this.buffer.write(text, this.bytes);
  }

  /** Whether enough is held that it should be written now. */
  get full(): boolean {
    return this.bytes >= FLUSH_BYTES;
  }

  /** Writes every line held, in order. */
  async flush(): Promise<void> {
    const bytes = this.bytes;
    for (let at = 0; at < bytes;) {
      const { bytesWritten } = await this.handle.write(this.buffer, at, bytes - at);
      at += bytesWritten;
    }
    this.bytes = 0;
  }

  /** Writes what is held and closes the file. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }
}
