// Confidence intervals for site comparison. 95 % throughout.
//
//   proportions of independent events (false-alarm rate)        Wilson score interval
//   means over participants (completeness, uptime, intake, …)     Student t on participant-level values
//                                                                 (the participant is the unit: days of
//                                                                 one person are not independent)
//   rates (alerts per participant-week)                           exact Poisson (Garwood, chi-square)
//   baseline vs intervention (same participants)                  paired t on per-participant differences
//
// Numerical pieces (log-gamma, regularised incomplete beta and gamma, quantiles by bisection)
// are the textbook ones (Lanczos; continued fractions as in Numerical Recipes), written here.

export interface Interval {
  estimate: number | null;
  lower: number | null;
  upper: number | null;
  /** Units the estimate rests on: participants, labelled alerts, or events. */
  n: number;
  method: 'wilson' | 't' | 'poisson-exact' | 'paired-t' | 'none';
  /** Set when the cell is withheld (too few participants behind it): why; estimate and interval are then null. */
  suppressed?: string;
}

const Z95 = 1.959963984540054;

export function wilson(successes: number, n: number, z = Z95): Interval {
  if (n <= 0) return { estimate: null, lower: null, upper: null, n: 0, method: 'wilson' };
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { estimate: p, lower: Math.max(0, centre - half), upper: Math.min(1, centre + half), n, method: 'wilson' };
}

/** Mean of per-unit values with a Student t interval; `clamp` bounds it (e.g. [0, 1] for proportions). */
export function meanT(values: number[], clamp?: [number, number]): Interval {
  const n = values.length;
  if (n === 0) return { estimate: null, lower: null, upper: null, n: 0, method: 't' };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { estimate: mean, lower: null, upper: null, n, method: 't' };
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = tQuantile(0.975, n - 1) * (sd / Math.sqrt(n));
  let lower = mean - half;
  let upper = mean + half;
  if (clamp) {
    lower = Math.max(clamp[0], lower);
    upper = Math.min(clamp[1], upper);
  }
  return { estimate: mean, lower, upper, n, method: 't' };
}

/** Paired difference (after − before) over units present in both. */
export function pairedT(pairs: [before: number, after: number][]): Interval {
  const r = meanT(pairs.map(([a, b]) => b - a));
  return { ...r, method: 'paired-t' };
}

/** Rate = events / exposure with Garwood's exact Poisson interval. */
export function poissonRate(events: number, exposure: number): Interval {
  if (exposure <= 0) return { estimate: null, lower: null, upper: null, n: events, method: 'poisson-exact' };
  const lower = events === 0 ? 0 : chi2Quantile(0.025, 2 * events) / 2;
  const upper = chi2Quantile(0.975, 2 * events + 2) / 2;
  return { estimate: events / exposure, lower: lower / exposure, upper: upper / exposure, n: events, method: 'poisson-exact' };
}

// ── special functions ──────────────────────────────────────────────────────────────────────

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = 0.99999999999980993;
  const t = x + 7.5;
  for (let i = 0; i < 8; i++) a += LANCZOS[i]! / (x + i + 1);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betacf(a: number, b: number, x: number): number {
  const FPMIN = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bt = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b;
}

export function tCdf(t: number, df: number): number {
  const x = df / (df + t * t);
  const tail = 0.5 * incBeta(x, df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

export function tQuantile(p: number, df: number): number {
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Regularised lower incomplete gamma P(a, x). */
export function incGamma(a: number, x: number): number {
  if (x <= 0) return 0;
  const gln = logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    let ap = a;
    for (let n = 0; n < 1000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  // Continued fraction for Q(a, x).
  const FPMIN = 1e-300;
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return 1 - Math.exp(-x + a * Math.log(x) - gln) * h;
}

export function chi2Quantile(p: number, df: number): number {
  let lo = 0;
  let hi = Math.max(10, df * 10 + 100);
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (incGamma(df / 2, mid / 2) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
