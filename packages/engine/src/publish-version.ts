/**
 * @module Publishing a model version into a model repository. The files are written to a staging
 * folder inside the repository (so the final move is a rename on one file system), checked as a
 * worker would check them, and only then renamed into `<name>/<version>/` in one step: a worker
 * rescanning meanwhile sees either no version or the whole of it, never half a file.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ConveyorError,
  ModelNameSchema,
  ModelVersionSchema,
  compareVersions,
  parseOrThrow,
  toConveyorError,
  type Logger,
  type ModelSignature,
} from '@conveyor/shared';
import { inspectVersion } from './load-version.js';
import { readModelVersion } from './model-repository.js';
import { checkOnnxFile } from './onnx-file.js';

/** The hidden folder of the repository where versions are staged; workers skip hidden folders. */
export const STAGING_DIR = '.conveyor-staging';

const MODEL_FILE = 'model.onnx';
const CONFIG_FILE = 'model.json';
// One protobuf message, which is what an .onnx file is, holds at most 2 GiB.
const MAX_ONNX_BYTES = 2 ** 31 - 1;

export interface PublishOptions {
  /** The model repository folder (MODEL_REPOSITORY); it must exist. */
  repository: string;
  name: string;
  /** Default: one more than the newest version on disk or in `taken`, else 1. */
  version?: string | undefined;
  /**
   * The .onnx file: a path (the external data files it names are copied with it) or a stream of
   * its bytes (a model without external data).
   */
  model: string | Readable;
  /** A model.json to publish beside the model (a path); default none. */
  config?: string | undefined;
  /** Versions known elsewhere (announced by workers) that the new version must not reuse. */
  taken?: readonly string[];
  /** Largest model stream accepted, in bytes; more is ERR_PAYLOAD_TOO_LARGE. Default 2 GiB - 1. */
  maxBytes?: number;
  logger?: Logger;
}

/** A version checked and waiting in the staging folder: commit it or discard it. */
export interface StagedVersion {
  readonly name: string;
  readonly version: string;
  /** The versions on disk before this one, oldest first. */
  readonly existing: readonly string[];
  /** The version's folder once committed. */
  readonly dir: string;
  /** The model file once committed. */
  readonly modelPath: string;
  /** The signature onnxruntime reports, with what a published model.json adds. */
  readonly signature: ModelSignature;
  /**
   * Runs `before` (what must happen before workers can see the version, such as pinning an
   * alias), then renames the staged folder into place and resolves with what `before` returned.
   * On any failure the staged files are deleted. ERR_MODEL_VERSION_EXISTS if the version
   * appeared meanwhile.
   */
  commit<T>(before?: () => Promise<T>): Promise<T | undefined>;
  /** Deletes the staged folder; nothing stays on disk. */
  discard(): Promise<void>;
}

/** ERR_MODEL_VERSION_EXISTS for a version that is already in the repository (or announced). */
export function versionExists(name: string, version: string, existing: readonly string[]) {
  return new ConveyorError(
    'ERR_MODEL_VERSION_EXISTS',
    `model "${name}" already has version ${version} (versions: ${existing.join(', ') || 'none on disk'}); published versions are never overwritten: publish it as a new version`,
    { details: { model: name, version } },
  );
}

async function versionsOnDisk(modelDir: string): Promise<string[]> {
  const items = await readdir(modelDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return items.filter((v) => ModelVersionSchema.safeParse(v).success).sort(compareVersions);
}

function chooseVersion(
  name: string,
  wanted: string | undefined,
  existing: readonly string[],
  taken: readonly string[],
): string {
  const all = new Set([...existing, ...taken]);
  if (wanted !== undefined) {
    if (all.has(wanted)) throw versionExists(name, wanted, existing);
    return wanted;
  }
  const next = String(Math.max(0, ...[...all].map(Number)) + 1);
  return parseOrThrow(ModelVersionSchema, next, 'next version');
}

async function checkRepository(root: string): Promise<void> {
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new ConveyorError(
      'ERR_CONFIG_INVALID',
      `model repository ${root} is not a folder (MODEL_REPOSITORY)`,
      { details: { repository: root } },
    );
  }
}

/**
 * Streams `source` into a new file, failing with ERR_PAYLOAD_TOO_LARGE past `maxBytes`. The source
 * is unpiped, not destroyed, on that failure: an HTTP request stays open for its 413 answer.
 */
async function writeLimited(source: Readable, target: string, maxBytes: number): Promise<void> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes <= maxBytes) return done(null, chunk);
      source.unpipe(counter);
      done(
        new ConveyorError(
          'ERR_PAYLOAD_TOO_LARGE',
          `the model file is over the limit of ${maxBytes} bytes (MAX_MODEL_UPLOAD_BYTES)`,
          { details: { limit: maxBytes } },
        ),
      );
    },
  });
  source.once('error', (error) => counter.destroy(error));
  source.pipe(counter);
  await pipeline(counter, createWriteStream(target, { flags: 'wx' }));
}

/** Copies a model file and the external data files it names (checked to stay in its folder). */
async function copyModel(source: string, staging: string): Promise<void> {
  const from = resolve(source);
  const { externalData } = await checkOnnxFile(from);
  await copyFile(from, join(staging, MODEL_FILE));
  for (const location of externalData) {
    const target = join(staging, location);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(resolve(dirname(from), location), target);
  }
}

/** Writes the files of the version into the staging folder. */
async function writeFiles(staging: string, options: PublishOptions): Promise<void> {
  if (typeof options.model === 'string') await copyModel(options.model, staging);
  else
    await writeLimited(
      options.model,
      join(staging, MODEL_FILE),
      options.maxBytes ?? MAX_ONNX_BYTES,
    );
  if (options.config !== undefined) await copyFile(options.config, join(staging, CONFIG_FILE));
}

/**
 * The error of a staged version that cannot be served, as the publisher should see it: paths in
 * the final folder's terms, and a file onnxruntime cannot load (ERR_MODEL_UNAVAILABLE, retryable
 * for a worker) as ERR_MODEL_FILE_INVALID, which retrying cannot fix.
 */
function publishError(error: unknown, staging: string, where: string): ConveyorError {
  const known = toConveyorError(error);
  const fix = (text: string) => text.replaceAll(staging, where);
  const code = known.code === 'ERR_MODEL_UNAVAILABLE' ? 'ERR_MODEL_FILE_INVALID' : known.code;
  return new ConveyorError(code, fix(known.message), {
    cause: known,
    issues: known.issues.map((i) => ({ path: fix(i.path), message: fix(i.message) })),
    details: { path: where },
  });
}

/** Reads the staged folder as a worker would and loads it in onnxruntime (no warm-up). */
async function check(
  staging: string,
  name: string,
  version: string,
  options: PublishOptions,
): Promise<ModelSignature> {
  const entry = await readModelVersion(staging, name, version);
  const served = await inspectVersion(entry, {
    threads: 1,
    warmup: false,
    ...(options.logger && { logger: options.logger }),
  });
  return served.signature;
}

async function removeStaging(root: string, staging: string): Promise<void> {
  await rm(staging, { recursive: true, force: true });
  // The shared staging folder goes when it is empty, so a refused upload leaves no trace.
  await rmdir(join(root, STAGING_DIR)).catch(() => undefined);
}

/**
 * Writes a model version to the repository's staging folder and checks it: a valid name and
 * version, an ONNX file whose external data stays in its folder, loadable in onnxruntime with a
 * signature Conveyor can carry, and a version not yet on disk (nor in `taken`). Nothing is visible
 * to workers until `commit()`; on any error the staged files are gone. Errors: ERR_VALIDATION,
 * ERR_MODEL_VERSION_EXISTS, ERR_PAYLOAD_TOO_LARGE, ERR_MODEL_UNSAFE, ERR_MODEL_FILE_INVALID.
 */
export async function stageModelVersion(options: PublishOptions): Promise<StagedVersion> {
  const name = parseOrThrow(ModelNameSchema, options.name, 'model name');
  const wanted =
    options.version === undefined
      ? undefined
      : parseOrThrow(ModelVersionSchema, options.version, 'version');
  const root = resolve(options.repository);
  await checkRepository(root);
  const existing = await versionsOnDisk(join(root, name));
  const version = chooseVersion(name, wanted, existing, options.taken ?? []);
  const staging = join(root, STAGING_DIR, randomUUID());
  await mkdir(staging, { recursive: true });
  const dir = join(root, name, version);
  let signature: ModelSignature;
  try {
    await writeFiles(staging, options);
    signature = await check(staging, name, version, options);
  } catch (error) {
    await removeStaging(root, staging);
    throw publishError(error, staging, dir);
  }
  return {
    name,
    version,
    existing,
    dir,
    modelPath: join(dir, MODEL_FILE),
    signature,
    async commit<T>(before?: () => Promise<T>): Promise<T | undefined> {
      let result: T | undefined;
      try {
        result = await before?.();
      } catch (error) {
        await removeStaging(root, staging);
        throw error;
      }
      await commitStaged({ root, staging, name, version, existing });
      return result;
    },
    discard: () => removeStaging(root, staging),
  };
}

async function commitStaged(staged: {
  root: string;
  staging: string;
  name: string;
  version: string;
  existing: readonly string[];
}): Promise<void> {
  const { root, staging, name, version } = staged;
  const modelDir = join(root, name);
  const target = join(modelDir, version);
  const created = await mkdir(modelDir, { recursive: true });
  try {
    if (
      await lstat(target).then(
        () => true,
        () => false,
      )
    )
      throw versionExists(name, version, staged.existing);
    // rename(2) replaces an empty folder but refuses a full one; the check above refuses both.
    await rename(staging, target);
  } catch (error) {
    await removeStaging(root, staging);
    if (created !== undefined) await rmdir(modelDir).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY')
      throw versionExists(name, version, staged.existing);
    throw error;
  }
  await rmdir(join(root, STAGING_DIR)).catch(() => undefined);
}
