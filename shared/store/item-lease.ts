import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ItemRecord } from '../types.js';
import {
  ConditionNotMet,
  RECORD_ABSENT,
  RETURN_RECORD_ON_FAILURE,
  allOf,
  anyOf,
  conditionFields,
  tryConditional,
} from './conditions.js';
import type { JobProgress } from './job-progress.js';
import type { JobRecords } from './job-records.js';
import { ITEM_QUEUED, itemIdentity, type ItemPlacement } from './item-records.js';
import type { ItemShards } from './item-shards.js';
import { LeaseUnavailableError, leaseFree, leaseHeld } from './lease.js';
import type { StoreTable } from './store-table.js';

/**
 * The submission of one item in responses mode. A task takes the item's lease (claim), then either
 * records the provider's id (markSubmitted, which ends the lease) or gives the lease back
 * (release). Only the holder submits, so a task retried by Step Functions (or run twice) never
 * sends the same item twice. In batch mode the batch's lease is the claim (batch-lease.ts) and
 * markSubmitted is called without one.
 */
export class ItemLease {
  constructor(
    private readonly table: StoreTable,
    private readonly jobs: JobRecords,
    private readonly shards: ItemShards,
  ) {}

  /**
   * Takes the right to submit a QUEUED item for `leaseMs` and returns the lease (its end, epoch
   * ms). With `create`, an item with no record yet is created QUEUED and claimed in the same
   * write. Throws LeaseUnavailableError with the item it met when the item is past QUEUED, has no
   * record, or another invocation holds a live lease on it.
   */
  async claim(jobId: string, customId: string, leaseMs: number, create?: ItemPlacement): Promise<number> {
    const key = await this.shards.key(jobId, customId);
    const now = this.table.nowMs();
    const lease = now + leaseMs;
    const at = this.table.nowIso();
    const identity = create ? itemIdentity(jobId, customId, create, at) : undefined;
    const claimable = allOf(ITEM_QUEUED, leaseFree(now));
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: key,
          // A claim is not an attempt: the send may wait for a turn or be refused. markSubmitted counts it.
          UpdateExpression: `SET leaseUntil = :lease, updatedAt = :at${identity ? `, #status = :queued, ${identity.sets}, attempts = if_not_exists(attempts, :zero)` : ''}`,
          ...conditionFields(identity ? anyOf(RECORD_ABSENT, claimable) : claimable, {
            names: identity?.names,
            values: { ':lease': lease, ':at': at, ...(identity && { ...identity.values, ':zero': 0 }) },
          }),
          ...RETURN_RECORD_ON_FAILURE,
        }),
      ),
    );
    if (result instanceof ConditionNotMet) {
      const item = await result.record(() => this.table.read<ItemRecord>(key));
      throw new LeaseUnavailableError(
        `item ${customId} of job ${jobId} is ${item ? `${item.status}${item.status === 'QUEUED' ? ', leased by another invocation' : ''}` : 'not recorded'}`,
        item,
        { cause: result.error },
      );
    }
    return lease;
  }

  /** Gives a claim back without submitting (the provider refused for now). */
  async release(jobId: string, customId: string, lease: number): Promise<void> {
    await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: await this.shards.key(jobId, customId),
          UpdateExpression: 'REMOVE leaseUntil SET updatedAt = :at',
          ...conditionFields(leaseHeld(lease), { values: { ':at': this.table.nowIso() } }),
        }),
      ),
    );
  }

  /**
   * QUEUED -> SUBMITTED with the provider id, adding one attempt, only for the lease holder (or, with no lease, for
   * batch mode where the batch record is the claim). With `create` (batch mode), an item with no
   * record yet is created SUBMITTED. The change is counted into `progress` when given, else on the
   * job at once. Returns false if the item was not ours.
   */
  async markSubmitted(
    jobId: string,
    customId: string,
    providerId: string,
    options: { lease?: number; create?: ItemPlacement; progress?: JobProgress } = {},
  ): Promise<boolean> {
    const { lease, create, progress } = options;
    const at = this.table.nowIso();
    const identity = create ? itemIdentity(jobId, customId, create, at) : undefined;
    const ours = lease === undefined ? ITEM_QUEUED : allOf(ITEM_QUEUED, leaseHeld(lease));
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: await this.shards.key(jobId, customId),
          // Every send the provider accepted is one attempt, the first and each resend alike.
          UpdateExpression: `SET #status = :submitted, providerId = :pid, updatedAt = :at${identity ? `, ${identity.sets}` : ''} REMOVE leaseUntil ADD attempts :one`,
          ...conditionFields(identity ? anyOf(RECORD_ABSENT, ours) : ours, {
            names: identity?.names,
            values: { ':submitted': 'SUBMITTED', ':pid': providerId, ':at': at, ':one': 1, ...identity?.values },
          }),
        }),
      ),
    );
    if (result instanceof ConditionNotMet) return false;
    await this.jobs.count(jobId, progress, (p) => p.submitted());
    return true;
  }
}
