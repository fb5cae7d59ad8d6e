import { ConveyorError, type CtcStep } from '@conveyor/shared';

/** One decoded line: its text and the mean probability of the characters kept. */
export interface DecodedText {
  readonly text: string;
  readonly confidence: number;
}

export type DictionaryOptions = Pick<CtcStep, 'blank' | 'space'>;

/**
 * The classes of a CTC recogniser from a dictionary file's text (one character per line, as
 * PaddleOCR's ppocr_keys_v1.txt): the blank (as "") at index `blank`, then the characters, then a
 * space when `space` is set.
 */
export function dictionaryClasses(text: string, options: DictionaryOptions): string[] {
  const characters = text.split(/\r?\n/);
  if (characters.at(-1) === '') characters.pop();
  if (options.space) characters.push(' ');
  if (options.blank > characters.length)
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `the CTC blank index ${options.blank} is beyond the dictionary's ${characters.length} characters`,
    );
  characters.splice(options.blank, 0, '');
  return characters;
}

/** The probabilities of a recogniser's output: [N, T, C], row-major. */
export interface SequenceScores {
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number];
}

/**
 * Greedy CTC decoding: the most probable class per time step, repeats merged, blanks dropped.
 * The confidence is the mean of the kept steps' probabilities (0 for an empty line), as in
 * PaddleOCR's CTCLabelDecode. The class count must equal the dictionary's.
 */
export function ctcDecode(
  scores: SequenceScores,
  classes: readonly string[],
  blank: number,
): DecodedText[] {
  const [lines, steps, width] = scores.dims;
  if (width !== classes.length)
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `the recogniser scores ${width} classes but the dictionary gives ${classes.length}`,
      { details: { classes: width, dictionary: classes.length } },
    );
  const decoded: DecodedText[] = [];
  for (let line = 0; line < lines; line++) {
    let [text, sum, kept, previous] = ['', 0, 0, -1];
    for (let step = 0; step < steps; step++) {
      const offset = (line * steps + step) * width;
      let [best, bestScore] = [0, scores.data[offset]!];
      for (let c = 1; c < width; c++) {
        const score = scores.data[offset + c]!;
        if (score > bestScore) [best, bestScore] = [c, score];
      }
      if (best !== blank && best !== previous) {
        text += classes[best]!;
        sum += bestScore;
        kept++;
      }
      previous = best;
    }
    decoded.push({ text, confidence: kept === 0 ? 0 : sum / kept });
  }
  return decoded;
}
