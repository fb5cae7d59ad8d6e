/**
 * Triton's binary tensor data extension of the Open Inference Protocol: a body is a JSON header of
 * `Inference-Header-Content-Length` bytes followed by raw little-endian tensor bytes, one block per
 * tensor that names its `binary_data_size`, in the order of the header's tensors.
 */
import {
  ConveyorError,
  DTYPE_ARRAYS,
  bytesPerElement,
  decodeBytes,
  decodeStrings,
  tensorFromBytes,
  type Dtype,
  type TensorData,
} from '@conveyor/shared';

/** The request and response header that gives the JSON header's length in bytes. */
export const HEADER_LENGTH_HEADER = 'Inference-Header-Content-Length';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The elements of one binary block, whose byte count the caller has checked against the shape: for
 * numbers a typed array over the block itself when it is aligned for the dtype (a copy only when it
 * is not), for `string` (BYTES) the length-prefixed UTF-8 strings and for `bytes` (BYTES) the
 * length-prefixed raw elements (views of the block), which must fill the block exactly. The body is
 * not reused after the request, so a view of it is safe.
 */
export function elementsFromBytes(
  dtype: Dtype,
  bytes: Uint8Array,
  elements: number,
  where: string,
): TensorData {
  if (dtype === 'string') return decodeStrings(bytes, elements, where);
  if (dtype === 'bytes') return decodeBytes(bytes, elements, where);
  if (!LITTLE_ENDIAN_HOST) {
    return tensorFromBytes(dtype, [elements], bytes, {
      maxBytes: Number.POSITIVE_INFINITY,
      where,
    }).data;
  }
  let aligned = bytes;
  if (bytes.byteOffset % bytesPerElement(dtype) !== 0) {
    // Buffer#slice is a view, not a copy: copy into a fresh (aligned) array explicitly.
    aligned = new Uint8Array(bytes.byteLength);
    aligned.set(bytes);
  }
  const data = new DTYPE_ARRAYS[dtype](aligned.buffer, aligned.byteOffset, elements);
  if (dtype === 'bool' && (data as Uint8Array).some((v) => v > 1)) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: bool data holds bytes other than 0 and 1`,
    );
  }
  return data;
}

/** The JSON header text and the binary tensor bytes of a request body of the extension. */
export interface BinaryBody {
  header: string;
  binary: Buffer;
}

/** Splits a request body at `headerLength`; ERR_VALIDATION when the length does not fit the body. */
export function splitBinaryBody(body: Buffer, headerLength: number): BinaryBody {
  if (!Number.isSafeInteger(headerLength) || headerLength < 1 || headerLength > body.length) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${HEADER_LENGTH_HEADER} is ${headerLength} but the body has ${body.length} bytes`,
      {
        issues: [
          { path: 'headers.inference-header-content-length', message: 'is not within the body' },
        ],
      },
    );
  }
  return {
    header: body.subarray(0, headerLength).toString('utf8'),
    binary: body.subarray(headerLength),
  };
}

/** Reads the binary blocks of a request in order and checks that nothing is left over. */
export class BinaryReader {
  private offset = 0;

  constructor(private readonly binary: Buffer | undefined) {}

  /** The next `size` bytes, or ERR_TENSOR_INVALID naming `where` when the body has fewer. */
  take(size: number, where: string): Buffer {
    const available = (this.binary?.length ?? 0) - this.offset;
    if (this.binary === undefined || size > available) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        this.binary === undefined
          ? `${where}: parameters.binary_data_size needs a binary body with an ${HEADER_LENGTH_HEADER} header`
          : `${where}: binary_data_size is ${size} bytes but only ${available} bytes of binary data are left`,
        { details: { size, available } },
      );
    }
    const block = this.binary.subarray(this.offset, this.offset + size);
    this.offset += size;
    return block;
  }

  /** Throws ERR_TENSOR_INVALID when binary bytes follow the last input's block. */
  finish(): void {
    const left = (this.binary?.length ?? 0) - this.offset;
    if (left > 0) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `the body has ${left} bytes of binary data after the last input's binary_data_size`,
        { details: { left } },
      );
    }
  }
}

/** A response body of the extension: the JSON header, then each binary output's bytes. */
export function binaryResponseBody(
  header: unknown,
  blocks: readonly Uint8Array[],
): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...blocks]), headerLength: json.length };
}
