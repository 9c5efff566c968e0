import type { CaughtError } from './execution-input.js';
import type { Reservation } from './rate-limit/rate-limiter.js';
import type { ManifestLine } from './store/object-store.js';
import type { JobCounts, JobOptions, JobStatus, S3Location, TokenUsage } from './types.js';

/**
 * The state the job workflow carries between its states: one typed contract for what each task
 * returns and what the next state reads by JSONPath. test/workflows/state-contract.test.ts
 * resolves every path the rendered workflow reads in an example of these types, so renaming a
 * field here without the workflow (or the reverse) fails there.
 */

/**
 * What every batch task needs of the job and what does not change while it runs: Prepare job
 * reads it once, the Map hands it to every child as its BatchInput, and the child carries it
 * from state to state, so the tasks read from DynamoDB only what changes (see LiveJobState).
 */
export interface BatchInput {
  jobId: string;
  jobType: string;
  /** The job's options; `params` is `{}` when `paramsInRecord` (see MAX_BATCH_CONTEXT_BYTES). */
  options: JobOptions;
  /** True when the params were too large for the state: the tasks read them from the job record. */
  paramsInRecord: boolean;
}

/** What Prepare job returns at `$.job`: the map's item source and settings, and the batches' context. */
export interface JobContext extends BatchInput {
  manifest: S3Location;
  batchSize: number;
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  /** True when another execution already runs this job, or it has ended: this start does nothing. */
  duplicate: boolean;
}

/** What Finalize job returns at `$.summary`. */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  results?: S3Location;
  counts: JobCounts;
  usage: TokenUsage;
  estimatedCostUsd?: number;
  error?: { name: string; message: string };
}

/** The execution's state at the job level, after the execution input's own fields. */
export interface JobState {
  job: JobContext;
  /** The Distributed Map's result writer details. */
  mapRun?: unknown;
  /** Set when the Distributed Map itself failed (its Catch). */
  mapError?: CaughtError;
  summary?: JobSummary;
  /** Set by a job-level Catch. */
  error?: CaughtError;
  /** What Mark job failed returns, before the Fail state. */
  marked?: { jobId?: string; marked: boolean };
}

/** A Distributed Map child's input: its batch of manifest lines and the job context. */
export interface SubmitBatchInput {
  Items: ManifestLine[];
  BatchInput: BatchInput;
  /** Turns an earlier submit of this batch booked for its unsent items (see RateLimitWait). */
  reservation?: Reservation;
  /**
   * Poll turns the child has taken so far, when it comes back to submit (a resend, a wait for
   * turns or for queue room): the bound of MAX_POLL_TURNS covers the whole child.
   */
  pollTurn?: number;
}

/** What a child execution carries between its submit, wait and poll states: no items, only their ids. */
export interface BatchState {
  /** The job's context, as the Map handed it to the child. */
  BatchInput: BatchInput;
  batchId: string;
  /**
   * The batch's items, so its polls need no record of them. They fit: the ids are part of the
   * items, which the ItemBatcher keeps under MAX_BATCH_INPUT_BYTES (at most about half of it, as
   * each item carries its id in its line too). Left out of a RateLimitWait, which has the Items.
   */
  customIds: string[];
  /** Items of the batch not yet in a terminal state; the Choice loops while it is above 0. */
  pending: number;
  /** The next Wait, in seconds. */
  waitSeconds: number;
  /** Poll turns taken so far (bounded by MAX_POLL_TURNS). */
  pollTurn: number;
  /** When the batch gives up on the provider (ISO time). */
  deadline: string;
  /** When the submit task sent the batch's last request (ISO time): the age of its requests. */
  sentAt: string;
  /**
   * Items a poll put back in the queue after a transient failure (or a batch the provider refused
   * for its queue). The Choice sends the child through "Gather items to resend", which takes the
   * items from the child's execution input, to Submit batch while this is present.
   */
  resend?: number;
}

/**
 * A submit that left items for turns booked later: the batch state, plus the child's input again
 * (the next submit needs it) and the booked turns. The child waits `waitSeconds` for them in
 * Step Functions ("Wait for rate-limit turn"), then submits again.
 */
export interface RateLimitWait extends Omit<BatchState, 'customIds' | 'resend'>, SubmitBatchInput {
  pollTurn: number;
  /** Items not sent yet. The Choice goes back to the submit task while this is present. */
  unsent: number;
}

export function isRateLimitWait(state: BatchState | RateLimitWait | QueueRoomWait): state is RateLimitWait {
  return 'unsent' in state;
}

/**
 * A batch-mode submit that found no room in the provider's batch queue for its batch (see
 * shared/rate-limit/batch-queue-budget.ts): it created nothing, and the child waits
 * `waitSeconds` in "Wait for batch queue room", then submits again.
 */
export interface QueueRoomWait extends Omit<BatchState, 'customIds' | 'resend'>, SubmitBatchInput {
  pollTurn: number;
  /** The batch's estimated input tokens, those enqueued by others, the limit. The Choice waits while present. */
  queueFull: { tokens: number; enqueued: number; limit: number };
}

export function isQueueRoomWait(state: BatchState | RateLimitWait | QueueRoomWait): state is QueueRoomWait {
  return 'queueFull' in state;
}

/** What Record batch failure returns at `$.recorded`, before the child fails. */
export interface BatchFailureRecord {
  jobId: string;
  batchId: string;
  failed: number;
  error: { name: string; message: string };
}

/** What a child's Catch hands Record batch failure: the failed task's input with the error. */
export type BatchFailureState = (SubmitBatchInput | BatchState) & {
  error?: CaughtError;
  recorded?: BatchFailureRecord;
};
