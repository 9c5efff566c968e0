import type { TaskDeps } from '../deps.js';
import type { JobProgress } from '../store/job-progress.js';
import type { BatchRecord } from '../store/job-store.js';
import type { ManifestLine } from '../store/object-store.js';
import type { RunningJob } from '../job-lifecycle.js';
import type { ResendPolicy } from '../item-outcomes.js';
import type { ItemRecord, ProviderMode } from '../types.js';
import type { SubmitRun } from './send-on-turn.js';

/**
 * A provider mode (strategy pattern, as job types are): how a child batch's items are sent to the
 * provider, polled, and withdrawn from it. `responses` sends one background request per item;
 * `batch` sends one provider Batch per child batch. The tasks pick the mode from the job's
 * options and call it; neither task knows how a mode works.
 */
export interface ProviderModeStrategy {
  readonly name: ProviderMode;
  /**
   * The longest a submit waits for its next rate-limit turn before leaving the rest of the batch
   * to a Step Functions Wait; undefined: any turn before the task's time budget runs out.
   */
  readonly sendAheadMs?: number;
  /** The share of the list price the provider bills in this mode. */
  readonly priceFactor: number;
  /** Sends the batch's items not sent yet, idempotently; returns how many of its items are not ended. */
  submit(batch: SubmitBatch): Promise<number>;
  /** One poll turn over the batch's unfinished items: ends those that finished. */
  poll(turn: PollTurn): Promise<PollOutcome>;
  /**
   * Cancels at the provider the work behind the given items (or the batch), each provider id
   * once: ids in `withdraw.done` are skipped and the ones cancelled are added. Throws what the
   * provider throws; job-lifecycle makes it best effort.
   */
  withdraw(withdraw: Withdrawal): Promise<void>;
}

/** One submit of one child batch. */
export interface SubmitBatch {
  job: RunningJob;
  batchId: string;
  items: readonly ManifestLine[];
  deps: TaskDeps;
  run: SubmitRun;
}

/** What a poll reads of an item. */
export type PolledItem = Pick<ItemRecord, 'customId' | 'status' | 'providerId'> & Partial<Pick<ItemRecord, 'attempts'>>;

/** One poll turn of one child batch. */
export interface PollTurn {
  job: RunningJob;
  batchId: string;
  /** The batch's items still QUEUED or SUBMITTED. */
  unfinished: PolledItem[];
  /** How long ago the batch's last request was sent, when known. */
  ageSeconds: number | undefined;
  deps: TaskDeps;
  progress: JobProgress;
  /** Whether items that failed transiently may be sent again. */
  resend: ResendPolicy;
}

/**
 * What one poll turn saw: items still unfinished, whether any finished, how long they took, when a provider batch
 * should be done.
 */
export interface PollOutcome {
  left: number;
  progressed: boolean;
  latencySeconds?: number;
  etaSeconds?: number;
  /** Items put back in the queue to be sent again (counted in `left`). */
  requeued?: number;
}

/** Work to withdraw from the provider. */
export interface Withdrawal {
  deps: TaskDeps;
  jobId: string;
  items: readonly { status?: string | undefined; providerId?: string | undefined }[];
  /** The items' batch record, when known: batch mode cancels its provider batch once. */
  batch?: BatchRecord | undefined;
  /** The items' batch, when its record was not read: batch mode reads it. */
  batchId?: string | undefined;
  /** Provider ids already cancelled in this sweep. */
  done: Set<string>;
}

/** `{ key: value }`, or `{}` when the value is undefined: no undefined field reaches the state. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The provider ids the submitted items were sent with, each once, less those in `done`. */
export function submittedWorkIds(items: Withdrawal['items'], done: ReadonlySet<string>): string[] {
  const ids = items
    .filter((i) => i.providerId && (i.status === undefined || i.status === 'SUBMITTED'))
    .map((i) => i.providerId as string);
  return [...new Set(ids)].filter((id) => !done.has(id));
}
