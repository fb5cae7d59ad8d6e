/**
 * @file The arithmetic of the `text` step, over plain data: windows over a text's tokens, padded
 * id and mask rows, and the join of the windows' outputs back into one row per text.
 */
import { ConveyorError, createTensor, type Tensor } from '@conveyor/shared';

/** Tokens `[start, end)` of a text's tokens (special tokens not counted). */
export interface TokenSpan {
  start: number;
  end: number;
}

/**
 * The windows over `length` tokens: `size` tokens each, each starting `size - overlap` after the
 * one before; the last one ends at the text's end and may be shorter. A text of at most `size`
 * tokens (an empty one too) is one window.
 */
export function windowSpans(length: number, size: number, overlap: number): TokenSpan[] {
  if (size < 1 || overlap < 0 || overlap >= size) {
    throw new RangeError(`windows of ${size} tokens cannot overlap by ${overlap}`);
  }
  if (length <= size) return [{ start: 0, end: length }];
  const spans: TokenSpan[] = [];
  for (let start = 0; ; start += size - overlap) {
    const end = Math.min(start + size, length);
    spans.push({ start, end });
    if (end === length) return spans;
  }
}

/** Rows of token ids padded to one width: ids, a mask of 1 for tokens and 0 for padding. */
export interface PaddedRows {
  width: number;
  ids: number[];
  mask: number[];
}

/** Pads each row with `padId` to `width`, default the longest row's length. */
export function padRows(rows: readonly number[][], padId: number, width?: number): PaddedRows {
  const to = width ?? Math.max(0, ...rows.map((row) => row.length));
  const ids: number[] = [];
  const mask: number[] = [];
  for (const row of rows) {
    const pad = to - row.length;
    ids.push(...row, ...Array<number>(pad).fill(padId));
    mask.push(...Array<number>(row.length).fill(1), ...Array<number>(pad).fill(0));
  }
  return { width: to, ids, mask };
}

/** How the windows of one text become its output row. */
export type WindowJoin = 'mean' | 'max';

/**
 * Joins a model output whose rows are windows into one row per text: `counts[i]` consecutive
 * rows belong to text i, and are averaged or maxed element-wise. float32 and float64 only.
 */
export function joinWindowRows(tensor: Tensor, counts: readonly number[], how: WindowJoin): Tensor {
  if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64') {
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `a text's windows are joined over float outputs only, not ${tensor.dtype}`,
      { details: { dtype: tensor.dtype } },
    );
  }
  const data = tensor.data as Float32Array | Float64Array;
  const rowSize = tensor.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new (data.constructor as Float64ArrayConstructor)(counts.length * rowSize);
  let window = 0;
  counts.forEach((count, text) => {
    for (let k = 0; k < rowSize; k += 1) {
      let acc = how === 'max' ? Number.NEGATIVE_INFINITY : 0;
      for (let w = window; w < window + count; w += 1) {
        const value = data[w * rowSize + k] as number;
        acc = how === 'max' ? Math.max(acc, value) : acc + value;
      }
      out[text * rowSize + k] = how === 'max' ? acc : acc / count;
    }
    window += count;
  });
  const shape = [counts.length, ...tensor.shape.slice(1)];
  return createTensor(tensor.dtype, shape, out as Float32Array & Float64Array);
}
