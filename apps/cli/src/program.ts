import { Command, CommanderError } from 'commander';
import { ConveyorError } from '@conveyor/shared';
import { registerAutoscale } from './commands/autoscale.js';
import { registerBaseline } from './commands/baseline.js';
import { registerBatch } from './commands/batch.js';
import { registerCompare } from './commands/compare.js';
import { registerDev } from './commands/dev.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerModels } from './commands/models.js';
import { registerModelsAccuracy } from './commands/models-accuracy.js';
import { registerExport } from './commands/export.js';
import { registerModelsDrift } from './commands/models-drift.js';
import { registerPredict } from './commands/predict.js';
import { registerQueues } from './commands/queues.js';
import { registerServices } from './commands/services.js';
import type { CliContext } from './context.js';
import { EXIT } from './exit-codes.js';

/** The CLI's version, printed by `conveyor --version`. */
export const CLI_VERSION = '0.1.0';

const ROOT_HELP = `
Exit codes: 0 ok, 1 failure, 2 usage error (bad flag, unreadable or malformed input, unknown
model), 3 some batch rows failed, 4 Redis did not answer, 5 a prediction timed out, 130
interrupted. Errors are one line on stderr, "conveyor: ERR_CODE: message", or JSON with --json.
Flags that set configuration override the environment variables of docs/configuration.md.

Examples:
  conveyor dev                                          # Redis + worker + HTTP API on a laptop
  conveyor predict iris --input '{"features": [[5.1, 3.5, 1.4, 0.2]]}' --embedded
  conveyor batch iris flowers.csv --out predictions.jsonl --embedded
  conveyor models validate
  conveyor queues --watch`;

/**
 * The `conveyor` command tree. Commands put their exit code in `ctx.exitCode`; errors are thrown
 * (commander's usage errors as ERR_USAGE) for main.ts to report.
 */
export function createProgram(ctx: CliContext): Command {
  const program = new Command('conveyor')
    .description(
      'Conveyor: ONNX models behind Redis queues. Run services, predict, batch, inspect.',
    )
    .version(CLI_VERSION, '-V, --version', 'print the version')
    .option('--json', 'errors (and output, where a command has it) as JSON')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
      // main.ts reports usage errors itself, as one line or JSON.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', ROOT_HELP);
  registerServices(program, ctx);
  registerDev(program, ctx);
  registerPredict(program, ctx);
  registerBatch(program, ctx);
  registerModels(program, ctx);
  registerLifecycle(program, ctx);
  registerModelsAccuracy(program, ctx);
  registerExport(program, ctx);
  registerCompare(program, ctx);
  registerModelsDrift(program, ctx);
  registerBaseline(program, ctx);
  registerQueues(program, ctx);
  registerAutoscale(program, ctx);
  addJsonEverywhere(program);
  return program;
}

/** Every command takes --json (errors as JSON at least), placed anywhere on its command line. */
function addJsonEverywhere(command: Command): void {
  for (const sub of command.commands) {
    if (sub.commands.length > 0) addJsonEverywhere(sub);
    else if (!sub.options.some((o) => o.long === '--json'))
      sub.option('--json', 'errors (and output, where the command has it) as JSON');
  }
}

/** Commander's ways of ending that are not errors. */
const QUIET_ENDINGS = new Set(['commander.helpDisplayed', 'commander.version']);

/**
 * Turns what commander throws into an exit code (help and version: 0) or an ERR_USAGE error with
 * commander's message; anything else is rethrown.
 */
export function fromCommander(error: unknown): { exitCode: number } | ConveyorError {
  if (!(error instanceof CommanderError)) throw error;
  if (QUIET_ENDINGS.has(error.code)) return { exitCode: EXIT.OK };
  if (error.code === 'commander.help') return { exitCode: EXIT.USAGE };
  return new ConveyorError('ERR_USAGE', error.message.replace(/^error: /, ''), {
    details: { reason: error.code },
  });
}
