/** Levenshtein distance between two strings, counted in Unicode code points. */
export function editDistance(a: string, b: string): number {
  const [s, t] = [[...a], [...b]];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const substitution = previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[t.length]!;
}

/**
 * Character error rate of a recognised text against the truth: edits needed over the truth's
 * length (1 for any text against an empty truth, 0 for two empty strings).
 */
export function characterErrorRate(recognised: string, truth: string): number {
  const length = [...truth].length;
  if (length === 0) return recognised === '' ? 0 : 1;
  return editDistance(recognised, truth) / length;
}
