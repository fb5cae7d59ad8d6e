import { describe, expect, it } from 'vitest';
import { createLogger, type JobPayload } from '@conveyor/shared';
import {
  combineObservers,
  type CompletedPrediction,
  type PredictionObserver,
} from './prediction-observer.js';

const log = createLogger({ component: 'worker', level: 'silent' });
const payload = (model: string) => ({ model, inputs: {} }) as unknown as JobPayload;

function recorder(
  want: 'no' | 'outputs' | 'inputs',
  seen: string[],
  fail = false,
): PredictionObserver {
  return {
    wants: () => want,
    completed: (p) => {
      seen.push(`${want}:${p.jobId}`);
      if (fail) throw new Error('observer broke');
    },
  };
}

describe('combineObservers', () => {
  it('asks for inputs when any observer needs them and feeds only the takers', () => {
    const seen: string[] = [];
    const combined = combineObservers(
      [recorder('no', seen), recorder('outputs', seen), recorder('inputs', seen, true)],
      log,
    );
    const job = payload('iris');
    expect(combined.wants('iris', '1', job)).toBe('inputs');
    void combined.completed({ jobId: 'j1', payload: job } as CompletedPrediction);
    expect(seen).toEqual(['outputs:j1', 'inputs:j1']);
    // A payload nobody asked about is fed to nobody.
    void combined.completed({ jobId: 'j2', payload: payload('iris') } as CompletedPrediction);
    expect(seen).toHaveLength(2);
  });

  it('wants nothing when every observer declines', () => {
    const combined = combineObservers([recorder('no', [])], log);
    expect(combined.wants('iris', '1', payload('iris'))).toBe('no');
    expect(combineObservers([], log).wants('iris', '1', payload('iris'))).toBe('no');
  });
});
