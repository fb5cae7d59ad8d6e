import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createModelAdmin, type ModelAdmin } from '@conveyor/sdk';
import { ROOT, runCli } from '../apps/cli/test/support.js';
import { dropPrefix, uniquePrefix } from './support/prefix.js';
import { MODELS, startInProcessWorker } from './support/workers.js';

const redisUrl = inject('redisUrl');

/** One `$ conveyor ...` line of a console block and the output printed under it. */
interface Step {
  command: string[];
  expected: string;
}

/** The steps of every ```console block of a document, in order. */
function consoleSteps(markdown: string): Step[] {
  const steps: Step[] = [];
  for (const [, block = ''] of markdown.matchAll(/^```console\n([\s\S]*?)^```$/gm)) {
    for (const line of block.split('\n').slice(0, -1)) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2).split(/\s+/), expected: '' });
      else if (steps.length > 0) (steps.at(-1) as Step).expected += `${line}\n`;
    }
  }
  return steps;
}

/** Output with what differs between runs replaced: times and the host in `ops@host`. */
const stable = (text: string) =>
  text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'YYYY-MM-DDTHH:MM:SSZ')
    .replace(/\bops@\S+/g, 'ops@host');

describe('docs/lifecycle.md, run against a real Redis and worker', () => {
  const prefix = uniquePrefix();
  let dir: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let admin: ModelAdmin;

  beforeAll(async () => {
    // The walkthrough's working directory: the legacy iris 1 in ./models, the new file beside it.
    dir = await mkdtemp(join(tmpdir(), 'conveyor-lifecycle-doc-'));
    await cp(join(MODELS, 'iris', '1'), join(dir, 'models', 'iris', '1'), { recursive: true });
    await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(dir, 'iris-v2.onnx'));
    // `conveyor` runs through tsx, which node resolves from the working directory.
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODEL_REPOSITORY: join(dir, 'models'),
    });
    admin = await createModelAdmin({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await admin?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(dir, { recursive: true, force: true });
  });

  it('prints what the walkthrough shows, command by command', async () => {
    const steps = consoleSteps(await readFile(join(ROOT, 'docs', 'lifecycle.md'), 'utf8'));
    expect(steps.map((s) => s.command.slice(0, 3).join(' '))).toContain('conveyor models publish');
    for (const { command, expected } of steps) {
      expect(command[0]).toBe('conveyor');
      const run = await runCli([...command.slice(1), '--redis-url', redisUrl, '--prefix', prefix], {
        cwd: dir,
        env: { USER: 'ops', MODEL_REPOSITORY: 'models' },
      });
      expect({ command: command.join(' '), code: run.code, stdout: stable(run.stdout) }).toEqual({
        command: command.join(' '),
        code: 0,
        stdout: stable(expected),
      });
      // The next command shows the published version as a worker serves it: wait for that.
      if (command[2] === 'publish') {
        await expect
          .poll(async () => (await admin.status('iris')).versions.map((v) => v.state), {
            timeout: 30_000,
            interval: 200,
          })
          .toEqual(['ready', 'ready']);
      }
    }
  }, 180_000);
});
