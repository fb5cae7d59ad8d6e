import type { Tensor, TensorSpec } from '@conveyor/shared';

/** What a kind of pipeline builds: its signature and how it answers one request. */
export interface PipelineRunner {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  run(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
}
