/**
 * Pieces of ONNX graphs for the models the project generates (fixtures, test models), written
 * with onnx-proto.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;

/**
 * A graph input or output: its element type (default FLOAT) and dims, numbers for fixed sizes and
 * strings for symbolic ones (`'batch'`).
 */
export function valueInfo(
  name: string,
  dims: readonly (number | string)[],
  elemType: number = onnx.TensorProto.DataType.FLOAT,
): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}
