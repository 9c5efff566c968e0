/**
 * Simulated time. Everything inside the mock (latencies, batch phases, rate-limit windows,
 * timestamps in the objects it returns) is in simulated epoch milliseconds, which run
 * `timeScale` times faster than the wall clock. Only what a client waits on for real (a
 * synchronous answer's delay, retry-after, x-ratelimit-reset-*) is converted back.
 */
export class SimClock {
  private readonly realStart: number;

  constructor(
    private readonly timeScale: number,
    private readonly realNow: () => number = () => performance.now(),
    private readonly epochStart: number = Date.now(),
  ) {
    this.realStart = realNow();
  }

  /** Simulated epoch milliseconds. */
  now(): number {
    return this.epochStart + (this.realNow() - this.realStart) * this.timeScale;
  }

  /** Wall-clock milliseconds that a simulated duration takes. */
  toRealMs(simMs: number): number {
    return simMs / this.timeScale;
  }
}

/** Unix seconds of a simulated epoch-ms instant, as OpenAI objects carry them. */
export function unixSeconds(epochMs: number): number {
  return Math.floor(epochMs / 1000);
}
