/**
 * @file The statistics of drift, pure: population stability index, and two two-sample tests on
 * binned counts (chi-square of homogeneity, Kolmogorov–Smirnov), with their p-values.
 */

/** The share given to an empty bin in PSI, so that its logarithm stays finite. */
export const PSI_EPSILON = 1e-4;

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/**
 * Population stability index of `actual` counts against `expected` counts over the same bins:
 * Σ (aᵢ − eᵢ)·ln(aᵢ / eᵢ) over the bins' shares, an empty share taken as `epsilon`. 0 is the same
 * distribution; above 0.1 is a moderate shift and above 0.2 a large one (the usual reading).
 * NaN when either side has no count or the bins differ in number.
 */
export function psi(
  expected: readonly number[],
  actual: readonly number[],
  epsilon = PSI_EPSILON,
): number {
  const e = sum(expected);
  const a = sum(actual);
  if (e <= 0 || a <= 0 || expected.length !== actual.length) return Number.NaN;
  let total = 0;
  for (let i = 0; i < expected.length; i++) {
    const ei = Math.max((expected[i] ?? 0) / e, epsilon);
    const ai = Math.max((actual[i] ?? 0) / a, epsilon);
    total += (ai - ei) * Math.log(ai / ei);
  }
  return total;
}

/** The result of a two-sample test: its statistic and the p-value under the null hypothesis. */
export interface TestResult {
  statistic: number;
  pValue: number;
}

/**
 * Chi-square test of homogeneity of two samples given as counts over the same bins (a 2×k
 * contingency table): statistic Σ (O − E)² / E over both rows, bins empty in both left out,
 * k − 1 degrees of freedom (k the bins with any count). NaN when a side has no count.
 */
export function chiSquareTest(
  a: readonly number[],
  b: readonly number[],
): TestResult & { df: number } {
  const na = sum(a);
  const nb = sum(b);
  if (na <= 0 || nb <= 0 || a.length !== b.length)
    return { statistic: Number.NaN, pValue: Number.NaN, df: 0 };
  const n = na + nb;
  let statistic = 0;
  let bins = 0;
  for (let i = 0; i < a.length; i++) {
    const column = (a[i] ?? 0) + (b[i] ?? 0);
    if (column <= 0) continue;
    bins++;
    const ea = (na * column) / n;
    const eb = (nb * column) / n;
    statistic += ((a[i] ?? 0) - ea) ** 2 / ea + ((b[i] ?? 0) - eb) ** 2 / eb;
  }
  const df = bins - 1;
  return { statistic, pValue: df > 0 ? chiSquareSurvival(statistic, df) : 1, df };
}

/**
 * Two-sample Kolmogorov–Smirnov test on binned counts: the statistic is the largest distance
 * between the two empirical CDFs at the bin edges (a lower bound of the unbinned statistic), the
 * p-value the asymptotic Kolmogorov distribution's at the effective size n·m/(n+m).
 */
export function ksTest(a: readonly number[], b: readonly number[]): TestResult {
  const na = sum(a);
  const nb = sum(b);
  if (na <= 0 || nb <= 0 || a.length !== b.length)
    return { statistic: Number.NaN, pValue: Number.NaN };
  let ca = 0;
  let cb = 0;
  let statistic = 0;
  for (let i = 0; i < a.length; i++) {
    ca += a[i] ?? 0;
    cb += b[i] ?? 0;
    statistic = Math.max(statistic, Math.abs(ca / na - cb / nb));
  }
  const ne = (na * nb) / (na + nb);
  const root = Math.sqrt(ne);
  // Stephens' correction for finite samples (Numerical Recipes §14.3).
  return { statistic, pValue: kolmogorovSurvival((root + 0.12 + 0.11 / root) * statistic) };
}

/** P(K > λ) of the Kolmogorov distribution: 2 Σ (−1)^(j−1) e^(−2j²λ²). */
export function kolmogorovSurvival(lambda: number): number {
  if (lambda <= 0) return 1;
  // The series converges too slowly to be useful here, and its value is 1 to double precision.
  if (lambda < 0.2) return 1;
  let total = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    total += j % 2 === 1 ? term : -term;
    if (term < 1e-16) break;
  }
  return Math.min(1, Math.max(0, 2 * total));
}

/** P(X > x) for X chi-square with `df` degrees of freedom: Q(df/2, x/2). */
export function chiSquareSurvival(x: number, df: number): number {
  if (x <= 0) return 1;
  return upperGammaRegularized(df / 2, x / 2);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let series = c[0] as number;
  for (let i = 1; i < 9; i++) series += (c[i] as number) / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(series);
}

/**
 * Q(a, x) = Γ(a, x) / Γ(a): the series of P below x < a + 1, the continued fraction above
 * (Numerical Recipes §6.2), each to a relative 1e-15.
 */
export function upperGammaRegularized(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let total = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      total += term;
      if (Math.abs(term) < Math.abs(total) * 1e-15) break;
    }
    return Math.max(0, 1 - front * total);
  }
  // Lentz's method for the continued fraction of Γ(a, x).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.min(1, front * h);
}
