/**
 * Retry and Catch on a Task, Parallel or Map: refuses the fields the engine ignores, and puts the
 * retry timing on the runtime's clock.
 */
import { isRecord } from '../../shared/is-record.js';
import { CATCHER, FieldChecks, REFUSED, RETRIER, type Scope } from './definition-checks.js';
import { MAX_TIMER_SECONDS, type AslState } from './definition-plans.js';

export class RetryAndCatchChecks extends FieldChecks {
  /** `timeScale` is the runtime clock's: how many clock seconds pass per wall-clock second. */
  constructor(private readonly timeScale: number) {
    super();
  }

  /** Checks the state's retriers and catchers, and rewrites its retriers in place. */
  check(name: string, state: AslState, scope: Scope): void {
    if (state.Retry !== undefined) {
      if (!Array.isArray(state.Retry)) this.refuse(name, 'Retry', 'Retry must be a list of retriers', scope);
      state.Retry = (state.Retry as unknown[]).map((retrier) => {
        if (!isRecord(retrier)) return this.refuse(name, 'Retry', 'a retrier must be an object', scope);
        for (const field of Object.keys(retrier)) {
          if (!RETRIER.includes(field))
            this.refuse(name, `Retry.${field}`, REFUSED[field] ?? 'not a retrier field the engine honours', scope);
        }
        return this.scaleRetrier(retrier);
      });
    }
    if (state.Catch !== undefined) {
      if (!Array.isArray(state.Catch)) this.refuse(name, 'Catch', 'Catch must be a list of catchers', scope);
      for (const catcher of state.Catch as unknown[]) {
        if (!isRecord(catcher)) this.refuse(name, 'Catch', 'a catcher must be an object', scope);
        for (const field of Object.keys(catcher)) {
          if (!CATCHER.includes(field))
            this.refuse(name, `Catch.${field}`, REFUSED[field] ?? 'not a catcher field the engine honours', scope);
        }
      }
    }
  }

  /**
   * Divides the retrier's interval and delay cap by the clock's timeScale (wall time for the
   * engine's timer). The engine then computes
   * interval * backoff^attempt, caps it at MaxDelaySeconds and applies FULL jitter itself. A
   * retrier without a cap gets one at the 32-bit timer limit, so a long backoff cannot overflow
   * into an immediate retry.
   */
  private scaleRetrier(retrier: Record<string, unknown>): Record<string, unknown> {
    const interval = typeof retrier.IntervalSeconds === 'number' ? retrier.IntervalSeconds : 1;
    const maxDelay =
      typeof retrier.MaxDelaySeconds === 'number' ? retrier.MaxDelaySeconds / this.timeScale : MAX_TIMER_SECONDS;
    return {
      ...retrier,
      IntervalSeconds: Math.min(interval / this.timeScale, MAX_TIMER_SECONDS),
      MaxDelaySeconds: Math.min(maxDelay, MAX_TIMER_SECONDS),
    };
  }
}
