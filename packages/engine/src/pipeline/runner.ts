import type { Tensor } from '@conveyor/shared';

/** What a kind of pipeline builds: how it answers one request (its signature: pipeline-served.ts). */
export interface PipelineRunner {
  run(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
}
