import type { FileHandle } from 'node:fs/promises';

/** Text gathered before it is written, in UTF-16 code units. */
export const FLUSH_CHARS = 1 << 18;

/**
 * Appends lines to a file in large writes through one reused buffer. A write stream turns every
 * string into a Buffer of its own, which lives until its write is done: over a million result
 * lines that is a hundred MB of short-lived memory outside the heap, freed only by full garbage
 * collections, so the process grew all run long. Lines not yet written are lost on a kill,
 * which a resume redoes: they are not in the file.
 */
export class LineWriter {
  private pending: string[] = [];
  private chars = 0;
  private scratch = Buffer.allocUnsafe(3 * FLUSH_CHARS);

  constructor(private readonly handle: FileHandle) {}

  /** Holds `text` (whole lines) for the next write. */
  add(text: string): void {
    this.pending.push(text);
    this.chars += text.length;
  }

  /** Whether enough text is held that it should be written now. */
  get full(): boolean {
    return this.chars >= FLUSH_CHARS;
  }

  /** Writes every line held, in order. */
  async flush(): Promise<void> {
    if (this.chars === 0) return;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (this.scratch.length < 3 * this.chars) this.scratch = Buffer.allocUnsafe(3 * this.chars);
    let bytes = 0;
    for (const text of this.pending) bytes += this.scratch.write(text, bytes);
    this.pending = [];
    this.chars = 0;
    for (let at = 0; at < bytes;) {
      const { bytesWritten } = await this.handle.write(this.scratch, at, bytes - at);
      at += bytesWritten;
    }
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
