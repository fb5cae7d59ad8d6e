import { FIRST_PACK_ROWS, createPackSizer, type PackSizer, type Prediction } from '@conveyor/sdk';

/** How many rows the next packed job of a model holds, learned from packed jobs that finished. */
export interface PackSizes {
  rows(model: string): number;
  /** Learns ms per row from a finished packed job of `rows` rows. */
  observe(model: string, timings: Prediction['timings'], rows: number): void;
}

/**
 * Per model, in this producer, the SDK's pack sizer (createPackSizer, as predictMany uses): packs
 * move toward the SDK's TARGET_PACK_MS of inference, learned from onnxruntime's time per row of the
 * packed jobs read. Until a packed job of the model was read, FIRST_PACK_ROWS. Only models a batch
 * packed for (announced ones) are kept.
 */
export function createPackSizes(): PackSizes {
  const sizers = new Map<string, PackSizer>();
  return {
    rows: (model) => sizers.get(model)?.rows ?? FIRST_PACK_ROWS,
    observe(model, timings, rows) {
      let sizer = sizers.get(model);
      if (sizer === undefined) {
        sizer = createPackSizer();
        sizers.set(model, sizer);
      }
      sizer.observe(timings, rows);
    },
  };
}
