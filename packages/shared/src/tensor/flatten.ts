import { ConveyorError } from '../errors.js';
import { MAX_RANK } from './tensor.js';

/** Walks nested arrays, checking they are rectangular, and returns the shape and flat values. */
export function flatten(
  value: readonly unknown[],
  where: string,
): { shape: number[]; values: unknown[] } {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    if (shape.length >= MAX_RANK) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: nested deeper than ${MAX_RANK} levels`,
      );
    }
    shape.push(level.length);
    level = level[0];
  }
  const depth = shape.length;
  // The path of an element is only spelled out for an error message: large tensors pay nothing.
  const pathOf = (indices: readonly number[]) => `data${indices.map((i) => `[${i}]`).join('')}`;
  const values: unknown[] = depth === 1 ? (value as unknown[]) : [];
  const indices: number[] = [];
  const walk = (node: readonly unknown[], level: number): void => {
    const width = shape[level] as number;
    if (node.length !== width) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: ragged array at ${pathOf(indices)}: expected ${width} entries like its siblings`,
      );
    }
    const leaf = level === depth - 1;
    for (let i = 0; i < width; i++) {
      const child = node[i];
      if (leaf) {
        if (Array.isArray(child)) {
          indices.push(i);
          throw new ConveyorError(
            'ERR_TENSOR_INVALID',
            `${where}: ${pathOf(indices)} is nested deeper than its siblings`,
          );
        }
        if (depth > 1) values.push(child);
        continue;
      }
      if (!Array.isArray(child)) {
        throw new ConveyorError(
          'ERR_TENSOR_INVALID',
          `${where}: ragged array at ${pathOf([...indices, i])}: expected ${shape[level + 1]} entries like its siblings`,
        );
      }
      indices.push(i);
      walk(child, level + 1);
      indices.pop();
    }
  };
  if (depth > 0) walk(value, 0);
  return { shape, values };
}
