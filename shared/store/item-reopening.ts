import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ItemRecord } from '../types.js';
import { ConditionNotMet, allOf, conditionFields, tryConditional, type Condition } from './conditions.js';
import { keys } from './keys.js';
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
 * id) is SUBMITTED again and is polled, never sent again; an item never sent loses its record,
 * as it was before it ran, and is sent by its batch. Each change is conditional on the item still
 * carrying that ending, so an item with a real outcome is never reopened.
 */
export class ItemReopening {
  constructor(private readonly table: StoreTable) {}

  /** Returns false when the item no longer carries the ending `code` (or has another provider id). */
  async reopen(item: Pick<ItemRecord, 'jobId' | 'customId' | 'providerId'>, code: string): Promise<boolean> {
    const ended = endedFailedWith(code);
    if (item.providerId === undefined) {
      const result = await tryConditional(
        this.table.dynamo.send(
          new DeleteCommand({
            TableName: this.table.name,
            Key: keys.item(item.jobId, item.customId),
            ...conditionFields(allOf(ended, NEVER_SENT)),
          }),
        ),
      );
      return !(result instanceof ConditionNotMet);
    }
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.item(item.jobId, item.customId),
          UpdateExpression: 'SET #status = :submitted, updatedAt = :now REMOVE #error, #output, finishedAt, #ttl',
          ...conditionFields(allOf(ended, { ...SENT, values: { ':providerId': item.providerId } }), {
            names: { '#output': 'output', '#ttl': TTL_ATTRIBUTE },
            values: { ':submitted': 'SUBMITTED', ':now': this.table.nowIso() },
          }),
        }),
      ),
    );
    return !(result instanceof ConditionNotMet);
  }
}
