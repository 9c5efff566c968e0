import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from '../store/conditions.js';

/**
 * The provider's batch queue as every job on one key sees it. OpenAI limits the input tokens
 * enqueued in running batches per model; a batch that would pass the limit fails validation with
 * `token_limit_exceeded`. Each batch-mode submit holds its batch's estimated input tokens here
 * before it creates the batch, and gives them back when the batch ends; with no room it creates
 * nothing and its child waits in Step Functions. The limit is learned from a refusal's message.
 *
 *   pk                   sk              record
 *   BATCHQ#<keyId>       MODEL#<model>   limitTokens?, holds {holder: {tokens, until}}, pausedUntil?, version
 *
 * One item per key and model, written read-modify-write with a version condition (optimistic
 * concurrency, as the rate bucket), except a release, which is one atomic update; a batch submit
 * writes it a few times, not per item.
 */
export const batchQueueKey = (keyId: string, model: string) => ({ pk: `BATCHQ#${keyId}`, sk: `MODEL#${model}` });

/** Tokens a batch holds, and until when at the latest (a holder that died never releases). */
export interface QueueHold {
  tokens: number;
  until: number;
}

export interface BatchQueueState {
  version: number;
  /** The enqueued-token limit, once learned (from a refusal or a setting); none: create freely. */
  limitTokens?: number;
  holds: Record<string, QueueHold>;
  /** After a refusal, no batch is created before this (epoch ms): the queue is fuller than we know. */
  pausedUntil?: number;
}

export type QueueReservation =
  | { outcome: 'reserved' }
  | { outcome: 'full'; enqueued: number; limit: number }
  | { outcome: 'tooLarge'; limit: number };

/** A hold outlives the batch deadline (26 h) by nothing: a batch running longer is ended by its poll. */
export const QUEUE_HOLD_MS = 26 * 3600 * 1000;
/** After a refusal the queue is fuller than the holds say (other jobs, other tools): wait this long first. */
export const QUEUE_REFUSAL_PAUSE_MS = 60_000;
/** Conditional writes lost in a row before a reservation gives up (and the child waits). */
const MAX_CONFLICTS = 16;
/**
 * Pause after a lost write, random up to this times the losses so far: dozens of children ending
 * their batches at once all write this one record, and without a pause the same ones keep losing.
 */
const CONFLICT_BACKOFF_MS = 10;

/** Wall-clock pause (not the job clock: contention is between processes and Lambdas now). */
async function afterConflict(losses: number): Promise<void> {
  if (losses === 0) return;
  await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_BACKOFF_MS * Math.min(losses, 8)));
}
/** An idle record expires after a week (DynamoDB TTL); every write pushes that back. */
const RECORD_TTL_SECONDS = 7 * 86_400;

/** The tokens held by live holds. */
export function enqueuedTokens(state: Pick<BatchQueueState, 'holds'>, now: number): number {
  return Object.values(state.holds)
    .filter((hold) => hold.until > now)
    .reduce((sum, hold) => sum + hold.tokens, 0);
}

/** The state with `holder` holding `tokens`, or why not. Pure: the budget writes what it returns. */
export function reserveIn(
  state: BatchQueueState,
  holder: string,
  tokens: number,
  now: number,
): { next?: BatchQueueState; answer: QueueReservation } {
  const holds = liveHolds(state, now);
  const { [holder]: own, ...others } = holds;
  const limit = state.limitTokens;
  if (limit !== undefined && tokens > limit) return { answer: { outcome: 'tooLarge', limit } };
  if (limit !== undefined) {
    const enqueued = enqueuedTokens({ holds: others }, now);
    const paused = (state.pausedUntil ?? 0) > now;
    if (paused || enqueued + tokens > limit) return { answer: { outcome: 'full', enqueued, limit } };
  }
  if (own?.tokens === tokens) return { answer: { outcome: 'reserved' } };
  return {
    next: { ...state, holds: { ...others, [holder]: { tokens, until: now + QUEUE_HOLD_MS } } },
    answer: { outcome: 'reserved' },
  };
}

function liveHolds(state: Pick<BatchQueueState, 'holds'>, now: number): Record<string, QueueHold> {
  return Object.fromEntries(Object.entries(state.holds).filter(([, hold]) => hold.until > now));
}

export interface BatchQueueTable {
  dynamo: Pick<DynamoDBDocumentClient, 'send'>;
  name: string;
}

/** The batch queue budget of one provider key, one record per model. */
export class BatchQueueBudget {
  constructor(
    private readonly table: BatchQueueTable,
    readonly keyId: string,
    private readonly clock: () => number,
  ) {}

  /** Holds `tokens` for `holder` (idempotent), or answers that the queue is full or the batch can never fit. */
  async reserve(model: string, holder: string, tokens: number): Promise<QueueReservation> {
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      await afterConflict(attempt);
      const state = await this.read(model);
      const { next, answer } = reserveIn(state, holder, tokens, this.clock());
      if (!next || (await this.write(model, next, state.version))) return answer;
    }
    return { outcome: 'full', enqueued: 0, limit: 0 };
  }

  /**
   * Gives the holder's tokens back (its batch ended, or was never created). One atomic update,
   * not read-modify-write: dozens of children ending at once must not contend for the record. It
   * bumps the version, so a reservation that read the holds before it writes again.
   */
  async release(model: string, holder: string): Promise<void> {
    try {
      await this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: batchQueueKey(this.keyId, model),
          UpdateExpression: 'REMOVE holds.#holder ADD #version :one',
          ConditionExpression: 'attribute_exists(holds.#holder)',
          ExpressionAttributeNames: { '#holder': holder, '#version': 'version' },
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // already released (or never held)
    }
  }

  /**
   * The provider refused the holder's batch for the queue: its tokens go back, the limit the
   * refusal stated is kept, and no batch is created for a moment (the queue is fuller than the
   * holds say).
   */
  async refused(model: string, holder: string, limit: number | undefined): Promise<void> {
    const now = this.clock();
    await this.change(model, (state) => {
      const { [holder]: _refused, ...rest } = liveHolds(state, now);
      return {
        ...state,
        holds: rest,
        pausedUntil: now + QUEUE_REFUSAL_PAUSE_MS,
        ...((limit ?? state.limitTokens) !== undefined && { limitTokens: limit ?? state.limitTokens }),
      };
    });
  }

  async read(model: string): Promise<BatchQueueState> {
    const { Item } = await this.table.dynamo.send(
      new GetCommand({ TableName: this.table.name, Key: batchQueueKey(this.keyId, model), ConsistentRead: true }),
    );
    if (!Item) return { version: 0, holds: {} };
    return {
      version: Number(Item.version ?? 0),
      holds: (Item.holds ?? {}) as Record<string, QueueHold>,
      ...(typeof Item.limitTokens === 'number' && { limitTokens: Item.limitTokens }),
      ...(typeof Item.pausedUntil === 'number' && { pausedUntil: Item.pausedUntil }),
    };
  }

  private async change(model: string, change: (state: BatchQueueState) => BatchQueueState | undefined): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      await afterConflict(attempt);
      const state = await this.read(model);
      const next = change(state);
      if (!next || (await this.write(model, next, state.version))) return;
    }
    throw new Error(`batch queue budget ${this.keyId}/${model}: ${MAX_CONFLICTS} conflicting writes in a row`);
  }

  /** Stores `next` if the record is still at `expectedVersion` (0: absent); false when another writer won. */
  private async write(model: string, next: BatchQueueState, expectedVersion: number): Promise<boolean> {
    const values: Record<string, unknown> = {
      ':version': expectedVersion + 1,
      ':holds': next.holds,
      ':ttl': Math.floor(this.clock() / 1000) + RECORD_TTL_SECONDS,
      ':keyId': this.keyId,
      ':model': model,
    };
    const sets = ['#version = :version', 'holds = :holds', '#ttl = :ttl', 'keyId = :keyId', 'model = :model'];
    for (const field of ['limitTokens', 'pausedUntil'] as const) {
      if (next[field] === undefined) continue;
      sets.push(`${field} = :${field}`);
      values[`:${field}`] = next[field];
    }
    if (expectedVersion > 0) values[':expected'] = expectedVersion;
    try {
      await this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: batchQueueKey(this.keyId, model),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: expectedVersion > 0 ? '#version = :expected' : 'attribute_not_exists(pk)',
          ExpressionAttributeNames: { '#version': 'version', '#ttl': 'ttl' },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
