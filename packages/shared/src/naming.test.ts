import { describe, expect, it } from 'vitest';
import {
  aliasHistoryKey,
  aliasesKey,
  blobKey,
  groupKey,
  hashTagOf,
  modelKey,
  msFromRedisTime,
  newJobId,
  queueKey,
  queueName,
  queuePrefix,
  routeOfJobId,
  workerBeatsKey,
  workerRecordKey,
} from './naming.js';

const hashTag = hashTagOf;

describe('msFromRedisTime', () => {
  it("reads Redis's TIME reply, seconds and microseconds, as epoch milliseconds", () => {
    expect(msFromRedisTime(['1796169261', '810448'])).toBe(1_796_169_261_810);
    expect(msFromRedisTime(['0', '999'])).toBe(0);
  });

  it('refuses anything else', () => {
    for (const reply of [null, [], ['1'], ['a', '1'], ['1', '2', '3'], '1796169261'])
      expect(() => msFromRedisTime(reply)).toThrow(/unexpected reply to TIME/);
  });
});

describe('routeOfJobId', () => {
  it("reads a job id's model, version and queue", () => {
    const id = newJobId('text-direction', '12');
    expect(routeOfJobId(id)).toEqual({
      model: 'text-direction',
      version: '12',
      queue: queueName('text-direction', '12'),
    });
    expect(routeOfJobId('iris.1.k-0123abcd').model).toBe('iris');
  });

  it('refuses a string that is not a job id', () => {
    for (const id of ['iris', 'iris.1', 'iris.0.x', 'Iris.1.x', 'iris.1.a.b', 'iris.1.a_b', ''])
      expect(() => routeOfJobId(id), id).toThrow(/job ids look like/);
  });

  it('shares one frozen route per model version, which no caller can change', () => {
    const first = routeOfJobId(newJobId('iris', '3'));
    expect(routeOfJobId(newJobId('iris', '3'))).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(routeOfJobId(newJobId('iris', '4'))).not.toBe(first);
  });
});

describe('modelKey', () => {
  it('tags the model so its keys share a cluster slot', () => {
    expect(modelKey('conveyor', 'iris', 'log')).toBe('conveyor:{iris}:log');
    expect(modelKey('p', 'iris', 'shadow', '2', '3')).toBe('p:{iris}:shadow:2:3');
    expect(() => modelKey('p', 'Bad Name', 'log')).toThrow();
  });
});

describe('queuePrefix', () => {
  it("puts a model version's BullMQ keys where modelKey puts the model's own keys", () => {
    const queue = queueName('iris', '2');
    expect(queuePrefix('conveyor', queue)).toBe('conveyor:{iris}');
    expect(queueKey('conveyor', queue, 'wait')).toBe(modelKey('conveyor', 'iris', queue, 'wait'));
  });

  it('gives every version of a model one slot and two models two tags', () => {
    const tags = ['1', '7'].map((v) => hashTag(queueKey('p', queueName('iris', v), 'meta')));
    expect(tags).toEqual(['iris', 'iris']);
    expect(hashTag(queueKey('p', queueName('sentiment', '1'), 'meta'))).toBe('sentiment');
  });

  it('tags a queue that is not a model version on its own name', () => {
    expect(queuePrefix('p', 'callbacks')).toBe('p:{callbacks}');
  });

  it("keeps a job's stored inputs in its model's slot", () => {
    const id = newJobId('iris', '1');
    expect(hashTag(blobKey('p', id, 'input'))).toBe(
      hashTag(queueKey('p', queueName('iris', '1'), id)),
    );
  });
});

describe('groupKey', () => {
  it('keeps the keys one script touches together, apart from every model', () => {
    const meta = [aliasesKey('p'), aliasHistoryKey('p', 'iris'), workerBeatsKey('p')];
    meta.push(workerRecordKey('p', 'host:1:ab'));
    expect(new Set(meta.map(hashTag))).toEqual(new Set(['_meta']));
    expect(groupKey('p', 'webhooks', 'pending')).toBe('p:{_webhooks}:pending');
  });
});

describe('hashTagOf', () => {
  it('reads the tag Redis Cluster hashes, or the whole key without one', () => {
    expect(hashTagOf('p:{iris}:x')).toBe('iris');
    expect(hashTagOf('p:{}:x{a}')).toBe('p:{}:x{a}');
    expect(hashTagOf('p:plain')).toBe('p:plain');
  });
});
