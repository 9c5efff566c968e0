import { BatchGetCommand, UpdateCommand, type BatchGetCommandOutput } from '@aws-sdk/lib-dynamodb';
import type { ItemRecord, OutputLine, ProviderErrorBody, TerminalItemStatus, TokenUsage } from '../types.js';
import {
  ConditionNotMet,
  RECORD_ABSENT,
  anyOf,
  conditionFields,
  tryConditional,
  type Condition,
} from './conditions.js';
import type { JobProgress } from './job-progress.js';
import type { JobRecords } from './job-records.js';
import { ItemListing, type ItemListOptions } from './item-listing.js';
import { itemKey, type ItemShards } from './item-shards.js';
import { fromStored, type Page, type StoreTable } from './store-table.js';
import { TTL_ATTRIBUTE } from './table-schema.js';

export interface FinishItem {
  status: TerminalItemStatus;
  output?: OutputLine;
  /** Where the output lives when it was too large for the item record. */
  outputKey?: string;
  error?: ProviderErrorBody;
  usage?: TokenUsage;
  result?: unknown;
  /** The job-level estimated cost of this item, added to the job's running total. */
  costUsd?: number;
}

/** What the submit and poll tasks read of their items: enough to know what is left to do. */
export const STATUS_FIELDS = ['status', 'providerId', 'attempts'] as const satisfies readonly (keyof ItemRecord)[];

/** Where an item sits in its job: what a record created by an update is given. */
export interface ItemPlacement {
  index: number;
  batchId: string;
}

export const ITEM_QUEUED: Condition = {
  expression: '#status = :queued',
  names: { '#status': 'status' },
  values: { ':queued': 'QUEUED' },
};

/** Queued or submitted: the item may still end, and the update that ends it is the one that counts it. */
const ITEM_NOT_TERMINAL: Condition = {
  expression: '#status IN (:queued, :submitted)',
  names: { '#status': 'status' },
  values: { ':queued': 'QUEUED', ':submitted': 'SUBMITTED' },
};

/**
 * The attributes an item record is created with by an update (kept as they are when it exists).
 * Items have no record until a task first writes them, so each first write may be the creating one.
 */
export function itemIdentity(jobId: string, customId: string, placement: ItemPlacement, at: string) {
  return {
    sets: 'jobId = :jobId, customId = :customId, #index = :index, batchId = if_not_exists(batchId, :batchId), createdAt = if_not_exists(createdAt, :at)',
    names: { '#index': 'index' },
    values: {
      ':jobId': jobId,
      ':customId': customId,
      ':index': placement.index,
      ':batchId': placement.batchId,
      ':at': at,
    },
  };
}

/** Still SUBMITTED with the given provider work: what a requeue changes, once. */
const SUBMITTED_WITH: Condition = {
  expression: '#status = :submitted AND providerId = :pid',
  names: { '#status': 'status' },
  values: { ':submitted': 'SUBMITTED' },
};

const BATCH_GET_LIMIT = 100;

/** Item records: one per input line a task has written, ended once; spread over the job's shards (item-shards.ts). */
export class ItemRecords {
  private readonly listing: ItemListing;

  constructor(
    private readonly table: StoreTable,
    private readonly jobs: JobRecords,
    private readonly shards: ItemShards,
  ) {
    this.listing = new ItemListing(table, shards);
  }

  async get(jobId: string, customId: string): Promise<ItemRecord | undefined> {
    return this.table.read<ItemRecord>(await this.shards.key(jobId, customId));
  }

  /**
   * Reads items by custom id (BatchGet, 100 a call, unprocessed keys retried). With `fields`,
   * only those attributes are read back (a finished item's output is most of its size).
   */
  async getMany(jobId: string, customIds: readonly string[]): Promise<Map<string, ItemRecord>>;
  async getMany<K extends keyof ItemRecord>(
    jobId: string,
    customIds: readonly string[],
    fields: readonly K[],
  ): Promise<Map<string, Pick<ItemRecord, K | 'customId'>>>;
  async getMany(
    jobId: string,
    customIds: readonly string[],
    fields?: readonly (keyof ItemRecord)[],
  ): Promise<Map<string, Partial<ItemRecord>>> {
    const found = new Map<string, Partial<ItemRecord>>();
    const projected = fields && [...new Set(['customId', ...fields])];
    const projection = projected && {
      ProjectionExpression: projected.map((_, i) => `#f${i}`).join(', '),
      ExpressionAttributeNames: Object.fromEntries(projected.map((field, i) => [`#f${i}`, field])),
    };
    const shards = await this.shards.of(jobId);
    for (let start = 0; start < customIds.length; start += BATCH_GET_LIMIT) {
      let pending: Record<string, unknown>[] | undefined = customIds
        .slice(start, start + BATCH_GET_LIMIT)
        .map((id) => itemKey(jobId, id, shards));
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        const response: BatchGetCommandOutput = await this.table.dynamo.send(
          new BatchGetCommand({
            RequestItems: { [this.table.name]: { Keys: pending, ConsistentRead: true, ...projection } },
          }),
        );
        for (const raw of response.Responses?.[this.table.name] ?? []) {
          const item = fromStored<ItemRecord>(raw);
          if (item) found.set(item.customId, item);
        }
        pending = response.UnprocessedKeys?.[this.table.name]?.Keys;
      }
    }
    return found;
  }

  /**
   * Ends an item in a terminal state, once: the update is conditional on a non-terminal status,
   * and only the call whose update went through counts it: into `progress` when given, else on
   * the job at once. With `create`, makes the record if the item never had one (its batch never
   * ran). Returns false if it was already terminal.
   */
  async finish(
    jobId: string,
    customId: string,
    finish: FinishItem,
    options: { create?: ItemPlacement; progress?: JobProgress } = {},
  ): Promise<boolean> {
    const { create, progress } = options;
    const now = this.table.nowIso();
    const names: Record<string, string> = { '#ttl': TTL_ATTRIBUTE };
    const values: Record<string, unknown> = { ':status': finish.status, ':now': now, ':ttl': this.table.ttlFromNow() };
    const sets = ['#status = :status', 'finishedAt = :now', 'updatedAt = :now', '#ttl = :ttl'];
    const optional: [string, unknown][] = [
      ['#output', finish.output], // OUTPUT is a DynamoDB reserved word
      ['outputKey', finish.outputKey],
      ['#error', finish.error],
      ['#usage', finish.usage],
      ['#result', finish.result],
      ['costUsd', finish.costUsd],
    ];
    for (const [field, value] of optional) {
      if (value === undefined) continue;
      const placeholder = `:${field.replace('#', '')}`;
      if (field.startsWith('#')) names[field] = field.slice(1);
      sets.push(`${field} = ${placeholder}`);
      values[placeholder] = value;
    }
    let condition = ITEM_NOT_TERMINAL;
    if (create) {
      const identity = itemIdentity(jobId, customId, create, now);
      sets.push(identity.sets, 'attempts = if_not_exists(attempts, :zero)');
      Object.assign(names, identity.names);
      Object.assign(values, identity.values, { ':zero': 0 });
      condition = anyOf(RECORD_ABSENT, ITEM_NOT_TERMINAL);
    }
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: await this.shards.key(jobId, customId),
          // A claim is kept: no claim is taken on an ended item, and if a redrive reopens it the
          // invocation still holding the claim can record its send instead of sending it twice.
          UpdateExpression: `SET ${sets.join(', ')}`,
          ...conditionFields(condition, { names, values }),
        }),
      ),
    );
    if (result instanceof ConditionNotMet) return false;
    await this.jobs.count(jobId, progress, (p) => p.ended(finish.status, finish.usage, finish.costUsd));
    return true;
  }

  /**
   * SUBMITTED -> QUEUED, so the item is sent again: only while it is still SUBMITTED with the
   * provider work that failed (`providerId`), so a retried poll requeues it once. Keeps the
   * failure as `lastError`. With `refund`, the send is not counted as an attempt (the provider
   * refused the batch for its queue, it never ran the item). The job's submitted counter goes
   * down by one, into `progress` when given. Returns false when the item was not in that state.
   */
  async requeue(
    jobId: string,
    customId: string,
    requeue: { providerId: string; error: ProviderErrorBody; refund?: boolean },
    progress?: JobProgress,
  ): Promise<boolean> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: await this.shards.key(jobId, customId),
          UpdateExpression: `SET #status = :queued, lastError = :error, updatedAt = :now REMOVE providerId${requeue.refund ? ' ADD attempts :minusOne' : ''}`,
          ...conditionFields(SUBMITTED_WITH, {
            values: {
              ':queued': 'QUEUED',
              ':pid': requeue.providerId,
              ':error': requeue.error,
              ':now': this.table.nowIso(),
              ...(requeue.refund && { ':minusOne': -1 }),
            },
          }),
        }),
      ),
    );
    if (result instanceof ConditionNotMet) return false;
    await this.jobs.count(jobId, progress, (p) => {
      p.submitted(-1);
      // A refused batch's items were never run: their next send is not a resend (nor an attempt).
      if (!requeue.refund) p.resentItems();
    });
    return true;
  }

  /** One page of a job's items, optionally only those with a status: shard by shard, in custom id order within one. */
  list(jobId: string, options: ItemListOptions = {}): Promise<Page<ItemRecord>> {
    return this.listing.page(jobId, options);
  }

  /** Every item of the job, a page at a time, its shards read in parallel (pages in the order they arrive). */
  all(jobId: string): AsyncGenerator<ItemRecord[]> {
    return this.listing.all(jobId);
  }
}
