import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
}
