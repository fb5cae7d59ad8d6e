/** Conveyor's tracing setup for the producer and the worker (issue 16: filled in by the traces work). */
export const TELEMETRY_PACKAGE = '@conveyor/telemetry';
