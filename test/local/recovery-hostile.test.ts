import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { LocalRuntime } from '../../local/local-stack.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { resolveJobOptions } from '../../shared/job-options.js';
import { queueTokensOf } from '../../shared/modes/batch-queue.js';
import { BatchQueueBudget } from '../../shared/rate-limit/batch-queue-budget.js';
import { TERMINAL_JOB_STATUSES, type ItemRecord, type JobRecord, type OutputLine } from '../../shared/types.js';

/**
 * Issue 11's done criteria on the local runtime (the real tasks, the rendered workflow, the mock
 * provider turned hostile), at a jest-sized N: a batch-mode job whose provider batches expire,
 * fail lines with 5xx and are refused for the model's batch queue, and a responses-mode job whose
 * background responses fail transiently, both end COMPLETED with every id exactly once.
 * (The full-size runs, 3,000 items, are in the README's "Attempts and the batch queue".)
 */

const MODEL = 'gpt-4.1-mini';
const TIMEOUT_MS = 240_000;
const BATCH_SIZE = 100;

function promptItems(count: number, prefix: string): { id: string; prompt: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(4, '0')}`,
    prompt: `Summarise ticket ${String(i).padStart(4, '0')}: the export fails on large files`,
  }));
}

/** The estimated input tokens of one batch of these items, as the submit task counts them. */
function batchTokens(items: { id: string; prompt: string }[]): number {
  const options = resolveJobOptions({ model: MODEL, mode: 'batch' }, createDefaultRegistry().get('prompt'));
  const compiled = createDefaultRegistry().get('prompt').compile(options);
  return queueTokensOf(items.slice(0, BATCH_SIZE).map((item) => compiled.toRequest(item)));
}

const BATCH_ITEMS = promptItems(400, 'b');
/** The mock's queue holds two of the job's batches, not three. */
const QUEUE_TOKENS = Math.floor(batchTokens(BATCH_ITEMS) * 2.5);

/** A local runtime with the mock provider turned hostile, and how to run a job through its API to the end. */
function hostileRuntime(mock: Record<string, number>, timeScale: number) {
  let runtime: LocalRuntime | undefined;
  const started = () => {
    if (!runtime) throw new Error('the runtime did not start');
    return runtime;
  };

  async function call<T>(path: string, init?: RequestInit): Promise<T> {
    const response = await fetch(`${started().apiUrl ?? ''}${path}`, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      timeScale,
      apiPort: 0,
      mock: { latencyMs: 300, seed: 11, batchDurationMs: 60_000, ...mock },
    });
  }, TIMEOUT_MS);
  afterAll(async () => {
    await runtime?.stop();
  });

  return {
    runtime: started,
    async runToEnd(body: Record<string, unknown>): Promise<JobRecord> {
      const created = await call<JobRecord>('/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      for (;;) {
        const job = await call<JobRecord>(`/jobs/${created.jobId}`);
        if (TERMINAL_JOB_STATUSES.includes(job.status)) return job;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async resultsOf(jobId: string): Promise<OutputLine[]> {
      const job = await started().deps.store.getJob(jobId);
      if (!job?.results) throw new Error(`job ${jobId} has no results file`);
      const lines: OutputLine[] = [];
      for await (const line of started().deps.objects.readJsonl(job.results)) lines.push(line.value as OutputLine);
      return lines;
    },
    async itemsOf(jobId: string): Promise<ItemRecord[]> {
      const items: ItemRecord[] = [];
      for await (const page of started().deps.store.allItems(jobId)) items.push(...page);
      return items;
    },
  };
}

describe('GIVEN batches that expire (30 %), lines failing with 5xx (10 %) and a batch queue that fits two batches', () => {
  // A slower clock than usual: a submit task's 210 s budget must hold on a busy machine.
  const hostile = hostileRuntime({ batchQueueTokens: QUEUE_TOKENS, batchExpireRate: 0.3, transientErrorRate: 0.1 }, 20);

  test(
    'WHEN a batch-mode job of 4 batches runs THEN it ends COMPLETED with every id once',
    async () => {
      // Act: the default maxConcurrency (10) starts all four children at once
      const job = await hostile.runToEnd({
        jobType: 'prompt',
        options: { mode: 'batch', model: MODEL, batchSize: BATCH_SIZE, maxAttempts: 10 },
        items: BATCH_ITEMS,
      });
      const results = await hostile.resultsOf(job.jobId);
      const items = await hostile.itemsOf(job.jobId);

      // Assert: done, each id once, and the recovery really ran: resends, and a limit learned from a refusal
      expect(job).toMatchObject({ status: 'COMPLETED', counts: { total: 400, succeeded: 400, failed: 0 } });
      expect(results.map((line) => line.custom_id).sort()).toEqual(BATCH_ITEMS.map((item) => item.id));
      expect(results.every((line) => line.error === null)).toBe(true);
      expect(Math.max(...items.map((item) => item.attempts))).toBeGreaterThan(1);
      const { deps } = hostile.runtime();
      const budget = new BatchQueueBudget(deps.store.table, (await deps.rateLimiter()).keyId, () => Date.now());
      const queue = await budget.read(MODEL);
      expect(queue.limitTokens).toBe(QUEUE_TOKENS);
      expect(Object.keys(queue.holds)).toEqual([]);
    },
    TIMEOUT_MS,
  );
});

describe('GIVEN 30 % of background responses failing with server_error', () => {
  const hostile = hostileRuntime({ transientErrorRate: 0.3 }, 20);

  test(
    'WHEN a responses-mode job runs THEN it ends COMPLETED with every id once',
    async () => {
      const items = promptItems(100, 'r');

      const job = await hostile.runToEnd({
        jobType: 'prompt',
        options: { mode: 'responses', model: MODEL, batchSize: 25, maxAttempts: 10 },
        items,
      });
      const results = await hostile.resultsOf(job.jobId);
      const records = await hostile.itemsOf(job.jobId);

      expect(job).toMatchObject({ status: 'COMPLETED', counts: { total: 100, succeeded: 100, failed: 0 } });
      expect(results.map((line) => line.custom_id).sort()).toEqual(items.map((item) => item.id));
      expect(Math.max(...records.map((item) => item.attempts))).toBeGreaterThan(1);
    },
    TIMEOUT_MS,
  );
});
