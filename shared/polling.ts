import { BATCH_DEADLINE_SECONDS, MAX_POLL_TURNS, POLL_INTERVALS } from './limits.js';
import type { ProviderMode } from './types.js';

/** What a child execution carries between its submit, wait and poll states. Kept small. */
export interface BatchState {
  jobId: string;
  batchId: string;
  mode: ProviderMode;
  /** Items of the batch not yet in a terminal state; the Choice loops while it is above 0. */
  pending: number;
  /** The next Wait, in seconds. */
  waitSeconds: number;
  /** Poll turns taken so far (bounded by MAX_POLL_TURNS). */
  pollTurn: number;
  /** When the batch gives up on the provider (ISO time). */
  deadline: string;
}

export function initialWaitSeconds(mode: ProviderMode): number {
  return POLL_INTERVALS[mode].initial;
}

export function batchDeadline(mode: ProviderMode, now: Date): string {
  return new Date(now.getTime() + BATCH_DEADLINE_SECONDS[mode] * 1000).toISOString();
}

/**
 * The next wait adapts to what the last poll saw: when items finished, poll again as soon
 * (slightly sooner); when nothing moved, back off geometrically up to the mode's cap.
 */
export function nextWaitSeconds(mode: ProviderMode, previous: number, progressed: boolean): number {
  const { min, max, growth } = POLL_INTERVALS[mode];
  const next = progressed ? previous / growth : previous * growth;
  return Math.round(Math.min(max, Math.max(min, next)));
}

/** Why a batch must stop waiting now, if it must. */
export function pollLimitReached(state: Pick<BatchState, 'pollTurn' | 'deadline'>, now: Date): { code: string; message: string } | undefined {
  if (state.pollTurn >= MAX_POLL_TURNS) {
    return {
      code: 'poll_limit_reached',
      message: `gave up after ${MAX_POLL_TURNS} poll turns (the bound that keeps a child execution under the 25,000-event history limit)`,
    };
  }
  if (now.getTime() >= Date.parse(state.deadline)) {
    return { code: 'deadline_exceeded', message: `the provider did not finish before the batch deadline ${state.deadline}` };
  }
  return undefined;
}
