/**
 * The one source of time of a process. On AWS it is the wall clock. The local runtime owns one
 * clock for the whole stack (engine, mock provider, tasks, store): with the mock provider it runs
 * `timeScale` times faster than the wall clock, so every wait means the same as on AWS and every
 * timestamp a job shows comes from the same clock.
 */
export interface Clock {
  now(): Date;
  /** Waits `ms` of this clock's time, or until the signal aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * How many times faster than the wall clock this clock runs (1 when absent). Only for a
   * duration handed to a wall-clock timer this process does not own: see `wallMs`.
   */
  readonly timeScale?: number;
}

/**
 * The wall-clock milliseconds that `ms` of the clock's time take: for a timer that sleeps on the
 * wall clock and cannot be given this clock (the engine library's Retry backoff, an HTTP client
 * honouring retry-after).
 */
export function wallMs(clock: Clock, ms: number): number {
  return ms / (clock.timeScale ?? 1);
}

const MAX_TIMER_MS = 2_147_483_647;

/** Sleeps `realMs` of wall time (in pieces past a 32-bit timer), or until the signal aborts. */
export async function sleepReal(realMs: number, signal?: AbortSignal): Promise<void> {
  let left = realMs;
  while (left > 0 && !signal?.aborted) {
    const chunk = Math.min(left, MAX_TIMER_MS);
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, chunk);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    left -= chunk;
  }
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date(), sleep: sleepReal, timeScale: 1 };

/** A clock `timeScale` times faster than the wall clock, starting at the wall clock's now. */
export function scaledClock(
  timeScale: number,
  realNow: () => number = () => performance.now(),
  epochStart = Date.now(),
): Clock {
  if (!(timeScale > 0)) throw new RangeError(`timeScale must be above 0 (got ${timeScale})`);
  if (timeScale === 1) return systemClock;
  const realStart = realNow();
  return {
    now: () => new Date(epochStart + (realNow() - realStart) * timeScale),
    sleep: (ms, signal) => sleepReal(ms / timeScale, signal),
    timeScale,
  };
}
