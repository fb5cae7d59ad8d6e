import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  defineModel,
  type ConveyorClient,
  type DriftReport,
  type FeedbackReceipt,
  type JobHandle,
  type ModelAccuracy,
  type Prediction,
  type PredictManyResult,
  type Tensor,
} from '@conveyor/sdk';
import { type EmbeddedClient } from '@conveyor/sdk/embedded';

// The type cases are checked by the compiler (`pnpm typecheck` covers test/): they sit in
// typeCases, which is never called, since `client` exists only as a type. At run time this file
// tests what defineModel returns and refuses.
const iris = defineModel({
  name: 'iris',
  inputs: { features: 'float32' },
  outputs: { probabilities: 'float32' },
});
const multi = defineModel({
  name: 'multi',
  inputs: { ids: 'int64', mask: 'bool' },
  outputs: { scores: 'float32', labels: 'int64' },
});

describe('defineModel', () => {
  it('keeps the declared names and dtypes', () => {
    expect(iris).toEqual({
      name: 'iris',
      inputs: { features: 'float32' },
      outputs: { probabilities: 'float32' },
    });
    expect(Object.isFrozen(iris)).toBe(true);
    expectTypeOf(iris.outputs).toEqualTypeOf<{ readonly probabilities: 'float32' }>();
  });

  it('refuses a declaration with a bad name or dtype with ERR_VALIDATION', () => {
    for (const bad of [
      { name: 'Iris!', inputs: { features: 'float32' }, outputs: { p: 'float32' } },
      { name: 'iris', inputs: { features: 'float128' }, outputs: { p: 'float32' } },
      { name: 'iris', inputs: {}, outputs: { p: 'float32' } },
    ]) {
      expect(() => defineModel(bad as never)).toThrow(
        expect.objectContaining({ code: 'ERR_VALIDATION' }),
      );
    }
  });

  it('lets an embedded client stand where a queue client does', () => {
    expectTypeOf<EmbeddedClient>().toExtend<ConveyorClient>();
  });
});

export function typeCases(client: ConveyorClient): void {
  // types the outputs of predict with a definition
  {
    expectTypeOf(client.predict(iris, { features: [[5.1, 3.5, 1.4, 0.2]] })).toEqualTypeOf<
      Promise<Prediction<{ probabilities: Tensor<'float32'> }>>
    >();
    type MultiOutputs = Awaited<ReturnType<typeof client.predict<typeof multi>>>['outputs'];
    expectTypeOf<MultiOutputs['scores']['data']>().toEqualTypeOf<Float32Array>();
    expectTypeOf<MultiOutputs['labels']['data']>().toEqualTypeOf<BigInt64Array>();
  }

  // narrows the outputs to those asked for
  {
    const only = client.predict(multi, { ids: [[1n]], mask: [[true]] }, { outputs: ['labels'] });
    expectTypeOf(only).toEqualTypeOf<Promise<Prediction<{ labels: Tensor<'int64'> }>>>();
    // @ts-expect-error: iris has no output "logits"
    void client.predict(iris, { features: [[1, 2, 3, 4]] }, { outputs: ['logits'] });
  }

  // checks typed inputs by name and dtype
  {
    void client.predict(iris, { features: { data: new Float32Array(4), shape: [1, 4] } });
    void client.predict(iris, {
      sepal_length: 5.1,
      sepal_width: 3.5,
      petal_length: 1.4,
      petal_width: 0.2,
    });
    // @ts-expect-error: a Float64Array is not float32 data
    void client.predict(iris, { features: { data: new Float64Array(4), shape: [1, 4] } });
    // @ts-expect-error: the input of iris is called "features"
    void client.predict(iris, { feature: [[1, 2, 3, 4]] });
  }

  // keeps the string form untyped but working
  {
    expectTypeOf(client.predict('iris', { features: [[1, 2, 3, 4]] })).toEqualTypeOf<
      Promise<Prediction<Record<string, Tensor>>>
    >();
    expectTypeOf(client.enqueue('iris', { features: [[1, 2, 3, 4]] })).toEqualTypeOf<
      Promise<JobHandle<Record<string, Tensor>>>
    >();
  }

  // gives feedback and reads accuracy through the interface both clients implement
  {
    expectTypeOf(client.feedback('iris.1.x', { label: 2 })).toEqualTypeOf<
      Promise<FeedbackReceipt>
    >();
    expectTypeOf(client.accuracy('iris', { at: 0 })).toEqualTypeOf<Promise<ModelAccuracy>>();
    expectTypeOf(client.drift('iris', { windowMs: 60_000 })).toEqualTypeOf<Promise<DriftReport>>();
    // @ts-expect-error: feedback is a label or a value, not a class name under another key
    void client.feedback('iris.1.x', { class: 'setosa' });
  }

  // types handles and predictMany results
  {
    expectTypeOf(client.enqueue(iris, { features: [[1, 2, 3, 4]] })).toEqualTypeOf<
      Promise<JobHandle<{ probabilities: Tensor<'float32'> }>>
    >();
    expectTypeOf(client.predictMany(iris, [{ features: [[1, 2, 3, 4]] }])).toEqualTypeOf<
      AsyncIterableIterator<PredictManyResult<{ probabilities: Tensor<'float32'> }>>
    >();
  }
}
