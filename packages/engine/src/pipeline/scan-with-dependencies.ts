import { scanRepository, type RepositoryScan } from '../model-repository.js';
import { pipelineModels } from './pipeline-files.js';

/**
 * Scans the repository for the models in `only` (every model when empty) and, when any of them is
 * a pipeline, for the models it calls too, so that serving a pipeline alone serves what it needs.
 */
export async function scanWithDependencies(
  root: string,
  only: readonly string[],
): Promise<RepositoryScan> {
  let wanted = [...only];
  for (;;) {
    const scan = await scanRepository(root, wanted);
    if (wanted.length === 0) return scan;
    const needed = scan.entries.flatMap((e) =>
      e.config.pipeline ? pipelineModels(e.config.pipeline) : [],
    );
    const missing = [...new Set(needed)].filter((name) => !wanted.includes(name));
    if (missing.length === 0) return scan;
    wanted = [...wanted, ...missing];
  }
}
