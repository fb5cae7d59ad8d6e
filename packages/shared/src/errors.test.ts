import { describe, expect, it } from 'vitest';
import {
  ConveyorError,
  ERROR_CATALOGUE,
  ERROR_CODES,
  isConveyorError,
  isErrorCode,
  rejectionOf,
  toConveyorError,
} from './errors.js';

/**
 * Every code's HTTP status and retryability, written out here rather than read back from the
 * catalogue, so that a changed status or a flipped retryable fails this test. A new code fails
 * too, until it is added here (and to docs/errors.md).
 */
const EXPECTED: Record<string, [status: number, retryable: boolean]> = {
  ERR_VALIDATION: [400, false],
  ERR_TENSOR_INVALID: [400, false],
  ERR_TENSOR_TOO_LARGE: [413, false],
  ERR_INPUT_MISSING: [400, false],
  ERR_INPUT_UNEXPECTED: [400, false],
  ERR_INPUT_DTYPE: [400, false],
  ERR_INPUT_VALUE: [400, false],
  ERR_INPUT_SHAPE: [400, false],
  ERR_OUTPUT_UNKNOWN: [400, false],
  ERR_FEATURES_UNSUPPORTED: [400, false],
  ERR_RECORD_FIELD: [400, false],
  ERR_TEXT_TOO_LONG: [413, false],
  ERR_IMAGE_INVALID: [400, false],
  ERR_IMAGE_TOO_LARGE: [413, false],
  ERR_PAYLOAD_INVALID: [400, false],
  ERR_RESULT_TOO_LARGE: [507, false],
  ERR_MODEL_NOT_FOUND: [404, false],
  ERR_MODEL_VERSION_NOT_FOUND: [404, false],
  ERR_ALIAS_NOT_FOUND: [404, false],
  ERR_MODEL_VERSION_EXISTS: [409, false],
  ERR_MODEL_FILE_INVALID: [400, false],
  ERR_MODEL_UNAVAILABLE: [503, true],
  ERR_MODEL_CONFIG_INVALID: [500, false],
  ERR_MODEL_UNSAFE: [400, false],
  ERR_INFERENCE_FAILED: [500, false],
  ERR_DEADLINE_EXCEEDED: [504, false],
  ERR_JOB_TIMEOUT: [504, true],
  ERR_JOB_NOT_FOUND: [404, false],
  ERR_PREDICTION_NOT_FOUND: [404, false],
  ERR_FEEDBACK_EXISTS: [409, false],
  ERR_SCALER_FAILED: [502, true],
  ERR_JOB_NOT_CANCELLABLE: [409, false],
  ERR_IDEMPOTENCY_KEY_REUSED: [422, false],
  ERR_IDEMPOTENCY_IN_PROGRESS: [409, true],
  ERR_JOB_STALLED: [500, false],
  ERR_JOB_FAILED: [500, false],
  ERR_BATCH_NOT_FOUND: [404, false],
  ERR_CALLBACK_NOT_ALLOWED: [400, false],
  ERR_QUEUE_UNAVAILABLE: [503, true],
  ERR_CONFIG_INVALID: [500, false],
  ERR_CLOSED: [503, false],
  ERR_ROUTE_NOT_FOUND: [404, false],
  ERR_UNSUPPORTED_MEDIA_TYPE: [415, false],
  ERR_PAYLOAD_TOO_LARGE: [413, false],
  ERR_DATATYPE_UNSUPPORTED: [400, false],
  ERR_UNAUTHORIZED: [401, false],
  ERR_FORBIDDEN: [403, false],
  ERR_QUEUE_FULL: [429, true],
  ERR_RATE_LIMITED: [429, true],
  ERR_USAGE: [400, false],
  ERR_FILE_UNREADABLE: [400, false],
  ERR_INTERNAL: [500, false],
};

describe('the error catalogue', () => {
  it('holds exactly the expected codes, each with its expected status and retryability', () => {
    expect([...ERROR_CODES].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const code of ERROR_CODES) {
      const entry = ERROR_CATALOGUE[code];
      expect({ code, status: entry.status, retryable: entry.retryable }).toEqual({
        code,
        status: EXPECTED[code]![0],
        retryable: EXPECTED[code]![1],
      });
    }
  });

  it('has codes that the failedReason pattern can carry', () => {
    for (const code of ERROR_CODES) expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
  });

  it('gives every code an HTTP error status, a summary and a fix', () => {
    for (const code of ERROR_CODES) {
      const entry = ERROR_CATALOGUE[code];
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.status).toBeLessThan(600);
      expect(entry.summary.length).toBeGreaterThan(0);
      expect(entry.fix.length).toBeGreaterThan(0);
    }
  });

  it('recognises its own codes and nothing else', () => {
    expect(isErrorCode('ERR_VALIDATION')).toBe(true);
    expect(isErrorCode('ERR_NOPE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});

describe('ConveyorError', () => {
  it('takes its status and retryability from its code', () => {
    for (const code of ERROR_CODES) {
      const error = new ConveyorError(code, 'x');
      expect({ code, status: error.status, retryable: error.retryable }).toEqual({
        code,
        status: EXPECTED[code]![0],
        retryable: EXPECTED[code]![1],
      });
    }
  });

  it('keeps frozen details and issues and serialises them with its code', () => {
    const error = new ConveyorError('ERR_VALIDATION', 'bad', {
      details: { model: 'iris' },
      issues: [{ path: 'inputs.x', message: 'required' }],
    });
    expect(Object.isFrozen(error.details)).toBe(true);
    expect(Object.isFrozen(error.issues)).toBe(true);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: 'ERR_VALIDATION',
      message: 'bad',
      details: { model: 'iris' },
      issues: [{ path: 'inputs.x', message: 'required' }],
    });
  });
});

describe('isConveyorError', () => {
  it('recognises an error by its name and code, as a copy from another package would be', () => {
    const foreign = Object.assign(new Error('from elsewhere'), {
      name: 'ConveyorError',
      code: 'ERR_MODEL_NOT_FOUND',
    });
    expect(isConveyorError(foreign)).toBe(true);
    expect(isConveyorError(new ConveyorError('ERR_INTERNAL', 'x'))).toBe(true);
  });

  it('refuses an error whose name or code is not Conveyor’s', () => {
    expect(isConveyorError(Object.assign(new TypeError('x'), { code: 'ERR_VALIDATION' }))).toBe(
      false,
    );
    expect(
      isConveyorError(
        Object.assign(new Error('x'), { name: 'ConveyorError', code: 'ERR_UNKNOWN' }),
      ),
    ).toBe(false);
    expect(isConveyorError(Object.assign(new Error('x'), { name: 'ConveyorError' }))).toBe(false);
    expect(isConveyorError({ name: 'ConveyorError', code: 'ERR_VALIDATION', message: 'x' })).toBe(
      false,
    );
    expect(isConveyorError(undefined)).toBe(false);
  });
});

describe('toConveyorError', () => {
  it('passes a ConveyorError through unchanged', () => {
    const error = new ConveyorError('ERR_JOB_TIMEOUT', 'slow');
    expect(toConveyorError(error)).toBe(error);
  });

  it('wraps anything else in ERR_INTERNAL, or the given code, keeping it as the cause', () => {
    const cause = new RangeError('boom');
    const wrapped = toConveyorError(cause);
    expect(wrapped.code).toBe('ERR_INTERNAL');
    expect(wrapped.cause).toBe(cause);
    expect(toConveyorError('text', 'ERR_INFERENCE_FAILED').code).toBe('ERR_INFERENCE_FAILED');
  });
});

describe('rejectionOf', () => {
  it('rejects with an Error as it is, and with anything else as ERR_INTERNAL', async () => {
    const error = new RangeError('boom');
    await expect(rejectionOf(error)).rejects.toBe(error);
    await expect(rejectionOf('text')).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
      message: 'text',
    });
  });
});
