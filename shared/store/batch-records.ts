import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConditionNotMet, conditionFields, tryConditional } from './conditions.js';
import type { ProviderMode } from '../types.js';
import { keys } from './keys.js';
import type { StoreTable } from './store-table.js';

/**
 * A batch-mode child batch of the Distributed Map, as recorded by its submit task: the lease of
 * its submission and its provider batch. Its members are not recorded: the poll state carries
 * them (BatchState.customIds); responses-mode batches have no record (their items carry their
 * own claims).
 */
export interface BatchRecord {
  jobId: string;
  batchId: string;
  mode: ProviderMode;
  /** Batch mode: the provider's batch id once it exists. */
  providerBatchId?: string;
  /** Set while one task invocation owns the submission (epoch ms). */
  leaseUntil?: number;
  cancelSent?: boolean;
  /** The model whose batch queue the provider batch holds tokens in (batch-queue-budget.ts). */
  queueModel?: string;
  /** The provider batch this is, counting from 1: each resend of unfinished lines is a new one. */
  round?: number;
  /** Set from a reopen to the next claim: that claim takes over nobody's submission. */
  reopened?: boolean;
  /** The provider batches of earlier rounds. */
  earlierBatchIds?: string[];
  createdAt: string;
}

/** Batches outlive the job's records by this much: a late poll of a batch still finds it. */
export const BATCH_EXTRA_TTL_DAYS = 2;

/** Batch records: one per batch-mode child batch (the lease of its submission is in batch-lease.ts). */
export class BatchRecords {
  constructor(private readonly table: StoreTable) {}

  get(jobId: string, batchId: string): Promise<BatchRecord | undefined> {
    return this.table.read<BatchRecord>(keys.batch(jobId, batchId));
  }

  async markCancelSent(jobId: string, batchId: string): Promise<void> {
    await this.table.dynamo.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: keys.batch(jobId, batchId),
        UpdateExpression: 'SET cancelSent = :yes',
        ExpressionAttributeValues: { ':yes': true },
      }),
    );
  }

  /**
   * Opens the next round of a batch whose provider batch ended with lines to send again: the
   * provider batch moves to `earlierBatchIds` and the record can be claimed and submitted anew
   * (batch-lease.ts). Only once per provider batch; false when it was reopened already.
   */
  async reopen(jobId: string, batchId: string, providerBatchId: string): Promise<boolean> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.batch(jobId, batchId),
          UpdateExpression:
            'SET reopened = :yes, round = if_not_exists(round, :one) + :one, earlierBatchIds = list_append(if_not_exists(earlierBatchIds, :none), :ended) REMOVE providerBatchId, cancelSent',
          ...conditionFields(
            { expression: 'providerBatchId = :pid' },
            { values: { ':pid': providerBatchId, ':yes': true, ':one': 1, ':none': [], ':ended': [providerBatchId] } },
          ),
        }),
      ),
    );
    return !(result instanceof ConditionNotMet);
  }
}
