import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ProviderMode } from '../types.js';
import { RECORD_ABSENT, conditionFields, tryConditional } from './conditions.js';
import { keys } from './keys.js';
import type { StoreTable } from './store-table.js';
import { TTL_ATTRIBUTE } from './table-schema.js';

/** A child batch of the Distributed Map, as recorded by its submit task. */
export interface BatchRecord {
  jobId: string;
  batchId: string;
  mode: ProviderMode;
  customIds: string[];
  /** Batch mode: the provider's batch id once it exists. */
  providerBatchId?: string;
  /** Set while one task invocation owns the submission (epoch ms). */
  leaseUntil?: number;
  cancelSent?: boolean;
  createdAt: string;
}

/** Batches outlive the job's records by this much: a late poll of a batch still finds it. */
export const BATCH_EXTRA_TTL_DAYS = 2;

/** Batch records: one per child batch, with its members (the lease of a batch-mode submission is in batch-lease.ts). */
export class BatchRecords {
  constructor(private readonly table: StoreTable) {}

  get(jobId: string, batchId: string): Promise<BatchRecord | undefined> {
    return this.table.read<BatchRecord>(keys.batch(jobId, batchId));
  }

  /** Records a batch's member list without a lease (responses mode: items carry their own claims); kept if it exists. */
  async put(batch: Omit<BatchRecord, 'createdAt'>): Promise<void> {
    await tryConditional(
      this.table.dynamo.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { ...keys.batch(batch.jobId, batch.batchId), ...batch, createdAt: this.table.nowIso(), [TTL_ATTRIBUTE]: this.table.ttlFromNow(BATCH_EXTRA_TTL_DAYS) },
          ...conditionFields(RECORD_ABSENT),
        }),
      ),
    );
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
