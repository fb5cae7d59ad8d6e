/**
 * `@conveyor/sdk/embedded`: the embedded client, which runs the models in this process with
 * onnxruntime instead of sending them through Redis. It is an entry point of its own so that the
 * queue client (`@conveyor/sdk`) never depends on the engine: an application that uses this entry
 * installs `@conveyor/engine` (and with it onnxruntime-node) beside the SDK.
 *
 * @example
 * ```ts
 * import { createEmbeddedClient } from '@conveyor/sdk/embedded';
 * const client = await createEmbeddedClient({ repository: 'models' });
 * const { outputs } = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
 * await client.close();
 * ```
 */
export { createEmbeddedClient, type EmbeddedClient } from './client.js';
export { EmbeddedClientOptionsSchema, type EmbeddedClientOptions } from './options.js';
