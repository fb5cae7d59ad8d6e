/**
 * A minimal reader of the protobuf wire format, enough to walk an ONNX ModelProto down to its
 * tensors without decoding their weights: fields not on the way are skipped by their length.
 */

/** One field of a message: its number and wire type, and its value or byte range. */
export interface WireField {
  readonly field: number;
  readonly wire: number;
  /** The value of a varint field (exact up to 2^53). */
  readonly value: number;
  /** The byte range of a length-delimited field's payload. */
  readonly start: number;
  readonly end: number;
}

/** Thrown for bytes that are not a well-formed protobuf message. */
export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

function readVarint(bytes: Uint8Array, at: number, end: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    const byte = bytes[i] as number;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new WireFormatError(`a varint at byte ${at} runs past its message`);
}

/** The fields of the message in `bytes[start, end)`, in order; throws WireFormatError when malformed. */
export function* wireFields(bytes: Uint8Array, start: number, end: number): Generator<WireField> {
  let at = start;
  while (at < end) {
    const tag = readVarint(bytes, at, end);
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (field === 0) throw new WireFormatError(`field number 0 at byte ${at}`);
    at = tag.next;
    let value = 0;
    let payload = at;
    switch (wire) {
      case VARINT: {
        const read = readVarint(bytes, at, end);
        value = read.value;
        at = read.next;
        break;
      }
      case FIXED64:
        at += 8;
        break;
      case FIXED32:
        at += 4;
        break;
      case LENGTH_DELIMITED: {
        const length = readVarint(bytes, at, end);
        payload = length.next;
        at = length.next + length.value;
        break;
      }
      default:
        throw new WireFormatError(`field ${field} has wire type ${wire}, which ONNX never uses`);
    }
    if (at > end) throw new WireFormatError(`field ${field} runs past the end of its message`);
    yield { field, wire, value, start: payload, end: wire === LENGTH_DELIMITED ? at : payload };
  }
}

/** Whether a field is length-delimited (a string, bytes or an embedded message). */
export const isLengthDelimited = (f: WireField): boolean => f.wire === LENGTH_DELIMITED;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The UTF-8 text of a length-delimited field. */
export function fieldText(bytes: Uint8Array, f: WireField): string {
  return utf8.decode(bytes.subarray(f.start, f.end));
}
