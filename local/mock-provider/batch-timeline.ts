/**
 * A mock batch's record and its timeline: every phase and every line's end are planned at
 * creation, so status and request_counts at any instant are read off the clock.
 */
import type { RequestEndpoint } from './answers.js';
import type { BatchError } from './batch-input.js';

/**
 * A batch's phases, as shares of its duration (batchDurationMs): validating until 10%, lines
 * finish spread over in_progress until 90%, finalizing until 100%. A batch drawn to expire
 * (batchExpireRate) ends at 50%. A cancel takes 5% in cancelling.
 */
export const VALIDATED_AT = 0.1;
export const FINALIZING_AT = 0.9;
export const EXPIRES_AT = 0.5;
export const CANCELLING_SHARE = 0.05;

/** How a line ends, stored per line as an index into LINE_STATUS (a Uint8Array keeps 50,000 lines small). */
export const LINE_OK = 0;
export const LINE_PERMANENT = 1;
export const LINE_500 = 2;
export const LINE_503 = 3;
export const LINE_STATUS = [200, 400, 500, 503] as const;

export type BatchStatus =
  'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

/** Per line (input order): when it finishes (simulated ms) and how it ends. Dropped once the output is written. */
export interface LinePlan {
  finishAt: Float64Array;
  kinds: Uint8Array;
  /** Finish times of succeeding / failing lines, sorted, for counting at any instant. */
  okSorted: Float64Array;
  failSorted: Float64Array;
}

export interface BatchResult {
  outputFileId: string | null;
  errorFileId: string | null;
  completed: number;
  failed: number;
}

export interface BatchRecord {
  id: string;
  createdAt: number;
  durationMs: number;
  endpoint: RequestEndpoint;
  inputFileId: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  model: string | null;
  total: number;
  expires: boolean;
  /** Input tokens the batch holds in its model's batch queue while it runs (set once admitted). */
  inputTokens?: number;
  validationErrors?: BatchError[];
  plan?: LinePlan;
  cancelledAt?: number;
  result?: BatchResult;
}

export function timeline(record: BatchRecord) {
  const { createdAt, durationMs } = record;
  return {
    validated: createdAt + durationMs * VALIDATED_AT,
    finalizing: createdAt + durationMs * FINALIZING_AT,
    done: createdAt + durationMs,
    expires: createdAt + durationMs * EXPIRES_AT,
    cancelled: record.cancelledAt !== undefined ? record.cancelledAt + durationMs * CANCELLING_SHARE : undefined,
  };
}

export function statusAt(record: BatchRecord, now: number): BatchStatus {
  const times = timeline(record);
  if (record.validationErrors) return now < times.validated ? 'validating' : 'failed';
  if (times.cancelled !== undefined) return now < times.cancelled ? 'cancelling' : 'cancelled';
  if (now < times.validated) return 'validating';
  if (record.expires && now >= times.expires) return 'expired';
  if (now < times.finalizing) return 'in_progress';
  if (now < times.done) return 'finalizing';
  return 'completed';
}

export function isTerminal(status: BatchStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'expired' || status === 'cancelled';
}

/** Lines that finished by this instant count: a cancel or the expiry freezes the set. */
export function cutoffAt(record: BatchRecord, now: number): number {
  let cutoff = now;
  if (record.cancelledAt !== undefined) cutoff = Math.min(cutoff, record.cancelledAt);
  if (record.expires) cutoff = Math.min(cutoff, timeline(record).expires);
  return cutoff;
}

export function countsAt(record: BatchRecord, now: number): { completed: number; failed: number } {
  const plan = record.plan;
  if (!plan) return { completed: 0, failed: 0 };
  const cutoff = cutoffAt(record, now);
  return { completed: countAtMost(plan.okSorted, cutoff), failed: countAtMost(plan.failSorted, cutoff) };
}

/** How many sorted values are <= limit (binary search). */
function countAtMost(sorted: Float64Array, limit: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] ?? Number.POSITIVE_INFINITY) <= limit) low = middle + 1;
    else high = middle;
  }
  return low;
}
