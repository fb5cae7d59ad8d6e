import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  silentLogger,
  type Logger,
} from '@conveyor/shared';
import type { StepContext } from './step.js';

/** Options of `createStepContext`. */
export interface StepContextOptions {
  /** Default: a silent logger. */
  log?: Logger;
  /** Default: DEFAULT_MAX_TENSOR_BYTES (64 MiB). */
  maxTensorBytes?: number;
}

/** The context steps of one version get; tests build one over a folder of their own. */
export function createStepContext(
  versionDir: string,
  options: StepContextOptions = {},
): StepContext {
  const root = path.resolve(versionDir);
  return Object.freeze({
    versionDir: root,
    log: options.log ?? silentLogger(),
    maxTensorBytes: options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES,
    async readText(file: string): Promise<string> {
      const full = path.resolve(root, file);
      if (!full.startsWith(root + path.sep)) {
        throw new ConveyorError(
          'ERR_MODEL_CONFIG_INVALID',
          `"${file}" is not a file of the version folder`,
          { details: { file } },
        );
      }
      try {
        return await readFile(full, 'utf8');
      } catch (error) {
        throw new ConveyorError(
          'ERR_MODEL_CONFIG_INVALID',
          `cannot read "${file}" of the version`,
          {
            cause: error,
            details: { file },
          },
        );
      }
    },
  });
}
