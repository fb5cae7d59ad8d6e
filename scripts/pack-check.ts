/**
 * `pnpm pack:check`: builds, packs every published package as `pnpm publish` would, and checks
 * each tarball: publint (package.json against the files), @arethetypeswrong/cli (types resolve
 * for ESM consumers; these packages are ESM-only, so the `esm-only` profile), and our own rules:
 * the licence ships, no `workspace:` range is left, no test file ships, the CLI's bin is a node
 * script, and the SDK's main entry never reaches the engine or onnxruntime.
 * Exits 1 on the first failing package, after printing what failed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  PUBLISHED,
  ROOT,
  buildPackages,
  packPackage,
  reachedPackages,
  type PublishedName,
} from './lib/pack.js';

const say = (line = '') => process.stdout.write(`${line}\n`);
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

function run(command: string, args: string[]): void {
  execFileSync(command, args, { cwd: ROOT, stdio: 'inherit', timeout: 300_000 });
}

function checkTarball(name: PublishedName, tarball: string, unpacked: string): string[] {
  const problems: string[] = [];
  execFileSync('tar', ['xzf', tarball, '-C', unpacked]);
  const root = join(unpacked, 'package');
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
  const json = readFileSync(join(root, 'package.json'), 'utf8');
  const pkg = JSON.parse(json) as { private?: boolean; bin?: Record<string, string> };
  if (pkg.private) problems.push('is private');
  if (json.includes('workspace:')) problems.push('a workspace: range was left in package.json');
  if (!existsSync(join(root, 'LICENSE'))) problems.push('has no LICENSE');
  else if (
    readFileSync(join(root, 'LICENSE'), 'utf8') !== readFileSync(join(ROOT, 'LICENSE'), 'utf8')
  )
    problems.push(
      `LICENSE differs from the repository's (copy it: cp LICENSE ${PUBLISHED[name]}/)`,
    );
  const tests = files.filter((f) => /\.test\.|\/test\//.test(f));
  if (tests.length > 0) problems.push(`ships test files: ${tests.slice(0, 3).join(', ')}`);
  for (const [command, path] of Object.entries(pkg.bin ?? {})) {
    const script = join(root, path);
    if (!existsSync(script)) problems.push(`bin ${command}: ${path} is not in the package`);
    else if (!readFileSync(script, 'utf8').startsWith('#!/usr/bin/env node\n'))
      problems.push(`bin ${command}: ${path} does not start with #!/usr/bin/env node`);
  }
  // Files the code opens next to itself (`new URL('../x', import.meta.url)`) must ship too.
  for (const file of files.filter((f) => f.startsWith('package/dist/') && f.endsWith('.js'))) {
    const code = readFileSync(join(unpacked, file), 'utf8');
    for (const [, relative] of code.matchAll(/new URL\(\s*'(\.[^']+)',\s*import\.meta\.url/g)) {
      if (!existsSync(join(unpacked, dirname(file), relative!)))
        problems.push(
          `${file.slice('package/'.length)} opens ${relative}, which is not in the package`,
        );
    }
  }
  if (name === '@conveyor/sdk') {
    const reached = [
      ...reachedPackages(join(root, 'dist', 'index.js')),
      ...reachedPackages(join(root, 'dist', 'index.d.ts')),
    ];
    const engine = reached.filter((p) => /^(@conveyor\/engine|onnxruntime)/.test(p));
    if (engine.length > 0)
      problems.push(`the main entry reaches ${engine.join(', ')}; only ./embedded may`);
  }
  return problems;
}

function main(): number {
  say('== build');
  buildPackages();
  const work = mkdtempSync(join(tmpdir(), 'conveyor-pack-'));
  try {
    for (const name of Object.keys(PUBLISHED) as PublishedName[]) {
      say(`\n== ${name}`);
      const tarball = packPackage(name, work);
      const unpacked = mkdtempSync(join(work, 'unpacked-'));
      const problems = checkTarball(name, tarball, unpacked);
      for (const problem of problems) say(`${name}: ${problem}`);
      if (problems.length > 0) return 1;
      run(bin('publint'), ['run', tarball, '--strict']);
      // The CLI is a bin without an import entry: there are no types to check.
      if (name !== '@conveyor/cli')
        run(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped']);
    }
    say('\npack:check: every package packs, lints and resolves');
    return 0;
  } catch (error) {
    say(`pack:check failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = main();
