import { describe, expect, it } from 'vitest';
import {
  ConveyorError,
  ERROR_CATALOGUE,
  ERROR_CODES,
  formatFailure,
  isConveyorError,
  isErrorCode,
  parseFailure,
  toConveyorError,
} from './errors.js';

describe('the error catalogue', () => {
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
  it('takes its status and retryability from the catalogue', () => {
    for (const code of ERROR_CODES) {
      const error = new ConveyorError(code, 'x');
      expect(error.status).toBe(ERROR_CATALOGUE[code].status);
      expect(error.retryable).toBe(ERROR_CATALOGUE[code].retryable);
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

describe('failure reasons', () => {
  it.each(ERROR_CODES)('round-trips %s through formatFailure and parseFailure', (code) => {
    const parsed = parseFailure(
      formatFailure(new ConveyorError(code, 'first line: with a colon\nsecond line')),
    );
    expect(parsed.code).toBe(code);
    expect(parsed.message).toBe('first line: with a colon\nsecond line');
  });

  it('keeps an empty message', () => {
    const parsed = parseFailure(formatFailure(new ConveyorError('ERR_CLOSED', '')));
    expect(parsed.code).toBe('ERR_CLOSED');
    expect(parsed.message).toBe('');
  });

  it('turns a reason without a Conveyor code into ERR_JOB_FAILED, keeping the reason as its message', () => {
    for (const reason of [
      'job stalled more than allowable limit (not exactly)',
      'ERR_NOT_A_CODE: x',
      'err_validation: x',
      '',
    ]) {
      const parsed = parseFailure(reason);
      expect(parsed.code).toBe('ERR_JOB_FAILED');
      expect(parsed.message).toBe(reason);
    }
  });

  it("turns BullMQ's reason for a job whose worker kept dying into ERR_JOB_STALLED", () => {
    const parsed = parseFailure('job stalled more than allowable limit', { jobId: '9' });
    expect(parsed.code).toBe('ERR_JOB_STALLED');
    expect(parsed.message).toMatch(/^job stalled more than allowable limit: the worker/);
    expect(parsed.details).toEqual({ jobId: '9' });
  });

  it('attaches the given details to the parsed error', () => {
    expect(parseFailure('ERR_INPUT_SHAPE: bad', { jobId: '7' }).details).toEqual({ jobId: '7' });
    expect(parseFailure('weird', { jobId: '8' }).details).toEqual({ jobId: '8' });
  });
});
