/** `pnpm bench:docs`: regenerates docs/benchmarks.md from docs/benchmarks.json, running nothing. */
import { writeBenchmarksDoc } from './report-md.js';

process.stdout.write(`wrote ${await writeBenchmarksDoc()}\n`);
