import type { JobCounts, ProviderCallCounts, TerminalItemStatus, TokenUsage } from '../types.js';

const COUNTER_OF: Record<TerminalItemStatus, keyof JobCounts> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

/**
 * What one task invocation changed on its job's live counters, gathered as its item updates go
 * through and written to the job record in one ADD (JobStore.addProgress). One write per task
 * instead of one per item keeps the job record from becoming a hot key, and halves the writes of
 * a job. Only an item update that changed a status is added here, so each item is counted once;
 * the reducer's final counts come from the items themselves.
 */
export class JobProgress {
  readonly counts: Omit<JobCounts, 'total'> = { submitted: 0, succeeded: 0, failed: 0, cancelled: 0 };
  readonly usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  costUsd = 0;
  readonly calls: ProviderCallCounts = { submit: 0, poll: 0, rateLimited: 0 };
  /** The provider latency the task saw, for the first wait of later batches (set, not added). */
  latencySeconds: number | undefined;
  /**
   * Items sent to the provider again after a transient failure (their first send is in
   * counts.submitted and every send in calls.submit). Only a metric (ItemsResent): the job record
   * does not keep it, so isEmpty (nothing to write) ignores it.
   */
  resent = 0;

  submitted(count = 1): void {
    this.counts.submitted += count;
  }

  /** Items the task sends again after a transient failure. */
  resentItems(count = 1): void {
    this.resent += count;
  }

  ended(status: TerminalItemStatus, usage?: TokenUsage, costUsd?: number): void {
    this.counts[COUNTER_OF[status] as Exclude<keyof JobCounts, 'total'>] += 1;
    if (usage) {
      this.usage.inputTokens += usage.inputTokens;
      this.usage.outputTokens += usage.outputTokens;
    }
    if (costUsd) this.costUsd += costUsd;
  }

  /** Whether there is nothing to write. */
  isEmpty(): boolean {
    const { counts, calls } = this;
    return (
      Object.values(counts).every((n) => n === 0) &&
      Object.values(calls).every((n) => n === 0) &&
      this.usage.inputTokens === 0 &&
      this.usage.outputTokens === 0 &&
      this.costUsd === 0 &&
      this.latencySeconds === undefined
    );
  }
}
