/**
 * The CLI's heavy modules, imported when a command that uses them runs: `conveyor --help`, a
 * usage error, or a command that needs none of them starts without loading BullMQ (with the SDK),
 * onnxruntime (with the engine) or Apache Arrow.
 */
export const importSdk = () => import('@conveyor/sdk');
export const importEmbedded = () => import('@conveyor/sdk/embedded');
export const importEngine = () => import('@conveyor/engine');
export const importArrowWriter = () => import('./export/arrow-writer.js');
