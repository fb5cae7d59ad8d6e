/**
 * A prediction as a gRPC `ModelInferResponse`, encoded by the same core as REST: every output goes
 * in `raw_output_contents` (as Triton's clients expect), little-endian, BYTES elements each a
 * 4-byte little-endian length and that many bytes, as in Triton.
 */
import type { Prediction } from '@conveyor/sdk';
import { encodeInferResponse } from '../oip/infer-run.js';
import type { InferRequest } from '../oip/schemas.js';
import type { ModelInferResponse } from './proto.js';

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function toModelInferResponse(
  body: InferRequest,
  prediction: Prediction,
): ModelInferResponse {
  const { head, outputs, blocks } = encodeInferResponse(body, prediction, { binary: () => true });
  // proto3 has no absent string: a request without an id gets an empty one back.
  const { id = '', ...model } = head;
  return {
    ...model,
    id,
    outputs: outputs.map((output) => ({
      name: output.name,
      datatype: output.datatype,
      shape: output.shape,
    })),
    raw_output_contents: blocks.map(asBuffer),
  };
}
