import {
  JOB_PAYLOAD_VERSION,
  isBase64,
  isCount,
  isDtype,
  isModelName,
  isModelVersion,
  isPlainRecord,
  isShape,
  isTensorMap,
  ownKeyCount,
  type JobResult,
} from '@conveyor/shared';

/*
 * Every result a client waits for is validated once on arrival, and zod's parse of it (a copy of
 * every object, a closure per check) was the largest cost of reading a result in the client's
 * profile. This hand-written check accepts only results that JobResultSchema accepts (it is, if
 * anything, stricter); whatever it does not accept goes to the schema, which gives the verdict and
 * the error as before. The worker reads payloads the same way (apps/worker/src/job-payload.ts).
 */

const isDuration = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/** A WireTensorSchema or a StoredTensorSchema, with no other key. */
function isOutputTensor(wire: unknown): boolean {
  if (!isPlainRecord(wire) || !isDtype(wire.dtype) || !isShape(wire.shape)) return false;
  const keys = ownKeyCount(wire);
  if ('data' in wire) return keys === 3 && isBase64(wire.data);
  return keys === 4 && isCount(wire.at) && isCount(wire.bytes);
}

function isTimings(timings: unknown): boolean {
  if (!isPlainRecord(timings)) return false;
  const { queuedMs, inferenceMs, runMs, batchRows } = timings;
  const keys = 2 + ('runMs' in timings ? 1 : 0) + ('batchRows' in timings ? 1 : 0);
  return (
    ownKeyCount(timings) === keys &&
    isDuration(queuedMs) &&
    isDuration(inferenceMs) &&
    (!('runMs' in timings) || isDuration(runMs)) &&
    (!('batchRows' in timings) || isCount(batchRows))
  );
}

/** True only for results JobResultSchema accepts unchanged. */
export function isPlainJobResult(value: unknown): value is JobResult {
  if (!isPlainRecord(value) || ownKeyCount(value) !== 5) return false;
  return (
    value.v === JOB_PAYLOAD_VERSION &&
    isModelName(value.model) &&
    isModelVersion(value.version) &&
    isTensorMap(value.outputs, isOutputTensor) &&
    isTimings(value.timings)
  );
}
