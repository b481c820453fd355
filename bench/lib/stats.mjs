/** Small statistics helpers: sorted-array percentiles (sample counts are bounded by the driver). */

/** Percentile (nearest-rank) of an already sorted numeric array; NaN when empty. */
export function percentileSorted(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** p50/p95/p99/max/mean of an array of numbers (copied and sorted). */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: percentileSorted(sorted, 50),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Adds the counts of `b` into `a` (both plain objects of numbers), returns `a`. */
export function addCounts(a, b) {
  for (const [k, v] of Object.entries(b || {})) a[k] = (a[k] || 0) + v;
  return a;
}

export function sumCounts(o) {
  let n = 0;
  for (const v of Object.values(o || {})) n += v;
  return n;
}
