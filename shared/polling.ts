import { BATCH_DEADLINE_SECONDS, MAX_POLL_TURNS, POLL_INTERVALS } from './limits.js';
import type { JobRecord, OutputLine, ProviderMode } from './types.js';
import type { BatchState } from './workflow-state.js';

/**
 * What a poll knows at the end of a job: every item of the job has been sent, so the batches
 * still waiting are the job's last, and their wait is the job's. Their requests are due about
 * `expectedSeconds` after they were sent.
 */
export interface JobEndWindow {
  ageSeconds: number;
  expectedSeconds: number;
}

/** At the end of a job, polls come often until the requests are this many times their expected latency old. */
export const TAIL_EAGER_UNTIL_LATENCIES = 3;

/**
 * The first wait after submitting: the provider latency this job has seen so far (so later batches
 * poll when their requests are likely done), else the mode's default.
 */
export function initialWaitSeconds(mode: ProviderMode, job?: Pick<JobRecord, 'latencyEstimateSeconds'>): number {
  const { min, max, initial } = POLL_INTERVALS[mode];
  const estimate = job?.latencyEstimateSeconds;
  return estimate === undefined ? initial : Math.round(Math.min(max, Math.max(min, estimate)));
}

export function batchDeadline(mode: ProviderMode, now: Date): string {
  return new Date(now.getTime() + BATCH_DEADLINE_SECONDS[mode] * 1000).toISOString();
}

/** What a poll turn saw, for the next wait. */
export interface PollObservation {
  /** Whether any request finished (or the batch moved to finalizing). */
  progressed: boolean;
  /** How long the requests that finished took (median), when known. */
  latencySeconds?: number;
  /** When the provider batch should be done, projected from its request counts. */
  etaSeconds?: number;
  /** The end of the job, once every item has been sent. */
  tail?: JobEndWindow;
}

/**
 * The next wait adapts to what the last poll saw. A provider batch that reports its progress is
 * polled when, at the rate its requests have been finishing, it should be done. Nothing moved:
 * back off geometrically up to the mode's cap. Requests finished: the rest were submitted about
 * as long ago, so poll again after half the latency those requests took (when it is known), else
 * a little sooner than last time. At the end of a job (`tail`), the stragglers' wait is the
 * job's: poll every quarter of the expected latency until the requests are overdue, then back off
 * as usual. Only the last batches pay those extra turns.
 */
export function nextWaitSeconds(mode: ProviderMode, previous: number, sight: PollObservation): number {
  const { min, max, growth } = POLL_INTERVALS[mode];
  const { progressed, latencySeconds, etaSeconds, tail } = sight;
  let next: number;
  if (etaSeconds !== undefined) next = etaSeconds;
  else if (tail && tail.ageSeconds < TAIL_EAGER_UNTIL_LATENCIES * tail.expectedSeconds) next = tail.expectedSeconds / 4;
  else if (!progressed) next = previous * growth;
  else if (latencySeconds !== undefined) next = latencySeconds / 2;
  else next = previous / growth;
  return Math.round(Math.min(max, Math.max(min, next)));
}

/**
 * When a running provider batch should be done, from how long it has run and the share of its
 * requests finished so far (linear); undefined before any has finished. All finished: it is
 * finalizing, so look again soon (0: the mode's minimum wait).
 */
export function batchEtaSeconds(
  ageSeconds: number,
  counts: { total: number; completed: number; failed: number },
): number | undefined {
  const finished = counts.completed + counts.failed;
  if (counts.total <= 0 || finished <= 0) return undefined;
  if (finished >= counts.total) return 0;
  return (ageSeconds * (counts.total - finished)) / finished;
}

/**
 * How long the provider took for a finished request, when its body records it (Responses: created_at, completed_at).
 */
export function observedLatencySeconds(output: OutputLine): number | undefined {
  const body = output.response?.body as { created_at?: unknown; completed_at?: unknown } | undefined;
  if (typeof body?.created_at !== 'number' || typeof body.completed_at !== 'number') return undefined;
  const seconds = body.completed_at - body.created_at;
  return seconds >= 0 ? seconds : undefined;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Why a batch must stop waiting now, if it must. */
export function pollLimitReached(
  state: Pick<BatchState, 'pollTurn' | 'deadline'>,
  now: Date,
): { code: string; message: string } | undefined {
  if (state.pollTurn >= MAX_POLL_TURNS) {
    return {
      code: 'poll_limit_reached',
      message: `gave up after ${MAX_POLL_TURNS} poll turns (the bound that keeps a child execution under the 25,000-event history limit)`,
    };
  }
  if (now.getTime() >= Date.parse(state.deadline)) {
    return {
      code: 'deadline_exceeded',
      message: `the provider did not finish before the batch deadline ${state.deadline}`,
    };
  }
  return undefined;
}
