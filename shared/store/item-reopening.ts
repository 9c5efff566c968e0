import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ItemRecord } from '../types.js';
import { ConditionNotMet, allOf, conditionFields, tryConditional, type Condition } from './conditions.js';
import type { ItemShards } from './item-shards.js';
import type { StoreTable } from './store-table.js';
import { TTL_ATTRIBUTE } from './table-schema.js';

/** The item was ended FAILED with this error code, and by nothing else since. */
function endedFailedWith(code: string): Condition {
  return {
    expression: '#status = :failed AND #error.#code = :code',
    names: { '#status': 'status', '#error': 'error', '#code': 'code' },
    values: { ':failed': 'FAILED', ':code': code },
  };
}

const SENT: Condition = { expression: 'providerId = :providerId' };
const NEVER_SENT: Condition = { expression: 'attribute_not_exists(providerId)' };

/**
 * Undoes the ending that a job-level safety net gave an unfinished item (execution ended, Mark
 * job failed), so that a redriven execution finishes it: an item the provider has (a provider
 * id) is SUBMITTED again and is polled, never sent again; an item never sent is QUEUED again
 * (keeping any claim on it) and is sent by its batch. Each change is conditional on the item still
 * carrying that ending, so an item with a real outcome is never reopened.
 */
export class ItemReopening {
  constructor(
    private readonly table: StoreTable,
    private readonly shards: ItemShards,
  ) {}

  /** Returns false when the item no longer carries the ending `code` (or has another provider id). */
  async reopen(item: Pick<ItemRecord, 'jobId' | 'customId' | 'providerId'>, code: string): Promise<boolean> {
    const ended = endedFailedWith(code);
    // Never sent: QUEUED again, and its batch sends it. A claim the stopped run still holds is kept
    // (its task may still be sending): the redriven batch waits for it to be recorded or to lapse.
    const sent = item.providerId !== undefined;
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: await this.shards.key(item.jobId, item.customId),
          UpdateExpression: 'SET #status = :reopened, updatedAt = :now REMOVE #error, #output, finishedAt, #ttl',
          ...conditionFields(
            allOf(ended, sent ? { ...SENT, values: { ':providerId': item.providerId } } : NEVER_SENT),
            {
              names: { '#output': 'output', '#ttl': TTL_ATTRIBUTE },
              values: { ':reopened': sent ? 'SUBMITTED' : 'QUEUED', ':now': this.table.nowIso() },
            },
          ),
        }),
      ),
    );
    return !(result instanceof ConditionNotMet);
  }
}
