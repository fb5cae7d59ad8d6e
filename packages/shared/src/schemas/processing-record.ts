import { z } from 'zod';
import { TensorNameSchema } from './names.js';

/** The types a record field may have. */
export const RECORD_FIELD_TYPES = ['number', 'integer', 'boolean', 'category'] as const;

export type RecordFieldType = (typeof RECORD_FIELD_TYPES)[number];

/**
 * One field of a record: the key read from each JSON object and the column(s) it fills. A
 * `number` or `integer` fills one column with its value, a `boolean` one column with 1 or 0, a
 * `category` one column per category (`onehot`, the default) or one column with the category's
 * index in `categories` (`index`).
 */
export const RecordFieldSchema = z
  .object({
    /** The key in each record. */
    name: z.string().min(1).max(128),
    type: z.enum(RECORD_FIELD_TYPES),
    /** The value used when a record lacks the field. Without one, the field is required. */
    default: z.union([z.number(), z.boolean(), z.string()]).optional(),
    /** Smallest value allowed (number and integer only), inclusive. */
    min: z.number().optional(),
    /** Largest value allowed (number and integer only), inclusive. */
    max: z.number().optional(),
    /** The allowed values of a category, in column order. Required for, and only for, category. */
    categories: z.array(z.string().min(1)).min(1).max(4096).optional(),
    /** How a category fills the tensor: one column per category, or its index. Default onehot. */
    encoding: z.enum(['onehot', 'index']).optional(),
    description: z.string().optional(),
  })
  .strict()
  .superRefine((field, ctx) => {
    const issue = (path: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    const numeric = field.type === 'number' || field.type === 'integer';
    if (!numeric && (field.min !== undefined || field.max !== undefined)) {
      issue('min', `min and max apply only to number and integer fields, not ${field.type}`);
    }
    if (field.min !== undefined && field.max !== undefined && field.min > field.max) {
      issue('max', 'max is below min');
    }
    if (field.type === 'category') {
      if (!field.categories) issue('categories', 'a category field lists its categories');
      else if (new Set(field.categories).size !== field.categories.length) {
        issue('categories', 'categories are listed once each');
      }
    } else {
      if (field.categories) issue('categories', 'only category fields have categories');
      if (field.encoding) issue('encoding', 'only category fields have an encoding');
    }
    if (field.default !== undefined) {
      const problem = recordValueProblem(field, field.default);
      if (problem) issue('default', `the default is ${problem.message}`);
    }
  });

export type RecordField = z.infer<typeof RecordFieldSchema>;

/**
 * Why a record refuses a field's value: `missing` (absent with no default), `extra` (a key that
 * is no field), `type` (wrong JSON type, or a non-integer for an integer field), `range` (below
 * min or above max, or not finite), `category` (not one of the categories).
 */
export const RECORD_FIELD_REASONS = ['missing', 'extra', 'type', 'range', 'category'] as const;

export type RecordFieldReason = (typeof RECORD_FIELD_REASONS)[number];

/** A field's value that a record refuses: why, and a short sentence naming the rule broken. */
export interface RecordValueProblem {
  reason: Exclude<RecordFieldReason, 'missing' | 'extra'>;
  message: string;
}

/** Checks one present value against its field; undefined when the value is valid. */
export function recordValueProblem(
  field: RecordField,
  value: unknown,
): RecordValueProblem | undefined {
  switch (field.type) {
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : { reason: 'type', message: `not a boolean but ${describe(value)}` };
    case 'category': {
      if (typeof value !== 'string') {
        return { reason: 'type', message: `not a string but ${describe(value)}` };
      }
      const allowed = field.categories ?? [];
      return allowed.includes(value)
        ? undefined
        : { reason: 'category', message: `"${value}", not one of ${allowed.join(', ')}` };
    }
    default:
      return numberProblem(field, value);
  }
}

function numberProblem(field: RecordField, value: unknown): RecordValueProblem | undefined {
  if (typeof value !== 'number') {
    return { reason: 'type', message: `not a number but ${describe(value)}` };
  }
  if (!Number.isFinite(value)) return { reason: 'range', message: `${value}, not finite` };
  if (field.type === 'integer' && !Number.isInteger(value)) {
    return { reason: 'type', message: `${value}, not an integer` };
  }
  if (field.min !== undefined && value < field.min) {
    return { reason: 'range', message: `${value}, below the minimum ${field.min}` };
  }
  if (field.max !== undefined && value > field.max) {
    return { reason: 'range', message: `${value}, above the maximum ${field.max}` };
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** The number of tensor columns a field fills: its categories when one-hot, else 1. */
export function recordFieldWidth(field: RecordField): number {
  return field.type === 'category' && field.encoding !== 'index'
    ? (field.categories?.length ?? 0)
    : 1;
}

/**
 * Preprocessing step `record`: fills one rank-2 model input, `[-1, F]`, from one JSON object per
 * row, its `fields` in order (a one-hot category filling several columns). Each row is checked
 * field by field; a bad row is refused with ERR_RECORD_FIELD, listing every bad field of it.
 */
export const RecordStepSchema = z
  .object({
    kind: z.literal('record'),
    /** The model input filled. Default: the model's only input. */
    input: TensorNameSchema.optional(),
    /** The fields, in column order. */
    fields: z.array(RecordFieldSchema).min(1).max(4096),
    /** Keys that are no field: `refuse` (the default) reports them, `ignore` drops them. */
    extra: z.enum(['refuse', 'ignore']).default('refuse'),
  })
  .strict()
  .superRefine((step, ctx) => {
    const seen = new Set<string>();
    step.fields.forEach((field, index) => {
      if (seen.has(field.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', index, 'name'],
          message: `duplicate field "${field.name}"`,
        });
      }
      seen.add(field.name);
    });
  });

export type RecordStep = z.infer<typeof RecordStepSchema>;
export type RecordStepInput = z.input<typeof RecordStepSchema>;
