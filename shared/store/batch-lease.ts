import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  ConditionNotMet,
  RECORD_ABSENT,
  RETURN_RECORD_ON_FAILURE,
  allOf,
  anyOf,
  conditionFields,
  tryConditional,
  type Condition,
} from './conditions.js';
import { BATCH_EXTRA_TTL_DAYS, type BatchRecord } from './batch-records.js';
import { keys } from './keys.js';
import { LeaseUnavailableError, leaseFree, leaseHeld } from './lease.js';
import type { StoreTable } from './store-table.js';
import { TTL_ATTRIBUTE } from './table-schema.js';

/** The provider has not been given the batch yet. */
const NOT_SUBMITTED: Condition = { expression: 'attribute_not_exists(providerBatchId)' };

export type BatchClaim = Omit<BatchRecord, 'createdAt' | 'leaseUntil' | 'providerBatchId'>;

/**
 * The submission of one batch in batch mode: a task takes the batch's lease (claim), uploads and
 * creates the provider batch, then records its id (recordProviderBatch, which ends the lease) or
 * gives the lease back (release). A released batch (its submit failed) may be claimed again.
 */
export class BatchLease {
  constructor(private readonly table: StoreTable) {}

  /**
   * Creates or takes over the batch record for submission, in one write. Returns the lease and
   * whether an earlier holder's lease had expired (its submission may have reached the provider).
   * Throws LeaseUnavailableError with the batch it met when the batch is already submitted or
   * another invocation holds it.
   */
  async claim(batch: BatchClaim, leaseMs: number): Promise<{ lease: number; takeover: boolean; round: number }> {
    const now = this.table.nowMs();
    const lease = now + leaseMs;
    const fields = Object.entries(batch).filter(([, value]) => value !== undefined);
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.batch(batch.jobId, batch.batchId),
          UpdateExpression: `SET ${fields.map((_, i) => `#b${i} = :b${i}`).join(', ')}, leaseUntil = :lease, createdAt = if_not_exists(createdAt, :at), #ttl = :ttl REMOVE reopened`,
          ...conditionFields(anyOf(RECORD_ABSENT, allOf(NOT_SUBMITTED, leaseFree(now))), {
            names: { ...Object.fromEntries(fields.map(([name], i) => [`#b${i}`, name])), '#ttl': TTL_ATTRIBUTE },
            values: {
              ...Object.fromEntries(fields.map(([, value], i) => [`:b${i}`, value])),
              ':lease': lease,
              ':at': this.table.nowIso(),
              ':ttl': this.table.ttlFromNow(BATCH_EXTRA_TTL_DAYS),
            },
          }),
          ReturnValues: 'ALL_OLD',
          ...RETURN_RECORD_ON_FAILURE,
        }),
      ),
    );
    if (result instanceof ConditionNotMet) {
      const met = await result.record(() => this.table.read<BatchRecord>(keys.batch(batch.jobId, batch.batchId)));
      const why = met?.providerBatchId ? `submitted as ${met.providerBatchId}` : 'leased by another invocation';
      throw new LeaseUnavailableError(`batch ${batch.batchId} of job ${batch.jobId} is ${why}`, met, {
        cause: result.error,
      });
    }
    const old = result.Attributes as Partial<BatchRecord> | undefined;
    // A batch reopened for its next round has no provider batch of that round yet: no takeover.
    return { lease, takeover: old !== undefined && old.reopened !== true, round: old?.round ?? 1 };
  }

  /** Records the provider's batch id, only for the lease holder. */
  async recordProviderBatch(
    jobId: string,
    batchId: string,
    providerBatchId: string,
    lease: number,
    queueModel?: string,
  ): Promise<boolean> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.batch(jobId, batchId),
          UpdateExpression: `SET providerBatchId = :pid${queueModel === undefined ? '' : ', queueModel = :model'} REMOVE leaseUntil`,
          ...conditionFields(allOf(leaseHeld(lease), NOT_SUBMITTED), {
            values: { ':pid': providerBatchId, ...(queueModel !== undefined && { ':model': queueModel }) },
          }),
        }),
      ),
    );
    return !(result instanceof ConditionNotMet);
  }

  /** Gives a claim back without a provider batch (the submission failed). */
  async release(jobId: string, batchId: string, lease: number): Promise<void> {
    await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.batch(jobId, batchId),
          UpdateExpression: 'REMOVE leaseUntil',
          ...conditionFields(leaseHeld(lease)),
        }),
      ),
    );
  }
}
