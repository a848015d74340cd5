// Waiting with a bound: the one way the data plane sleeps, gives up on a promise, or waits for a
// step of a shutdown only so long. Timers are cleared when the promise settles first, so a closed
// role leaves no timer keeping the process alive.

/** Resolves after `ms`, or at once when `signal` aborts (a sleeping loop wakes up to stop). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The promise's value, or a rejection with `message` once `ms` have passed first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether `promise` settled (resolved or rejected) within `ms`. For shutdown steps that are worth
 * a short wait but must not hold the shutdown up: a rejection is as good as a resolution here.
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Callers waiting for a condition (an outbox drained, a connection up), each with its own
 * deadline. The owner calls resolveAll() when the condition holds and rejectAll() when it never
 * will; a waiter whose deadline passes first is rejected with the message `timeoutMessage` gives.
 */
export class Waiters {
  #waiting = new Set<{ resolve: () => void; reject: (err: Error) => void; timer?: NodeJS.Timeout }>();

  get size(): number {
    return this.#waiting.size;
  }

  /** Resolves at the next resolveAll(); rejects at rejectAll() or after `timeoutMs` (never, when undefined). */
  wait(timeoutMs: number | undefined, timeoutMessage: () => string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: { resolve: () => void; reject: (err: Error) => void; timer?: NodeJS.Timeout } = { resolve, reject };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.#waiting.delete(w);
          reject(new Error(timeoutMessage()));
        }, timeoutMs);
      }
      this.#waiting.add(w);
    });
  }

  resolveAll(): void {
    for (const w of this.#take()) w.resolve();
  }

  rejectAll(err: Error): void {
    for (const w of this.#take()) w.reject(err);
  }

  #take() {
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) clearTimeout(w.timer);
    return all;
  }
}
