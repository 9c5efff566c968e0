/** Timers for the local runtime. */

const MAX_TIMER_MS = 2_147_483_647;

/**
 * Sleeps `ms` (any length: longer than a 32-bit timer is slept in pieces), or until the signal
 * aborts. Never rejects: the caller checks the signal.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  let left = ms;
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

/**
 * Resolves after every pending promise job has run: the engine's event log is consumed in promise
 * jobs, so after a tick the history holds every event the engine dispatched before it.
 */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
