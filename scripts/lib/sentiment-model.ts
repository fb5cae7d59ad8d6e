/**
 * The generated text model `models/sentiment/1`: a bag-of-words sentiment classifier and the
 * tokenizer.json made for it. Each word has a 2-d embedding, [1, 0] for a positive word, [0, 1]
 * for a negative one, zeros for the rest and the special tokens; the model averages the
 * embeddings of the tokens its attention mask keeps, and a dense layer turns the mean into
 * logits [4 * negative share, 4 * positive share]. Small enough to work out outputs by hand.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { valueInfo } from './onnx-graph.js';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;
const { FLOAT, INT64 } = onnx.TensorProto.DataType;

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]'] as const;
const POSITIVE = ['good', 'great', 'love', 'excellent', 'happy', 'wonderful'] as const;
const NEGATIVE = ['bad', 'awful', 'hate', 'terrible', 'sad', 'boring'] as const;
const NEUTRAL = ['the', 'movie', 'film', 'is', 'was', 'i', 'it', 'this', 'a', 'and', 'plot'];
const PIECES = ['##s', '!', '.', ','] as const;

/** The vocabulary in id order: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, good 4, ... */
export const SENTIMENT_VOCAB: readonly string[] = [
  ...SPECIALS,
  ...POSITIVE,
  ...NEGATIVE,
  ...NEUTRAL,
  ...PIECES,
];

export const SENTIMENT_LABELS = ['negative', 'positive'] as const;

/** Logits are this times the share of positive (negative) tokens among the unmasked ones. */
const SCALE = 4;

function embedding(word: string): [number, number] {
  if ((POSITIVE as readonly string[]).includes(word)) return [1, 0];
  if ((NEGATIVE as readonly string[]).includes(word)) return [0, 1];
  return [0, 0];
}

const floats = (name: string, dims: number[], values: number[]): Onnx.ITensorProto => ({
  name,
  dims,
  dataType: FLOAT,
  floatData: values,
});

const ints = (name: string, values: number[]): Onnx.ITensorProto => ({
  name,
  dims: [values.length],
  dataType: INT64,
  int64Data: values,
});

const KEEPDIMS_0 = [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }];

/** The ONNX model: input_ids and attention_mask (int64 [batch, sequence]) to logits [batch, 2]. */
export function sentimentModel(): Uint8Array {
  const graph: Onnx.IGraphProto = {
    name: 'sentiment',
    input: [
      valueInfo('input_ids', ['batch', 'sequence'], INT64),
      valueInfo('attention_mask', ['batch', 'sequence'], INT64),
    ],
    output: [valueInfo('logits', ['batch', SENTIMENT_LABELS.length])],
    initializer: [
      floats('embeddings', [SENTIMENT_VOCAB.length, 2], SENTIMENT_VOCAB.flatMap(embedding)),
      floats('dense', [2, 2], [0, SCALE, SCALE, 0]),
      floats('bias', [2], [0, 0]),
      ints('axis_1', [1]),
      ints('axis_2', [2]),
    ],
    node: [
      { opType: 'Gather', input: ['embeddings', 'input_ids'], output: ['embedded'] },
      {
        opType: 'Cast',
        input: ['attention_mask'],
        output: ['mask_float'],
        attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
      },
      { opType: 'Unsqueeze', input: ['mask_float', 'axis_2'], output: ['mask_3d'] },
      { opType: 'Mul', input: ['embedded', 'mask_3d'], output: ['masked'] },
      { opType: 'ReduceSum', input: ['masked', 'axis_1'], output: ['sum'], attribute: KEEPDIMS_0 },
      {
        opType: 'ReduceSum',
        input: ['mask_3d', 'axis_1'],
        output: ['count'],
        attribute: KEEPDIMS_0,
      },
      { opType: 'Div', input: ['sum', 'count'], output: ['mean'] },
      { opType: 'MatMul', input: ['mean', 'dense'], output: ['product'] },
      { opType: 'Add', input: ['product', 'bias'], output: ['logits'] },
    ].map((node) => ({ ...node, name: node.output[0] ?? '' })),
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/scripts/gen-fixtures.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

const special = (content: string) => ({
  id: SENTIMENT_VOCAB.indexOf(content),
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

const template = (id: string) => ({ SpecialToken: { id, type_id: 0 } });

/** tokenizer.json (Hugging Face format): lower-case, whitespace split, WordPiece, [CLS] x [SEP]. */
export function sentimentTokenizer(): object {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map(special),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [template('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, template('[SEP]')],
      pair: [
        template('[CLS]'),
        { Sequence: { id: 'A', type_id: 0 } },
        template('[SEP]'),
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(
        ['[CLS]', '[SEP]'].map((t) => [
          t,
          { id: t, ids: [SENTIMENT_VOCAB.indexOf(t)], tokens: [t] },
        ]),
      ),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(SENTIMENT_VOCAB.map((word, id) => [word, id])),
    },
  };
}

/** model.json: the text step in, softmax probabilities and the argmax label out. */
export const sentimentConfig = {
  name: 'sentiment',
  description:
    'Generated bag-of-words sentiment classifier with a tiny vocabulary (scripts/lib/sentiment-model.ts): a text in, negative or positive out.',
  preprocess: {
    text: { kind: 'text', tokenizer: 'tokenizer.json', maxLength: 64 },
  },
  postprocess: {
    label: { kind: 'argmax', labels: [...SENTIMENT_LABELS], activation: 'softmax' },
    probabilities: { kind: 'softmax' },
  },
};
