/**
 * Who runs the worker replicas the autoscaler decides on: compose services (compose-scaler.ts) or
 * `conveyor worker` processes of this machine (process-scaler.ts).
 */
export interface Scaler {
  /** What it scales, for the decision lines: `compose service worker`, `processes`. */
  readonly description: string;
  /** The replicas running now. */
  current(): Promise<number>;
  /** Runs this many replicas; a replica removed is stopped with SIGTERM and drains its jobs. */
  scale(replicas: number): Promise<void>;
  /** Lets go of what it owns: the processes scaler stops its workers; compose ones keep running. */
  close(): Promise<void>;
}
