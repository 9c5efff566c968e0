import { wallMs, type Clock } from '../../shared/clock.js';

/**
 * The mock's view of the runtime's one clock. Everything inside the mock (latencies, batch phases,
 * rate-limit windows, timestamps in the objects it returns) is in that clock's epoch milliseconds,
 * which may run faster than the wall clock. Only what a client waits on with its own timer
 * (retry-after, x-ratelimit-reset-*) is converted to wall time.
 */
export class SimClock {
  constructor(private readonly clock: Clock) {}

  /** The clock's epoch milliseconds. */
  now(): number {
    return this.clock.now().getTime();
  }

  /** Sleeps `ms` of the clock's time, or until the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.clock.sleep(ms, signal);
  }

  /** Wall-clock milliseconds that a duration of the clock's time takes. */
  toRealMs(simMs: number): number {
    return wallMs(this.clock, simMs);
  }
}

/** Unix seconds of an epoch-ms instant, as OpenAI objects carry them. */
export function unixSeconds(epochMs: number): number {
  return Math.floor(epochMs / 1000);
}
