import { describe, expect, it } from 'vitest';
import { ConveyorError, ERROR_CODES } from './errors.js';
import {
  FAILURE_DETAILS_MARKER,
  MAX_FAILURE_DETAILS_BYTES,
  boundDetails,
  exposedDetails,
  formatFailure,
  parseFailure,
} from './failure.js';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

const recordError = (fields: { row: number; field: string; reason: string }[]) =>
  new ConveyorError('ERR_RECORD_FIELD', 'bad record fields', {
    details: {
      input: 'record',
      row: fields[0]?.row,
      field: fields[0]?.field,
      reason: fields[0]?.reason,
      count: fields.length,
      fields,
      modelDir: '/srv/models/iris',
    },
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

describe('failure details', () => {
  const fields = [
    { row: 0, field: 'sepal_length', reason: 'missing' },
    { row: 1, field: 'colour', reason: 'extra' },
    { row: 1, field: 'petal_width', reason: 'type' },
  ];

  it('carries the details the catalogue exposes, and no others', () => {
    const reason = formatFailure(recordError(fields));
    expect(reason).toContain(FAILURE_DETAILS_MARKER);
    expect(reason).not.toContain('/srv/models');
    const parsed = parseFailure(reason, { jobId: '3' });
    expect(parsed.code).toBe('ERR_RECORD_FIELD');
    expect(parsed.message).toBe('bad record fields');
    expect(parsed.details).toEqual({
      input: 'record',
      row: 0,
      field: 'sepal_length',
      reason: 'missing',
      count: 3,
      fields,
      jobId: '3',
    });
  });

  it('writes no details for a code that exposes none, so old readers see the old format', () => {
    const error = new ConveyorError('ERR_MODEL_NOT_FOUND', 'no such model', {
      details: { model: 'x', path: '/srv/models' },
    });
    expect(formatFailure(error)).toBe('ERR_MODEL_NOT_FOUND: no such model');
    expect(exposedDetails(error)).toEqual({});
  });

  it("carries an input error's own details and no others", () => {
    const error = new ConveyorError('ERR_INPUT_SHAPE', 'bad shape', {
      details: { input: 'x', expected: [-1, 4], actual: [4], path: '/srv/models' },
    });
    expect(parseFailure(formatFailure(error)).details).toEqual({
      input: 'x',
      expected: [-1, 4],
      actual: [4],
    });
  });

  it('carries validation issues across the queue, and only well-formed ones back', () => {
    const issues = [
      { path: 'inputs.x.shape', message: 'Expected array' },
      { path: 'model', message: 'Required' },
    ];
    const error = new ConveyorError('ERR_PAYLOAD_INVALID', 'payload of job 1 is invalid', {
      issues,
      details: { secret: 'not shown' },
    });
    const read = parseFailure(formatFailure(error));
    expect(read.message).toBe('payload of job 1 is invalid');
    expect(read.issues).toEqual(issues);
    expect(read.details).toEqual({});
    const forged = `ERR_PAYLOAD_INVALID: bad${FAILURE_DETAILS_MARKER}{"issues":[{"path":1},{"path":"a","message":"b"}]}`;
    expect(parseFailure(forged).issues).toEqual([{ path: 'a', message: 'b' }]);
  });

  it('reads an old reason (no details) and a reason whose details are not JSON', () => {
    expect(parseFailure('ERR_RECORD_FIELD: bad record fields').details).toEqual({});
    const broken = `ERR_RECORD_FIELD: bad${FAILURE_DETAILS_MARKER}{not json`;
    expect(parseFailure(broken).message).toBe(`bad${FAILURE_DETAILS_MARKER}{not json`);
    expect(parseFailure(broken).details).toEqual({});
  });

  it('drops keys the catalogue does not expose when reading, too', () => {
    const reason = `ERR_RECORD_FIELD: bad${FAILURE_DETAILS_MARKER}{"count":1,"stack":"at x"}`;
    expect(parseFailure(reason).details).toEqual({ count: 1 });
  });

  it('keeps a message that holds the marker whole', () => {
    const message = `a${FAILURE_DETAILS_MARKER}{"count":2}`;
    const parsed = parseFailure(formatFailure(new ConveyorError('ERR_RECORD_FIELD', message)));
    expect(parsed.message).toBe(message);
    expect(parsed.details).toEqual({});
  });

  it('cuts details over the bound by their last list items, and says so', () => {
    const many = Array.from({ length: 100 }, (_, row) => ({
      row,
      field: `field_${'x'.repeat(200)}`,
      reason: 'extra',
    }));
    const details = exposedDetails(recordError(many));
    expect(bytes(details)).toBeLessThanOrEqual(MAX_FAILURE_DETAILS_BYTES);
    expect(details.truncated).toBe(true);
    expect(details.count).toBe(100);
    const kept = details.fields as typeof many;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(100);
    expect(kept).toEqual(many.slice(0, kept.length));
    // The bound is the fullest: one more item would not fit.
    expect(bytes({ ...details, fields: many.slice(0, kept.length + 1) })).toBeGreaterThan(
      MAX_FAILURE_DETAILS_BYTES,
    );
    const parsed = parseFailure(formatFailure(recordError(many)));
    expect(parsed.details).toEqual(details);
  });

  it('drops a value too large to cut, and leaves details within the bound alone', () => {
    expect(boundDetails({ a: 'x'.repeat(100), b: 1 }, 64)).toEqual({ b: 1, truncated: true });
    expect(boundDetails({ a: [1, 2, 3] }, 64)).toEqual({ a: [1, 2, 3] });
    expect(boundDetails({ a: 'x'.repeat(100) }, 8)).toEqual({});
    expect(boundDetails({ a: 1n })).toEqual({});
  });
});
