/**
 * A set of line numbers as a bitmap: one bit per line, so remembering which of a hundred million
 * rows are done takes 12.5 MB, not gigabytes of a Set.
 */
export class LineSet {
  private bits = new Uint8Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(line: number): boolean {
    const byte = line >>> 3;
    return byte < this.bits.length && ((this.bits[byte] ?? 0) & (1 << (line & 7))) !== 0;
  }

  add(line: number): void {
    const byte = line >>> 3;
    if (byte >= this.bits.length) {
      let length = this.bits.length;
      while (length <= byte) length *= 2;
      const grown = new Uint8Array(length);
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (line & 7);
    const current = this.bits[byte] ?? 0;
    if ((current & mask) === 0) {
      this.bits[byte] = current | mask;
      this.count += 1;
    }
  }
}
