import { InvalidArgumentError, Option, type Command } from 'commander';
import type { PredictInputs, Prediction } from '@conveyor/sdk';
import { ConveyorError, type ModelSignature } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { nested, outputSpec, outputTable } from '../format.js';
import { collectFile, readFileInputs } from '../file-inputs.js';
import { inputsForModel, readInputArg } from '../inputs.js';
import { line } from '../io.js';
import { openClient } from '../open-client.js';

const PREDICT_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix', 'repository', 'threads'];

/** Parses a positive integer flag value, or refuses it as a usage error. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** The JSON `conveyor predict` prints. */
export function predictionJson(
  prediction: Prediction,
  signature: ModelSignature | undefined,
): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const [name, tensor] of Object.entries(prediction.outputs)) {
    const labels = outputSpec(signature, name)?.labels;
    outputs[name] = {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data: nested(tensor),
      ...(labels !== undefined && { labels }),
    };
  }
  return {
    model: prediction.model,
    version: prediction.version,
    jobId: prediction.jobId,
    outputs,
  };
}

interface PredictFlags {
  input?: string;
  file?: string[];
  version?: string;
  output: 'json' | 'table';
  embedded?: boolean;
  timeout?: number;
  redisUrl?: string;
  prefix?: string;
  repository?: string;
  threads?: string;
}

/** `conveyor predict <model> --input ...`: one prediction, printed as JSON or a table. */
export function registerPredict(program: Command, ctx: CliContext): void {
  const command = program
    .command('predict')
    .description('run one prediction and print its outputs')
    .argument('<model>', 'model name')
    .option(
      '-i, --input <json|@file|->',
      'inputs as JSON (tensors by input name, named features, or an array for a model with one input), @file.json, or - for stdin',
    )
    .option(
      '-f, --file <[input=]path>',
      'a file read whole into a bytes input (an image); repeat for more rows or inputs; the input name may be left out when the model has one bytes input',
      collectFile,
    )
    .option(
      '--version <version>',
      'model version or alias (default: the production alias, else the newest)',
    )
    .addOption(
      new Option('-o, --output <format>', 'how to print the outputs')
        .choices(['json', 'table'])
        .default('json'),
    )
    .option('--embedded', 'run onnxruntime in this process instead of through the queue')
    .option(
      '--timeout <ms>',
      'how long to wait for the result, in ms (env PREDICT_TIMEOUT_MS)',
      positiveInt,
    )
    .addHelpText(
      'after',
      `
Examples:
  conveyor predict iris --input '{"features": [[5.1, 3.5, 1.4, 0.2]]}'
  conveyor predict iris --input '[[5.1, 3.5, 1.4, 0.2]]'
  conveyor predict iris --input '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}' --output table
  conveyor predict iris --input @flower.json --embedded
  echo '{"features": [[6.7, 3.0, 5.2, 2.3]]}' | conveyor predict iris --input -
  conveyor predict text-direction-image --file image=line.png --file image=line2.png

An input object whose values are all numbers is one row of named features, mapped through the
labels of the model's inputs (conveyor models inspect <model>). An array is the data of the
model's input when it has only one.`,
    );
  addConfigFlags(command, PREDICT_FLAGS);
  command.action(async (model: string, flags: PredictFlags) => {
    const { io } = ctx;
    const config = redisConfigFrom(ctx, flags, PREDICT_FLAGS);
    if (flags.input === undefined && flags.file === undefined)
      throw new ConveyorError('ERR_VALIDATION', 'give the inputs with --input, --file or both');
    const raw =
      flags.input === undefined ? undefined : await readInputArg(flags.input, io.cwd, io.stdin);
    const cli = await openClient(config, { embedded: flags.embedded === true, model });
    try {
      const signature = await cli.signature(model, flags.version);
      const inputs = {
        ...(raw && inputsForModel(raw.value, raw.where, signature)),
        ...(flags.file && (await readFileInputs(flags.file, io.cwd, signature))),
      };
      // Tensors by name or one row of named features: the SDK tells them apart and checks them.
      const prediction = await cli.client.predict(model, inputs as PredictInputs, {
        ...(flags.version !== undefined && { version: flags.version }),
        timeoutMs: flags.timeout ?? config.PREDICT_TIMEOUT_MS,
      });
      if (flags.output === 'table') {
        line(io.stdout, `${prediction.model}@${prediction.version} (job ${prediction.jobId})`);
        for (const [name, tensor] of Object.entries(prediction.outputs))
          line(io.stdout, outputTable(name, tensor, outputSpec(signature, name)));
      } else {
        line(io.stdout, JSON.stringify(predictionJson(prediction, signature)));
      }
      ctx.exitCode = EXIT.OK;
    } finally {
      await cli.close();
    }
  });
}
