/** Limits and defaults the workflow is built around, with the platform limit each one respects. */

/** Step Functions: 256 KiB per state input, so per Distributed Map child (its batch of items). */
export const STATE_PAYLOAD_LIMIT_BYTES = 262_144;
/** ItemBatcher MaxInputBytesPerBatch: the items of one child, leaving room for BatchInput. */
export const MAX_BATCH_INPUT_BYTES = 250_000;
/** One manifest line must fit a batch on its own. */
export const MAX_ITEM_BYTES = 240 * 1024;

/**
 * A child costs a few state transitions plus three per poll turn, whatever its size: batches of
 * 100 keep responses mode near 0.1 transitions per item, and of 1,000 keep batch mode near 0.01.
 */
export const MODE_DEFAULTS = {
  /** Background Responses: one request per item; 100 items per child. */
  responses: { batchSize: 100, maxConcurrency: 50 },
  /** OpenAI Batch: one provider batch per child, as large as the child's input allows. */
  batch: { batchSize: 1000, maxConcurrency: 10 },
} as const;

export const MAX_BATCH_SIZE = 50_000; // OpenAI: requests per Batch
export const MAX_MAP_CONCURRENCY = 10_000; // Distributed Map hard maximum
export const DEFAULT_TOLERATED_FAILURE_PERCENTAGE = 10;
/** Times an item is sent at most (job option maxAttempts): its first send and its resends after transient failures. */
// 10, not 3: a provider having a bad hour fails 10-30 % of lines transiently, and 3 attempts would
// leave 0.1 to 3 % of a big job FAILED. Failed lines are not billed, so resends cost time, not money.
export const DEFAULT_MAX_ATTEMPTS = 10;
export const MAX_MAX_ATTEMPTS = 10;

/**
 * Each child execution is a Standard workflow: it fails at 25,000 history events. One poll turn
 * (Wait, Task, Choice) writes about 9 events, 12 with a retry; so does a turn back to Submit batch
 * (a resend's Pass or a Wait, Task, Choice), which counts against the same bound. 1,000 turns stay under 12,000
 * events, and with waits growing to their caps they cover more than the 24 h batch window.
 */
export const MAX_POLL_TURNS = 1_000;
export const EVENTS_PER_POLL_TURN_WORST_CASE = 12;
export const HISTORY_EVENT_LIMIT = 25_000;

/** Adaptive poll intervals (seconds): start, cap, growth when nothing moved. */
export const POLL_INTERVALS = {
  responses: { initial: 5, min: 1, max: 60, growth: 1.5 },
  batch: { initial: 60, min: 15, max: 600, growth: 1.5 },
} as const;

/** How long a child batch may wait for the provider before its unfinished items fail. */
export const BATCH_DEADLINE_SECONDS = {
  responses: 6 * 3600,
  batch: 26 * 3600, // the 24 h completion window plus finalizing
} as const;

/** Task Lambda timeout; a submit claim outlives it, so only a dead holder's claim is taken over. */
export const TASK_TIMEOUT_SECONDS = 300;
export const SUBMIT_LEASE_MS = (TASK_TIMEOUT_SECONDS + 60) * 1000;

/** DynamoDB items are at most 400 KB; larger outputs go to S3. */
export const MAX_INLINE_OUTPUT_BYTES = 300_000;

/** Items in one job, and in one API request body (larger jobs come as a JSONL file in S3). */
export const MAX_ITEMS_PER_JOB = 1_000_000;
export const MAX_ITEMS_PER_REQUEST = 50_000;
