import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The packages an application installs, in dependency order, with their folders. */
export const PUBLISHED = {
  '@conveyor/shared': 'packages/shared',
  '@conveyor/engine': 'packages/engine',
  '@conveyor/sdk': 'packages/sdk',
  '@conveyor/telemetry': 'packages/telemetry',
  '@conveyor/worker': 'apps/worker',
  '@conveyor/producer': 'apps/producer',
  '@conveyor/cli': 'apps/cli',
} as const;

export type PublishedName = keyof typeof PUBLISHED;

/** Builds every package (`pnpm build`) from the repository root. */
export function buildPackages(timeoutMs = 600_000): void {
  try {
    execFileSync('pnpm', ['build'], { cwd: ROOT, stdio: 'pipe', timeout: timeoutMs });
  } catch (error) {
    // tsc writes its errors on stdout.
    const output = (error as { stdout?: Buffer }).stdout?.toString('utf8') ?? '';
    throw new Error(`pnpm build failed:\n${output}`, { cause: error });
  }
}

/**
 * Packs a package as it would be published (`pnpm pack`: `workspace:*` dependencies become
 * versions, only `files` are included) into `destination`; returns the tarball's path.
 * The package must have been built.
 */
export function packPackage(name: PublishedName, destination: string): string {
  const out = execFileSync('pnpm', ['pack', '--json', '--pack-destination', destination], {
    cwd: join(ROOT, PUBLISHED[name]),
    encoding: 'utf8',
    timeout: 120_000,
  });
  const { filename } = JSON.parse(out) as { filename: string };
  return filename;
}

/** The import specifiers of a module's source (static, dynamic, and `export … from`). */
function specifiers(code: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;
  for (const match of code.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/**
 * Every bare specifier the module graph from `entry` reaches, following relative imports
 * (JavaScript and declaration files alike).
 */
export function reachedPackages(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        queue.push(target, target.replace(/\.js$/, '.d.ts'));
      } else packages.add(specifier);
    }
  }
  return packages;
}
