import { z } from 'zod';
import {
  ConveyorError,
  DTYPES,
  ModelNameSchema,
  TensorNameSchema,
  parseOrThrow,
  type Dtype,
  type DtypeArrays,
  type FeatureRow,
  type ModelSignature,
  type NestedArray,
  type Tensor,
  type TensorInputs,
} from '@conveyor/shared';

/** Tensor names and their dtypes, as a model declares them. */
export type TensorTypes = Readonly<Record<string, Dtype>>;

/**
 * A model's name and the names and dtypes of its inputs and outputs, declared once so that
 * TypeScript infers what `predict` takes and returns. Made by `defineModel`.
 */
export interface ModelDefinition<
  I extends TensorTypes = TensorTypes,
  O extends TensorTypes = TensorTypes,
> {
  readonly name: string;
  readonly inputs: I;
  readonly outputs: O;
}

/** A model by name, or by its typed definition. */
export type ModelRef = string | ModelDefinition;

/**
 * One input of a declared dtype: a tensor, a typed array of that dtype with a shape, nested arrays,
 * or a bare value for an input of shape `[]`; for `bytes`, a Uint8Array (a Buffer) is one element.
 */
export type TypedInput<D extends Dtype> =
  | NestedArray
  | (D extends 'string' ? string : D extends 'bytes' ? Uint8Array : number | bigint | boolean)
  | Tensor<D>
  | { data: DtypeArrays[D] | NestedArray; shape?: readonly number[]; dtype?: D };

/** Inputs by name, or named features (one row, or many): what `predict` takes for any model. */
export type PredictInputs = TensorInputs | FeatureRow | readonly FeatureRow[];

/** What `predict` takes for a model: typed inputs for a definition, any inputs for a name. */
export type InputsOf<M extends ModelRef> =
  M extends ModelDefinition<infer I>
    ? { readonly [K in keyof I]: TypedInput<I[K]> } | FeatureRow | readonly FeatureRow[]
    : PredictInputs;

/** The output names a model has: declared ones for a definition, any string for a name. */
export type OutputName<M extends ModelRef> =
  M extends ModelDefinition<TensorTypes, infer O> ? keyof O & string : string;

/** The outputs a prediction carries: typed tensors for a definition, a record for a name. */
export type OutputsOf<M extends ModelRef, K extends string = OutputName<M>> =
  M extends ModelDefinition<TensorTypes, infer O>
    ? { [P in K & keyof O]: Tensor<O[P]> }
    : Record<string, Tensor>;

const TensorTypesSchema = z
  .record(TensorNameSchema, z.enum(DTYPES))
  .refine((map) => Object.keys(map).length > 0, { message: 'at least one tensor' });

const ModelDefinitionSchema = z
  .object({ name: ModelNameSchema, inputs: TensorTypesSchema, outputs: TensorTypesSchema })
  .strict();

/**
 * Declares a model's inputs and outputs once; `client.predict(iris, ...)` is then typed end to
 * end. Each call checks the declaration against the model's signature (ERR_INPUT_DTYPE,
 * ERR_OUTPUT_UNKNOWN), and returns only the declared outputs unless `outputs` names fewer.
 *
 * @example
 * ```ts
 * const iris = defineModel({ name: 'iris', inputs: { features: 'float32' }, outputs: { probabilities: 'float32' } });
 * const { outputs } = await client.predict(iris, { features: [[5.1, 3.5, 1.4, 0.2]] });
 * outputs.probabilities.data; // Float32Array
 * ```
 */
export function defineModel<const I extends TensorTypes, const O extends TensorTypes>(definition: {
  name: string;
  inputs: I;
  outputs: O;
}): ModelDefinition<I, O> {
  parseOrThrow(ModelDefinitionSchema, definition, 'model definition');
  return Object.freeze({
    name: definition.name,
    inputs: Object.freeze({ ...definition.inputs }),
    outputs: Object.freeze({ ...definition.outputs }),
  });
}

/** Checks a definition against the signature of the model version that will run it. */
export function checkDefinition(definition: ModelDefinition, signature: ModelSignature): void {
  const model = `${signature.name}@${signature.version}`;
  const check = (
    kind: 'input' | 'output',
    declared: TensorTypes,
    specs: ModelSignature['inputs'],
  ) => {
    for (const [name, dtype] of Object.entries(declared)) {
      const spec = specs.find((s) => s.name === name);
      const details = { model: signature.name, version: signature.version, [kind]: name };
      if (!spec) {
        throw new ConveyorError(
          kind === 'input' ? 'ERR_INPUT_UNEXPECTED' : 'ERR_OUTPUT_UNKNOWN',
          `the definition of "${definition.name}" declares ${kind} "${name}", which ${model} does not have`,
          { details },
        );
      }
      if (spec.dtype !== dtype) {
        throw new ConveyorError(
          kind === 'input' ? 'ERR_INPUT_DTYPE' : 'ERR_VALIDATION',
          `the definition of "${definition.name}" declares ${kind} "${name}" as ${dtype}; ${model} has ${spec.dtype}`,
          { details: { ...details, expected: spec.dtype, actual: dtype } },
        );
      }
    }
  };
  check('input', definition.inputs, signature.inputs);
  check('output', definition.outputs, signature.outputs);
}
