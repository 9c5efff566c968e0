import type { BatchError } from './batch-input.js';
import { statusAt, type BatchRecord } from './batch-timeline.js';

/** The organization the mock names in its messages. */
export const MOCK_ORGANIZATION = 'org-mock';

/** Statuses whose batches hold their input tokens in the queue. */
const ENQUEUED = new Set(['validating', 'in_progress', 'finalizing']);

/**
 * OpenAI's batch queue limit: per model, the input tokens of running batches (validating,
 * in_progress, finalizing) may not pass a limit. A batch that would pass it is still created,
 * then fails validation with `token_limit_exceeded`; it holds no tokens itself.
 */
export class BatchQueue {
  /** Accepted batches per model that may still hold tokens; pruned as they end. */
  private readonly running = new Map<string, BatchRecord[]>();

  /** `limit` 0 or Infinity: no limit. */
  constructor(private readonly limit: number) {}

  get limited(): boolean {
    return this.limit > 0 && Number.isFinite(this.limit);
  }

  /**
   * Takes the batch's tokens into its model's queue, or answers the validation error that fails
   * it when they do not fit next to the batches running at `now`.
   */
  admit(record: BatchRecord, inputTokens: number, now: number): BatchError | undefined {
    if (!this.limited) return undefined;
    const model = record.model ?? 'unknown';
    const running = (this.running.get(model) ?? []).filter((batch) => ENQUEUED.has(statusAt(batch, now)));
    const enqueued = running.reduce((sum, batch) => sum + (batch.inputTokens ?? 0), 0);
    if (enqueued + inputTokens > this.limit) {
      this.running.set(model, running);
      return {
        code: 'token_limit_exceeded',
        message: queueLimitMessage(model, this.limit),
        param: null,
        line: null,
      };
    }
    record.inputTokens = inputTokens;
    this.running.set(model, [...running, record]);
    return undefined;
  }
}

/** OpenAI's wording, the limit written with thousands separators as OpenAI writes it. */
export function queueLimitMessage(model: string, limit: number): string {
  return (
    `Enqueued token limit reached for ${model} in organization ${MOCK_ORGANIZATION}. ` +
    `Limit: ${limit.toLocaleString('en-US')} enqueued tokens. ` +
    'Please try submitting fewer tasks or wait for previous ones to finish.'
  );
}
