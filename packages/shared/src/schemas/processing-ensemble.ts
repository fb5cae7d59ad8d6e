/**
 * @file model.json's `pipeline` of kind `ensemble`: a graph of models and combining steps run
 * inside one job, as Triton's ensembles are. Each step reads the pipeline's inputs or earlier
 * steps' outputs by name, so the graph is acyclic by construction; a model's rows may grow or
 * shrink between steps (fan-out), and a `combine` step joins several outputs into one (fan-in).
 */
import { z } from 'zod';
import { DTYPES } from '../tensor/dtype.js';
import { ModelRefSchema } from './model-ref.js';
import { TensorNameSchema } from './names.js';

const StepNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, { message: 'a step name: a-z, 0-9 and _, 1-32 characters' })
  .refine((name) => name !== 'input', { message: '"input" names the pipeline\'s inputs' });

/**
 * Where a tensor comes from: `input.<name>` (an input of the pipeline) or `<step>.<output>` (an
 * output of an earlier step).
 */
export const TensorSourceSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}\.[A-Za-z0-9_.:/-]{1,128}$/, {
    message: 'a source: input.<name> or <step>.<output>',
  });

/** A tensor the pipeline takes or answers, declared so its signature is known from model.json. */
const EnsembleTensorSchema = z
  .object({
    name: TensorNameSchema,
    dtype: z.enum(DTYPES),
    shape: z.array(z.number().int().min(-1)).max(16),
    description: z.string().max(500).optional(),
  })
  .strict();

/** How a `combine` step joins its inputs: element-wise, or side by side on the last axis. */
export const COMBINE_OPS = ['mean', 'max', 'min', 'sum', 'concat'] as const;

const ModelStepSchema = z
  .object({
    name: StepNameSchema,
    /** The model to run: another model of the repository, or an .onnx file of this folder. */
    model: ModelRefSchema,
    /** Each input of the model (by the name its signature gives) -> where it comes from. */
    inputs: z.record(TensorNameSchema, TensorSourceSchema),
    /** The model outputs the later steps read. Default: every output. */
    outputs: z.array(TensorNameSchema).max(64).optional(),
  })
  .strict();

const CombineStepSchema = z
  .object({
    name: StepNameSchema,
    /** Joins two or more float tensors of one shape (concat: of the same leading dimensions). */
    combine: z.enum(COMBINE_OPS),
    /** The tensors joined, in order; the step's one output is `<name>.output`. */
    from: z.array(TensorSourceSchema).min(2).max(16),
    /** Weights of an element-wise `mean`, one per source; default equal. */
    weights: z.array(z.number().nonnegative()).optional(),
  })
  .strict();

export const EnsembleStepSchema = z.union([ModelStepSchema, CombineStepSchema]);

/** The step and tensor a source names. */
export function splitSource(source: string): { step: string; tensor: string } {
  const dot = source.indexOf('.');
  return { step: source.slice(0, dot), tensor: source.slice(dot + 1) };
}

export const EnsemblePipelineSchema = z
  .object({
    kind: z.literal('ensemble'),
    /** What a request sends. */
    inputs: z.array(EnsembleTensorSchema).min(1).max(64),
    /** Run in dependency order; steps that do not depend on each other run side by side. */
    steps: z.array(EnsembleStepSchema).min(1).max(64),
    /** What a request gets: each declared with its dtype and shape, and where it comes from. */
    outputs: z
      .array(EnsembleTensorSchema.extend({ from: TensorSourceSchema }).strict())
      .min(1)
      .max(64),
  })
  .strict()
  .superRefine((pipeline, ctx) => {
    const inputs = new Set(pipeline.inputs.map((i) => i.name));
    const seen = new Set<string>();
    const check = (source: string, path: (string | number)[]) => {
      const { step, tensor } = splitSource(source);
      const known = step === 'input' ? inputs.has(tensor) : seen.has(step);
      if (!known)
        ctx.addIssue({
          code: 'custom',
          path,
          message:
            step === 'input'
              ? `the pipeline has no input "${tensor}"`
              : `"${step}" is no earlier step (a step reads the inputs and the steps before it)`,
        });
    };
    pipeline.steps.forEach((step, i) => {
      if (seen.has(step.name))
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'name'],
          message: 'a second step of this name',
        });
      if ('combine' in step)
        step.from.forEach((source, k) => check(source, ['steps', i, 'from', k]));
      else
        for (const [name, source] of Object.entries(step.inputs))
          check(source, ['steps', i, 'inputs', name]);
      if ('combine' in step && step.weights && step.weights.length !== step.from.length)
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'weights'],
          message: 'one weight per source',
        });
      seen.add(step.name);
    });
    pipeline.outputs.forEach((output, i) => check(output.from, ['outputs', i, 'from']));
  });

export type EnsemblePipeline = z.infer<typeof EnsemblePipelineSchema>;
export type EnsembleStep = z.infer<typeof EnsembleStepSchema>;
