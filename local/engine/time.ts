/**
 * Resolves after every pending promise job has run: the engine's event log is consumed in promise
 * jobs, so after a tick the history holds every event the engine dispatched before it.
 */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
