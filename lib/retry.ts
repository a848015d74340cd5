// The one backoff of the testbed: a delay that doubles from `minMs` per attempt up to `maxMs`.
// With jitter (the default) the delay is drawn between minMs/2 and that ceiling, so that clients
// which failed together (every gateway when the centre restarts) do not retry together.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  /** Draw the delay at random below the ceiling (default true); false gives the ceiling itself. */
  jitter?: boolean | undefined;
}

/** The delay in ms before retry number `attempt` (0 for the first retry). */
export function backoffDelayMs(attempt: number, o: BackoffOptions): number {
  // 2 ** 20 × minMs is past any sensible maxMs; capping the exponent keeps the product finite.
  const ceiling = Math.min(o.maxMs, o.minMs * 2 ** Math.min(Math.max(0, attempt), 20));
  if (o.jitter === false) return ceiling;
  return o.minMs / 2 + Math.random() * (ceiling - o.minMs / 2);
}
