/**
 * The producer's gRPC server: `inference.GRPCInferenceService` on GRPC_HOST:GRPC_PORT, messages up
 * to MAX_BODY_BYTES. Started and stopped with the HTTP server by run-producer.ts.
 */
import { format } from 'node:util';
import { Server, ServerCredentials, setLogger } from '@grpc/grpc-js';
import type { Config, Logger } from '@conveyor/shared';
import { loadInferenceService } from './proto.js';
import { createGrpcService, type GrpcServiceDeps } from './service.js';

export interface GrpcServer {
  /** The port it listens on (the one chosen when GRPC_PORT is 0). */
  readonly port: number;
  /**
   * Stops taking calls and waits for those under way, then ends them (CANCELLED) after
   * `graceMs`. Idempotent; never rejects.
   */
  close(graceMs: number): Promise<void>;
}

export interface GrpcServerOptions extends GrpcServiceDeps {
  config: GrpcServiceDeps['config'] &
    Pick<Config, 'GRPC_HOST' | 'GRPC_PORT' | 'PRODUCER_HOST' | 'MAX_BODY_BYTES'>;
}

/** `host:port` as gRPC reads it: an IPv6 address goes in brackets. */
export function grpcAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * grpc-js writes to the standard error stream by default (one global logger per process): its lines
 * go to the producer's pino logger instead, as JSON records with `component: "grpc-js"`.
 */
function logThroughPino(log: Logger): void {
  const grpcLog = log.child({ component: 'grpc-js' });
  setLogger({
    error: (...args: unknown[]) => grpcLog.error(format(...args)),
    info: (...args: unknown[]) => grpcLog.info(format(...args)),
    debug: (...args: unknown[]) => grpcLog.debug(format(...args)),
  });
}

/** Listens on GRPC_HOST (else PRODUCER_HOST) and `port` (default GRPC_PORT, else 0: a free one). */
export async function startGrpcServer(
  options: GrpcServerOptions,
  port = options.config.GRPC_PORT ?? 0,
): Promise<GrpcServer> {
  const { config } = options;
  logThroughPino(options.logger);
  const server = new Server({
    // Larger messages are refused with RESOURCE_EXHAUSTED before they are decoded.
    'grpc.max_receive_message_length': config.MAX_BODY_BYTES,
    'grpc.max_send_message_length': -1,
  });
  server.addService(loadInferenceService(), createGrpcService(options));
  const address = grpcAddress(config.GRPC_HOST ?? config.PRODUCER_HOST, port);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, chosen) => {
      if (error) reject(new Error(`gRPC server could not listen on ${address}: ${error.message}`));
      else resolve(chosen);
    });
  });
  let closed: Promise<void> | undefined;
  const close = (graceMs: number) =>
    (closed ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }));
  return { port: bound, close };
}
