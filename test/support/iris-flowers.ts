/** Eight iris flowers (two to three of each species) that feedback and drift tests send. */
export const FLOWERS = [
  [5.1, 3.5, 1.4, 0.2],
  [4.9, 3.0, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
  [6.4, 3.2, 4.5, 1.5],
  [6.3, 3.3, 6.0, 2.5],
  [5.8, 2.7, 5.1, 1.9],
  [5.0, 3.6, 1.4, 0.2],
  [5.7, 2.8, 4.1, 1.3],
];

/** The classes a "truth" gives FLOWERS: some agree with the model, some do not. */
export const TRUTH = [0, 1, 1, 2, 2, 2, 0, 0];

/** The index of a row's largest score: the top class. */
export const argmax = (row: readonly number[]) => row.indexOf(Math.max(...row));
