import type { Writable } from 'node:stream';
import type { Engine, ModelProblem, ServedModel } from '@conveyor/engine';
import { silentLogger, type Config } from '@conveyor/shared';
import { importEngine } from './deferred-imports.js';
import { describeSpec, table } from './format.js';
import { line } from './io.js';

/** Loads a repository (or some of its models) as a worker would, logging nothing. */
export async function openRepository(
  config: Config,
  repository: string,
  only: readonly string[] = [],
  warmup = true,
): Promise<Engine> {
  const { createEngine } = await importEngine();
  return createEngine({
    repository,
    models: only,
    threads: config.INFERENCE_THREADS,
    warmup,
    logger: silentLogger(),
  });
}

/** A problem as --json prints it. */
export function problemJson(problem: ModelProblem): Record<string, unknown> {
  return {
    name: problem.name,
    ...(problem.version !== undefined && { version: problem.version }),
    path: problem.path,
    code: problem.error.code,
    message: problem.error.message,
    ...(problem.error.issues.length > 0 && { issues: problem.error.issues }),
  };
}

/** A served version as --json prints it. */
export function servedJson(served: ServedModel): Record<string, unknown> {
  return {
    name: served.entry.name,
    version: served.entry.version,
    ...(served.entry.config.description !== undefined && {
      description: served.entry.config.description,
    }),
    path: served.entry.modelPath,
    config: served.entry.configPath ?? null,
    inputs: served.signature.inputs,
    outputs: served.signature.outputs,
    // The dimensions as onnxruntime names them: what `warmup.dims` in model.json refers to.
    onnx: {
      inputs: served.runtime.inputs.map((r) => ({ name: r.name, shape: r.runtimeShape })),
      outputs: served.runtime.outputs.map((r) => ({ name: r.name, shape: r.runtimeShape })),
    },
    batchable: served.batchable,
    state: served.state,
    ...(served.stateReason !== undefined && { stateReason: served.stateReason }),
  };
}

/** `CODE: name@version: message` */
export const problemLine = (p: ModelProblem): string =>
  `${p.error.code}: ${p.name}${p.version === undefined ? '' : `@${p.version}`}: ${p.error.message}`;

/** `degraded: name@version: reason` */
export const degradedLine = (s: ServedModel): string =>
  `degraded: ${s.entry.name}@${s.entry.version}: ${s.stateReason ?? ''}`;

/** The inputs and outputs of a version as a table: kind, name, dtype and shape, labels. */
export function specLines(served: ServedModel): string[] {
  const rows: string[][] = [['', 'name', 'type', 'labels']];
  for (const [kind, specs] of [
    ['input', served.signature.inputs],
    ['output', served.signature.outputs],
  ] as const) {
    for (const spec of specs)
      rows.push([kind, spec.name, describeSpec(spec), spec.labels?.join(', ') ?? '']);
  }
  return table(rows).split('\n');
}

/** What `models inspect` prints of one version: where it is, its signature, how it is run. */
export function writeServed(out: Writable, served: ServedModel): void {
  const { entry } = served;
  line(out, `${entry.name}@${entry.version}  ${entry.modelPath}`);
  if (entry.config.description) line(out, `  ${entry.config.description}`);
  for (const l of specLines(served)) line(out, `  ${l}`);
  const named = [...served.runtime.inputs, ...served.runtime.outputs]
    .map((r) => `${r.name} [${r.runtimeShape.join(', ')}]`)
    .join('; ');
  line(out, `  as onnxruntime names it: ${named}`);
  const batching = served.batchable
    ? `up to ${entry.config.batching.maxBatchSize} rows along the first dimension`
    : 'off';
  line(out, `  batching: ${batching}`);
  const warmup =
    served.state === 'degraded'
      ? `failed, the version is degraded: ${served.stateReason ?? ''}`
      : served.warmupMs === undefined
        ? 'off'
        : `${served.warmupMs.toFixed(1)} ms`;
  line(out, `  warm-up: ${warmup}`);
  line(
    out,
    entry.configPath === undefined
      ? '  no model.json: everything as onnxruntime reports it (`conveyor models init` writes one)'
      : '  model.json matches the model',
  );
}
