import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createModelAdmin, type ModelAdmin } from '@conveyor/sdk';
import {
  EXTERNAL_WEIGHTS,
  externalDataModel,
} from '../../../packages/engine/test/support/onnx-models.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { tempRepository, type TempRepository } from '../../../test/support/repository.js';
import { snapshot } from '../../../test/support/snapshot.js';
import { MODELS, startInProcessWorker } from '../../../test/support/workers.js';
import { freePort } from '../src/redis-server.js';
import { runCli, tempDir } from './support.js';

const redisUrl = inject('redisUrl');

/** The output with the parts that change from run to run replaced: times and host names. */
const stable = (text: string) =>
  text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'YYYY-MM-DDTHH:MM:SSZ')
    .replace(/\bops@\S+/g, 'ops@<host>');

describe('conveyor models lifecycle commands, with a worker on a repository of iris 1', () => {
  const prefix = uniquePrefix();
  let repo: TempRepository;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let admin: ModelAdmin;
  let flags: string[];
  const files = tempDir();

  beforeAll(async () => {
    repo = await tempRepository({ iris: ['1'] });
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repo.root });
    admin = await createModelAdmin({ redisUrl, prefix });
    flags = ['--redis-url', redisUrl, '--prefix', prefix];
    await copyFile(join(MODELS, 'iris', '1', 'model.onnx'), join(files, 'iris-v2.onnx'));
  }, 60_000);

  afterAll(async () => {
    await admin?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await repo?.remove();
  });

  const cli = (...args: string[]) =>
    runCli([...args, ...flags], { env: { USER: 'ops', MODEL_REPOSITORY: repo.root } });

  const ready = async (model: string, version: string) =>
    expect
      .poll(
        async () => (await admin.status(model)).versions.find((v) => v.version === version)?.state,
        { timeout: 30_000, interval: 200 },
      )
      .toBe('ready');

  it('shows the status of a model whose production alias is not set', async () => {
    const run = await cli('models', 'status', 'iris');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'iris',
        'version  state  workers  inputs                    outputs',
        '1        ready  1        features float32 [-1, 4]  probabilities float32 [-1, 3]',
        '',
        'aliases: none',
        '',
        'unpinned requests: the newest version, 1 (production is not set)',
        `rule: ${(await admin.status('iris')).rule}`,
        '',
        'recent changes:',
        'no alias changes yet',
        '',
      ].join('\n'),
    );
  });

  it('publishes a file as the next version, pinning production, and the worker loads it', async () => {
    const run = await cli('models', 'publish', 'iris', join(files, 'iris-v2.onnx'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.replace(repo.root, '<repository>')).toBe(
      [
        'published iris@2: <repository>/iris/2/model.onnx',
        '  input   features       float32 [-1, 4]',
        '  output  probabilities  float32 [-1, 3]',
        'production pinned to 1: iris@2 takes no unpinned traffic until it is rolled out',
        'next: conveyor models rollout iris 2 --weight 10',
        'workers asked to rescan: 1',
        '',
      ].join('\n'),
    );
    await ready('iris', '2');
  });

  it('refuses to publish over an existing version (exit 2) and writes nothing', async () => {
    const before = await snapshot(repo.root);
    const run = await cli(
      'models',
      'publish',
      'iris',
      join(files, 'iris-v2.onnx'),
      '--version',
      '2',
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^conveyor: ERR_MODEL_VERSION_EXISTS: /);
    expect(await snapshot(repo.root)).toEqual(before);
  });

  it('refuses a file that is not ONNX (exit 2) and writes nothing', async () => {
    const before = await snapshot(repo.root);
    await writeFile(join(files, 'notes.onnx'), 'not a model');
    const run = await cli('models', 'publish', 'iris', join(files, 'notes.onnx'));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^conveyor: ERR_MODEL_FILE_INVALID: /);
    expect(await snapshot(repo.root)).toEqual(before);
  });

  it('publishes a model with its external data file beside it', async () => {
    await writeFile(join(files, 'add.onnx'), externalDataModel('weights.bin'));
    await writeFile(join(files, 'weights.bin'), EXTERNAL_WEIGHTS);
    const run = await cli('models', 'publish', 'adder', join(files, 'add.onnx'), '--json');
    expect(run.code).toBe(0);
    const published = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(published).toMatchObject({ name: 'adder', version: '1', notified: 1 });
    // A new model has no version unpinned requests could move from: nothing is pinned.
    expect(published.pin).toBeUndefined();
    const after = await snapshot(repo.root);
    expect(after).toContain('adder/1/weights.bin 16');
    expect(after.filter((f) => f.startsWith('adder/1/model.onnx '))).toHaveLength(1);
    await ready('adder', '1');
  });

  it('rolls version 2 out to 10 %, promotes it and rolls it back, one line each', async () => {
    const rollout = await cli('models', 'rollout', 'iris', '2', '--weight', '10');
    expect([rollout.code, rollout.stdout]).toEqual([0, 'production: 1 -> 2:10% 1:90%\n']);
    const promote = await cli('models', 'promote', 'iris');
    expect([promote.code, promote.stdout]).toEqual([0, 'production: 2:10% 1:90% -> 2\n']);
    const rollback = await cli('models', 'rollback', 'iris');
    expect([rollback.code, rollback.stdout]).toEqual([0, 'production: 2 -> 1\n']);
  });

  it('prints the history as an aligned table, newest first, and as JSON', async () => {
    const run = await cli('models', 'history', 'iris');
    expect(run.code).toBe(0);
    expect(stable(run.stdout)).toBe(
      [
        'at                    action    alias       from         to           by',
        'YYYY-MM-DDTHH:MM:SSZ  rollback  production  2            1            ops@<host>',
        'YYYY-MM-DDTHH:MM:SSZ  promote   production  2:10% 1:90%  2            ops@<host>',
        'YYYY-MM-DDTHH:MM:SSZ  rollout   production  1            2:10% 1:90%  ops@<host>',
        'YYYY-MM-DDTHH:MM:SSZ  set       production  -            1            ops@<host>',
        '',
      ].join('\n'),
    );
    const json = await cli('models', 'history', 'iris', '--limit', '1', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      model: 'iris',
      history: [{ action: 'rollback', alias: 'production', from: { '2': 100 }, to: { '1': 100 } }],
    });
  });

  it('sets an alias to weights, warns about a version no worker serves, and deletes it', async () => {
    const split = await cli('models', 'alias', 'iris', 'canary', '2=5,1=95');
    expect([split.code, split.stdout, split.stderr]).toEqual([
      0,
      'canary: (none) -> 2:5% 1:95%\n',
      '',
    ]);
    const unserved = await cli('models', 'alias', 'iris', 'canary', '9');
    expect(unserved.stdout).toBe('canary: 2:5% 1:95% -> 9\n');
    expect(unserved.stderr).toBe('conveyor: warning: no worker serves version 9 of "iris" now\n');
    const deleted = await cli('models', 'alias', 'iris', 'canary', '--delete');
    expect(deleted.stdout).toBe('canary: 9 -> (deleted)\n');
    const again = await cli('models', 'alias', 'iris', 'canary', '--delete');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^conveyor: ERR_ALIAS_NOT_FOUND: /);
  });

  it('refuses a malformed target, and a rollout without --weight, with exit 2', async () => {
    const target = await cli('models', 'alias', 'iris', 'canary', '2=x');
    expect(target.code).toBe(2);
    expect(target.stderr).toMatch(/^conveyor: ERR_VALIDATION: /);
    const weight = await cli('models', 'rollout', 'iris', '2');
    expect(weight.code).toBe(2);
    expect(weight.stderr).toMatch(/^conveyor: ERR_USAGE: .*--weight/);
  });

  it('prints the status as JSON', async () => {
    const run = await cli('models', 'status', 'iris', '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      name: 'iris',
      aliases: { production: { '1': 100 } },
      versions: [
        { version: '1', state: 'ready' },
        { version: '2', state: 'ready' },
      ],
    });
  });

  it('exits 4 when Redis does not answer', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const run = await runCli(['models', 'status', 'iris', '--redis-url', dead]);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/^conveyor: ERR_QUEUE_UNAVAILABLE: /);
  });
});
