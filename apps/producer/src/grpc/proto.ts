/**
 * KServe's published Open Inference Protocol v2 gRPC definition (`proto/grpc_predict_v2.proto`,
 * package `inference`), loaded at run time with @grpc/proto-loader, and the message shapes it
 * decodes to with the options below: field names as in the proto, 64-bit integers as decimal
 * strings (a reply may also give numbers), bytes as Buffers, each oneof's chosen field named.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/**
 * The proto file: `proto/` at the package root, two levels above this module both in `src/grpc/`
 * (tsx) and in `dist/grpc/` (built).
 */
export const PROTO_PATH = fileURLToPath(
  new URL('../../proto/grpc_predict_v2.proto', import.meta.url),
);

/** How messages decode; the types below follow them. */
export const LOADER_OPTIONS: Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
});

/** An int64 as it arrives (a decimal string) or as a reply may give it. */
export type Int64 = string | number;

export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param';
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
}

export type InferParameters = Record<string, InferParameter>;

export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: Int64[];
  uint_contents: number[];
  uint64_contents: Int64[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: Int64[];
  parameters: InferParameters;
  contents: InferTensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: InferParameters;
  inputs: InferInputTensor[];
  outputs: { name: string; parameters: InferParameters }[];
  raw_input_contents: Buffer[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: Int64[];
  parameters?: InferParameters;
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: InferParameters;
  outputs: InferOutputTensor[];
  raw_output_contents: Buffer[];
}

/** `ModelReadyRequest` and `ModelMetadataRequest`. */
export interface ModelRequest {
  name: string;
  version: string;
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: Int64[];
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface ServerMetadataResponse {
  name: string;
  version: string;
  extensions: string[];
}

/** The service definition of `inference.GRPCInferenceService`, for a server or a client. */
export function loadInferenceService(): ServiceDefinition {
  if (!existsSync(PROTO_PATH)) {
    throw new Error(`the gRPC definition ${PROTO_PATH} is missing from the package`);
  }
  const loaded = loadPackageDefinition(loadSync(PROTO_PATH, LOADER_OPTIONS)) as {
    inference?: { GRPCInferenceService?: { service: ServiceDefinition } };
  };
  const service = loaded.inference?.GRPCInferenceService?.service;
  if (service === undefined)
    throw new Error(`${PROTO_PATH} defines no inference.GRPCInferenceService`);
  return service;
}
