/**
 * @file The contract of a processing step: what model.json's `preprocess` and `postprocess` maps
 * name, and what each kind in `steps.ts` implements. Steps run on the inference threads, around
 * onnxruntime's run, never on the event loop.
 *
 * - An input step turns the external input a client sends (an image, a record, a text) into one
 *   or more of the model's inputs. It is keyed by that external input's name in `preprocess`.
 * - An output step turns some of the model's outputs into the external outputs a client gets
 *   (`label`, `score`, top-k, boxes, text). It is keyed by its main output's name in
 *   `postprocess`, and may add more outputs named from that key (`<key>_score`).
 *
 * Both work on whole requests: every tensor's first dimension is the request's rows, in and out,
 * so a batch of requests is preprocessed per request and then joined row-wise like raw tensors.
 */
import type { Logger, Tensor, TensorSpec } from '@conveyor/shared';
import type { RuntimeTensorSpec } from '../session.js';

/** What a step may use beside its own config; built once per version on each thread. */
export interface StepContext {
  /** Absolute path of the version folder: `labels.txt`, `tokenizer.json`, dictionaries. */
  readonly versionDir: string;
  /** The version's logger (`model`, `version` bound). Log shapes and sizes, never data. */
  readonly log: Logger;
  /** Ceiling on the bytes of any tensor a step allocates; check it before allocating. */
  readonly maxTensorBytes: number;
  /**
   * Reads a file of the version folder as UTF-8 text. `file` is relative to the folder;
   * a path that leaves it is refused with ERR_MODEL_CONFIG_INVALID.
   */
  readText(file: string): Promise<string>;
}

/** The model's own inputs and outputs, as onnxruntime reports them. */
export interface ModelIo {
  readonly inputs: readonly RuntimeTensorSpec[];
  readonly outputs: readonly RuntimeTensorSpec[];
}

/** Tensors by name. */
export type Tensors = Readonly<Record<string, Tensor>>;

/**
 * Where one row's image sits in the model input an image step made: the client's image size, and
 * the rectangle of the input (in input pixels) its resized pixels fill. An output step that finds
 * places in the input (boxes) maps them back to the client's image with it.
 */
export interface ImageFrame {
  /** The client's image, after EXIF orientation. */
  readonly width: number;
  readonly height: number;
  /** The input's canvas (a tensor row's width and height). */
  readonly inputWidth: number;
  readonly inputHeight: number;
  /** The rectangle of the canvas the image fills. */
  readonly left: number;
  readonly top: number;
  readonly contentWidth: number;
  readonly contentHeight: number;
}

/** A built input step: external input -> model input tensors. */
export interface InputStep {
  /** The external inputs it reads, as announced to clients (usually one: the map's key). */
  readonly external: readonly TensorSpec[];
  /** The model inputs it writes; the framework checks each is a model input fed once. */
  readonly feeds: readonly string[];
  /**
   * Turns one request's external inputs (all of `external`, checked against their specs) into
   * the model inputs in `feeds`, each with the same first dimension (rows) as its input.
   * Throws a ConveyorError with a stable code (ERR_IMAGE_INVALID, ...) for bad data.
   */
  run(inputs: Tensors): Promise<Tensors>;
  /**
   * After the model ran on what `run` returned (`fed`, the same object), turns the model outputs
   * of those rows back into outputs per external row (a text's windows joined, for instance),
   * before any output step. Only for steps whose rows are not the external rows.
   */
  join?(fed: Tensors, outputs: Tensors): Tensors;
  /** Outputs `join` adds beside the model's (a text's window index), announced to clients. */
  readonly adds?: readonly TensorSpec[];
  /** One external input row the version is warmed up on (an image step: a tiny PNG). */
  sample?(): Promise<Tensors>;
  /** Where each row's image went, for what `run` returned (`fed`); image steps only. */
  frames?(fed: Tensors): readonly ImageFrame[] | undefined;
}

/** A built output step: model output tensors -> external outputs. */
export interface OutputStep {
  /** The external outputs it writes, as announced to clients. */
  readonly external: readonly TensorSpec[];
  /** The model outputs it reads; the engine asks onnxruntime for these. */
  readonly reads: readonly string[];
  /**
   * Turns the model outputs in `reads` into the outputs in `external`, rows kept. `frames` holds,
   * per row, where an image step put that row's image (undefined for rows no image step made).
   */
  run(outputs: Tensors, frames?: readonly (ImageFrame | undefined)[]): Promise<Tensors>;
}

/** What `create` gets: the step's config, its key in the map, the model and the context. */
export interface StepInit<C> {
  /** The map key: the external input (preprocess) or the main external output (postprocess). */
  readonly name: string;
  readonly config: C;
  readonly model: ModelIo;
  readonly context: StepContext;
}

/**
 * One kind of input step, as registered in `steps.ts`. `create` runs once per version and thread
 * (read files, build tokenizers there) and checks the config against the model, throwing
 * ERR_MODEL_CONFIG_INVALID when they do not fit.
 */
export interface InputStepKind<C> {
  readonly role: 'input';
  create(init: StepInit<C>): Promise<InputStep>;
}

/** One kind of output step, as registered in `steps.ts`; `create` as for an input step. */
export interface OutputStepKind<C> {
  readonly role: 'output';
  create(init: StepInit<C>): Promise<OutputStep>;
}
