import { describe, expect, test } from '@jest/globals';
import type { TaskDeps } from '../../shared/deps.js';
import type {
  BatchFailureRecord,
  BatchInput,
  BatchFailureState,
  BatchState,
  JobContext,
  JobState,
  JobSummary,
  QueueRoomWait,
  RateLimitWait,
  SubmitBatchInput,
} from '../../shared/workflow-state.js';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { recordBatchFailure } from '../../tasks/record-batch-failure.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import { renderJobWorkflowAsl } from '../../workflows/render-asl.js';
import { STATE } from '../../workflows/state-names.js';

/**
 * The state contract (shared/workflow-state.ts) against the rendered workflow: every JSONPath a
 * state reads must resolve in a complete example of the state that reaches it. The examples are
 * typed `Complete<...>`, so the compiler makes them carry every field of the contract: a field
 * renamed in the contract and not in the workflow (or the reverse) fails here.
 */

/** Every field present, all the way down. */
type Complete<T> = T extends readonly (infer U)[]
  ? Complete<U>[]
  : T extends object
    ? { [K in keyof T]-?: Complete<NonNullable<T[K]>> }
    : T;

// The tasks take and return the contract's types (a compile-time check: the test fails to build otherwise).
const _tasks: {
  prepare: (event: { input: unknown; executionArn?: string }, deps: TaskDeps) => Promise<JobContext>;
  submit: (input: SubmitBatchInput, deps: TaskDeps) => Promise<BatchState | RateLimitWait | QueueRoomWait>;
  poll: (state: BatchState, deps: TaskDeps) => Promise<BatchState>;
  recordFailure: (state: BatchFailureState, deps: TaskDeps) => Promise<BatchFailureRecord>;
  finalize: (state: JobState, deps: TaskDeps) => Promise<JobSummary>;
} = {
  prepare: prepareJob,
  submit: submitBatch,
  poll: pollBatch,
  recordFailure: recordBatchFailure,
  finalize: finalizeJob,
};

const caught: Complete<NonNullable<JobState['error']>> = {
  Error: 'ProviderUnavailableError',
  Cause: '{"errorMessage":"down"}',
};

const batchInput: Complete<BatchInput> = {
  jobId: 'job-1',
  jobType: 'prompt',
  options: {
    mode: 'responses',
    model: 'gpt-4.1-mini',
    batchSize: 100,
    maxConcurrency: 10,
    toleratedFailurePercentage: 10,
    maxAttempts: 3,
    params: { template: '{{prompt}}' },
  },
  paramsInRecord: false,
};

const job: Complete<JobContext> = {
  ...batchInput,
  manifest: { bucket: 'llm-batch-local', key: 'jobs/job-1/manifest.jsonl' },
  batchSize: 100,
  maxConcurrency: 10,
  toleratedFailurePercentage: 10,
  duplicate: false,
};

const summary: Complete<JobSummary> = {
  jobId: 'job-1',
  status: 'FAILED',
  results: { bucket: 'llm-batch-local', key: 'jobs/job-1/results.jsonl' },
  counts: { total: 2, submitted: 2, succeeded: 0, failed: 2, cancelled: 0 },
  usage: { inputTokens: 10, outputTokens: 2 },
  estimatedCostUsd: 0.001,
  error: { name: 'AllItemsFailed', message: 'all 2 item(s) failed' },
};

/** The job-level state, after the API's execution input `{ jobId }`. */
const jobState: Complete<JobState> & { jobId: string } = {
  jobId: 'job-1',
  job,
  mapRun: { MapRunArn: 'arn:aws:states:us-east-1:000000000000:mapRun:jobs/run' },
  mapError: caught,
  summary,
  error: caught,
  marked: { jobId: 'job-1', marked: true },
};

const childInput: Complete<SubmitBatchInput> = {
  Items: [{ customId: 'item-0', index: 0, line: { custom_id: 'item-0' } }],
  BatchInput: batchInput,
  reservation: { keyId: 'key-1', epoch: 1, checkedAt: 0, at: [1_000], tokens: 100 },
  pollTurn: 3,
};

const batchState: Complete<BatchState> = {
  BatchInput: batchInput,
  batchId: 'batch-0000000',
  customIds: ['item-0'],
  pending: 1,
  waitSeconds: 5,
  pollTurn: 0,
  deadline: '2026-03-02T15:00:00.000Z',
  sentAt: '2026-03-02T09:00:00.000Z',
  resend: 1,
};

const { customIds: _members, resend: _resend, ...sentState } = batchState;
const rateLimitWait: Complete<RateLimitWait> = { ...sentState, ...childInput, unsent: 1 };
const queueRoomWait: Complete<QueueRoomWait> = {
  ...sentState,
  ...childInput,
  queueFull: { tokens: 60_000, enqueued: 60_000, limit: 90_000 },
};

const recorded: Complete<BatchFailureRecord> = {
  jobId: 'job-1',
  batchId: 'batch-0000000',
  failed: 1,
  error: { name: 'ProviderUnavailableError', message: 'down' },
};
const submitFailed = { ...childInput, error: caught, recorded } satisfies Complete<BatchFailureState>;
const waitedSubmitFailed = { ...queueRoomWait, error: caught, recorded } satisfies Complete<BatchFailureState>;
const pollFailed = { ...batchState, error: caught, recorded } satisfies Complete<BatchFailureState>;

/** What can reach each state: every example must resolve every path the state reads. */
const REACHING: Record<string, readonly unknown[]> = {
  [STATE.prepareJob]: [{ jobId: 'job-1' }],
  [STATE.duplicateStart]: [jobState],
  [STATE.duplicateIgnored]: [jobState],
  [STATE.processBatches]: [jobState],
  [STATE.finalizeJob]: [jobState],
  [STATE.jobEndedFailed]: [jobState],
  [STATE.jobFinished]: [jobState],
  [STATE.jobFailed]: [jobState],
  [STATE.markJobFailed]: [jobState],
  [STATE.workflowFailed]: [jobState],
  [STATE.submitBatch]: [childInput, rateLimitWait, queueRoomWait],
  [STATE.itemsPending]: [batchState, rateLimitWait, queueRoomWait],
  [STATE.waitForTurn]: [rateLimitWait],
  [STATE.waitForQueueRoom]: [queueRoomWait],
  [STATE.gatherResend]: [batchState],
  [STATE.waitForProvider]: [batchState],
  [STATE.pollBatch]: [batchState],
  [STATE.batchDone]: [batchState],
  [STATE.recordBatchFailure]: [submitFailed, waitedSubmitFailed, pollFailed],
  [STATE.batchFailed]: [submitFailed, waitedSubmitFailed, pollFailed],
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type AslState = Record<string, Json>;
interface AslGraph {
  States: Record<string, AslState>;
}

const asl = renderJobWorkflowAsl() as unknown as AslGraph;

/** Every state, the Map's item processor included. */
function statesOf(graph: AslGraph): [string, AslState][] {
  return Object.entries(graph.States).flatMap(([name, state]) => {
    const processor = state.ItemProcessor as unknown as AslGraph | undefined;
    return [[name, state] as [string, AslState], ...(processor ? statesOf(processor) : [])];
  });
}

/** A path a state reads, and whether it only asks if the field is there (IsPresent). */
interface ReadPath {
  where: string;
  path: string;
  presenceOnly: boolean;
}

/** What a state reads of its input: `.$` templates, `...Path` fields (not ResultPath: it writes), Choice Variables. */
function readPaths(state: AslState): ReadPath[] {
  const found: ReadPath[] = [];
  const visit = (value: Json, where: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${where}[${i}]`));
      return;
    }
    if (!value || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      // The item processor's states are checked on their own; Catch writes; ResultSelector reads the task's result.
      if (['ItemProcessor', 'Catch', 'Retry', 'ResultSelector', 'ResultPath'].includes(key)) continue;
      const reads = key.endsWith('.$') || key.endsWith('Path') || key === 'Variable';
      if (reads && typeof child === 'string' && child.startsWith('$') && !child.startsWith('$$')) {
        found.push({ where: `${where}.${key}`, path: child, presenceOnly: key === 'Variable' && 'IsPresent' in value });
      } else {
        visit(child, `${where}.${key}`);
      }
    }
  };
  visit(state, '');
  return found;
}

/** Resolves a plain JSONPath ($, $.a.b); anything fancier fails the test loudly. */
function resolves(path: string, value: unknown): boolean {
  if (path === '$') return true;
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path))
    throw new Error(`the contract test reads only plain paths, not ${path}`);
  let current: unknown = value;
  for (const key of path.slice(2).split('.')) {
    if (!current || typeof current !== 'object' || !(key in current)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  return true;
}

const states = statesOf(asl);

describe('the workflow state contract', () => {
  test('GIVEN the rendered workflow THEN the contract says what reaches every state', () => {
    expect(states.map(([name]) => name).sort()).toEqual(Object.keys(REACHING).sort());
  });

  test.each(states.map(([name, state]) => [name, state] as const))(
    'GIVEN "%s" WHEN it reads its input THEN every path resolves in the contract',
    (name, state) => {
      const examples = REACHING[name] ?? [];
      const unresolved = readPaths(state).flatMap(({ where, path, presenceOnly }) => {
        const hits = examples.filter((example) => resolves(path, example)).length;
        // An IsPresent test tells the examples apart: one of them must have the field.
        const ok = presenceOnly ? hits > 0 : hits === examples.length;
        return ok ? [] : [`${where}: ${path}`];
      });

      expect(unresolved).toEqual([]);
    },
  );

  test('GIVEN the Map WHEN it builds a child input THEN its BatchInput is exactly the contract BatchInput', () => {
    const map = Object.fromEntries(states)[STATE.processBatches] as {
      ItemBatcher: { BatchInput: Record<string, string> };
    };

    const fields = Object.keys(map.ItemBatcher.BatchInput).map((key) => key.replace(/\.\$$/, ''));

    expect(fields.sort()).toEqual(Object.keys(childInput.BatchInput).sort());
  });

  test('GIVEN the tasks WHEN their results are placed THEN each lands on a field of the contract', () => {
    const resultPaths = Object.fromEntries(states.map(([name, state]) => [name, state.ResultPath]));
    const catchPaths = states.flatMap(([name, state]) =>
      ((state.Catch ?? []) as { ResultPath?: string }[]).map((c) => [name, c.ResultPath] as const),
    );

    expect(resultPaths).toMatchObject({
      [STATE.prepareJob]: '$.job',
      [STATE.processBatches]: '$.mapRun',
      [STATE.finalizeJob]: '$.summary',
      [STATE.markJobFailed]: '$.marked',
      [STATE.recordBatchFailure]: '$.recorded',
    });
    // The batch tasks replace the child's state with what they return (BatchState or RateLimitWait).
    expect(resultPaths[STATE.submitBatch]).toBeUndefined();
    expect(resultPaths[STATE.pollBatch]).toBeUndefined();
    expect(catchPaths.sort()).toEqual([
      [STATE.finalizeJob, '$.error'],
      [STATE.pollBatch, '$.error'],
      [STATE.prepareJob, '$.error'],
      [STATE.processBatches, '$.mapError'],
      [STATE.submitBatch, '$.error'],
    ]);
    // What a Catch writes is where the contract's failure states have it.
    expect([resolves('$.error', jobState), resolves('$.mapError', jobState)]).toEqual([true, true]);
    expect([resolves('$.error', submitFailed), resolves('$.error', pollFailed)]).toEqual([true, true]);
  });
});

void _tasks;
