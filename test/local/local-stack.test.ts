import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { writeJob, validateJob } from '../../shared/job-intake.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import type { ItemRecord, JobRecord, OutputLine } from '../../shared/types.js';
import { LocalRuntime } from '../../local/local-stack.js';
import { cli } from '../support/cli.js';

function promptLines(count: number, prefix = 'item'): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(4, '0')}`,
    prompt: `Tell me about ${i}`,
  }));
}

async function createJob(
  runtime: LocalRuntime,
  jobId: string,
  lines: Record<string, unknown>[],
  options: Record<string, unknown> = {},
): Promise<JobRecord> {
  const validated = await validateJob(
    { jobType: 'prompt', options: { model: 'gpt-4.1-mini', batchSize: 10, maxConcurrency: 4, ...options } },
    lines.map((value, i) => ({ lineNumber: i + 1, value })),
    createDefaultRegistry(),
  );
  return (
    await writeJob({ jobId, jobType: 'prompt', options: validated.options, source: 'api' }, validated, runtime.deps)
  ).job;
}

async function allItems(runtime: LocalRuntime, jobId: string): Promise<ItemRecord[]> {
  const items: ItemRecord[] = [];
  for await (const page of runtime.deps.store.allItems(jobId)) items.push(...page);
  return items;
}

async function results(runtime: LocalRuntime, job: JobRecord): Promise<OutputLine[]> {
  const lines: OutputLine[] = [];
  if (!job.results) return lines;
  for await (const line of runtime.deps.objects.readJsonl(job.results)) lines.push(line.value as OutputLine);
  return lines;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the local runtime runs the deployed definition with the real task code', () => {
  let runtime: LocalRuntime;

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      timeScale: 100,
      apiPort: 0,
      mock: { latencyMs: 400, permanentErrorRate: 0.1, seed: 4 },
    });
  });
  afterAll(async () => {
    await runtime.stop();
  });

  test('the reducer counts every item once, and the counts match the results file', async () => {
    // Arrange
    const job = await createJob(runtime, 'counts-job', promptLines(60));

    // Act
    const execution = await runtime.engine.waitForExecution(await runtime.startJob(job.jobId));

    // Assert
    expect(execution.status).toBe('SUCCEEDED');
    const finished = await runtime.deps.store.getJob(job.jobId);
    if (!finished) throw new Error('job missing');
    const lines = await results(runtime, finished);
    const failed = lines.filter((line) => line.error !== null).length;
    expect(new Set(lines.map((line) => line.custom_id)).size).toBe(60);
    expect(failed).toBeGreaterThan(0);
    expect(finished).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      counts: { total: 60, succeeded: 60 - failed, failed, cancelled: 0 },
    });
    const items = await allItems(runtime, job.jobId);
    expect(items.filter((item) => item.status === 'FAILED')).toHaveLength(failed);
    // 60 items in batches of 10: six child executions.
    expect(runtime.engine.stats().childExecutions).toBeGreaterThanOrEqual(6);
  });

  test('cancellation mid-run withdraws the provider work and ends the job CANCELLED, every item terminal', async () => {
    // Arrange: slow responses so the job is still running when the cancel arrives
    const slow = await LocalRuntime.start({ timeScale: 50, mock: { latencyMs: 60_000, latencySpread: 0 } });
    try {
      const job = await createJob(slow, 'cancel-job', promptLines(40), { batchSize: 10, maxConcurrency: 2 });
      const executionArn = await slow.startJob(job.jobId);
      await until(
        () => allItems(slow, job.jobId),
        (items) => items.some((item) => item.status === 'SUBMITTED'),
      );

      // Act
      await slow.deps.store.requestCancel(job.jobId);
      const execution = await slow.engine.waitForExecution(executionArn);

      // Assert
      expect(execution.status).toBe('SUCCEEDED');
      const finished = await slow.deps.store.getJob(job.jobId);
      expect(finished?.status).toBe('CANCELLED');
      const items = await allItems(slow, job.jobId);
      expect(items).toHaveLength(40);
      expect(
        items.every((item) => item.status === 'CANCELLED' || item.status === 'SUCCEEDED' || item.status === 'FAILED'),
      ).toBe(true);
      expect(finished?.counts.cancelled).toBe(items.filter((item) => item.status === 'CANCELLED').length);
      expect(finished?.counts.cancelled).toBeGreaterThan(0);
      expect(slow.mockProvider?.stats().calls['POST /v1/responses/{id}/cancel'] ?? 0).toBeGreaterThan(0);
    } finally {
      await slow.stop();
    }
  }, 60_000);

  test('the CLI runs a job on the served HTTP API, and status and cancel reach it too', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-api-'));
    const file = join(dir, 'items.jsonl');
    await writeFile(
      file,
      promptLines(30, 'api')
        .map((line) => `${JSON.stringify(line)}\n`)
        .join(''),
    );
    const api = runtime.apiUrl ?? '';

    // Act
    const run = await cli(['run', file, '--api', api, '--json', '--batch-size', '10']);
    const summary = JSON.parse(run.stdout.trim()) as {
      jobId: string;
      status: string;
      total: number;
      succeeded: number;
      failed: number;
    };
    const status = await cli(['status', summary.jobId, '--api', api]);
    const cancel = await cli(['cancel', summary.jobId, '--api', api]);

    // Assert
    expect(summary).toMatchObject({ status: 'COMPLETED_WITH_ERRORS', total: 30 });
    expect(summary.succeeded + summary.failed).toBe(30);
    expect(run.code).toBe(3);
    const lines = (await readFile(join(dir, 'items.results.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(30);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId: summary.jobId, status: 'COMPLETED_WITH_ERRORS' });
    // The job has ended: the API refuses to cancel it.
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toContain('409');
  }, 90_000);
});
