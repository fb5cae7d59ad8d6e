/**
 * The inference thread when the engine runs from its TypeScript sources (development, tests):
 * registers tsx's loader in this thread, then loads inference-thread.ts. A thread inherits tsx
 * from a process started with `--import tsx`, but not from one that runs the sources another way
 * (vitest transforms them itself). Never built: built, the pool starts dist/inference-thread.js.
 */
import { register } from 'tsx/esm/api';

register();
const thread = await import('./inference-thread.ts');

export default thread.default;
