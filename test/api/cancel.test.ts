import { describe, expect, test } from '@jest/globals';
import { batchInputOf } from '../../shared/job-lifecycle.js';
import type { ManifestLine } from '../../shared/store/object-store.js';
import type { ItemRecord, LogEntry } from '../../shared/types.js';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import { errorOf, jobOf, postJob, promptJobBody, useApiTestEnv, type ApiTestEnv } from '../support/api.js';
import { itemsOf, requireJob, responseFor, pollState } from '../support/deps.js';
import { manifestOf } from './manifest-of.js';

const env = useApiTestEnv();

async function logMessages(e: ApiTestEnv, jobId: string): Promise<string[]> {
  const response = await e.request('GET', `/jobs/${jobId}/logs`);
  return (response.json as { logs: LogEntry[] }).logs.map((log) => log.message);
}

/** The manifest in the Distributed Map's batches (ItemReader + ItemBatcher of `size`). */
async function manifestBatches(e: ApiTestEnv, jobId: string, size: number): Promise<ManifestLine[][]> {
  const lines = await manifestOf(e, jobId);
  const batches: ManifestLine[][] = [];
  for (let start = 0; start < lines.length; start += size) batches.push(lines.slice(start, start + size));
  return batches;
}

describe('POST /jobs/{id}/cancel', () => {
  test('202 with cancelRequested set; a second request changes nothing and logs nothing more', async () => {
    // Arrange
    const e = env();
    const job = await postJob(e, promptJobBody(2));

    // Act
    const first = await e.request('POST', `/jobs/${job.jobId}/cancel`);
    const second = await e.request('POST', `/jobs/${job.jobId}/cancel`);

    // Assert
    expect(first.status).toBe(202);
    expect(jobOf(first)).toMatchObject({ jobId: job.jobId, status: 'QUEUED', cancelRequested: true });
    expect(second.status).toBe(202);
    expect(jobOf(second).cancelRequested).toBe(true);
    expect((await requireJob(e, job.jobId)).cancelRequested).toBe(true);
    expect((await logMessages(e, job.jobId)).filter((message) => message === 'cancellation requested')).toHaveLength(1);
  });

  test.each(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'] as const)(
    '409 on a job that ended %s',
    async (status) => {
      // Arrange
      const e = env();
      const job = await postJob(e, promptJobBody(1));
      await e.store.finishJob(job.jobId, {
        status,
        counts: { total: 1, submitted: 1, succeeded: 0, failed: 0, cancelled: 0 },
        usage: { inputTokens: 0, outputTokens: 0 },
      });

      // Act
      const response = await e.request('POST', `/jobs/${job.jobId}/cancel`);

      // Assert
      expect(response.status).toBe(409);
      expect(errorOf(response)).toEqual({ code: 'JobAlreadyEnded', message: `the job already ended ${status}` });
      expect((await requireJob(e, job.jobId)).cancelRequested).toBeUndefined();
      // Nor can a cancel that raced the job's end set the flag: the store refuses it on an ended job.
      expect(await e.store.requestCancel(job.jobId)).toBeUndefined();
    },
  );
});

describe('graceful cancellation through the API', () => {
  test("cancel while running: the workflow's tasks withdraw the submitted work, end every item CANCELLED and the job CANCELLED", async () => {
    // Arrange: a job of 3 items in batches of 2; the execution started and the first batch was submitted
    const e = env();
    const created = await postJob(e, promptJobBody(3, { batchSize: 2 }));
    const context = await prepareJob({ input: { jobId: created.jobId }, executionArn: created.execution?.arn }, e.deps);
    const [firstBatch = [], secondBatch = []] = await manifestBatches(e, created.jobId, context.batchSize);
    const firstState = pollState(await submitBatch({ Items: firstBatch, BatchInput: batchInputOf(context) }, e.deps));
    expect(firstState.pending).toBe(2);

    // Act: the user cancels; the Map's second child starts, the first child polls, the reducer runs
    const cancel = await e.request('POST', `/jobs/${created.jobId}/cancel`);
    const secondState = pollState(await submitBatch({ Items: secondBatch, BatchInput: batchInputOf(context) }, e.deps));
    const polled = await pollBatch(firstState, e.deps);
    const summary = await finalizeJob({ job: context }, e.deps);

    // Assert: the cancel answer
    expect(cancel.status).toBe(202);
    expect(jobOf(cancel)).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    // the second batch was never sent; the first batch's responses were cancelled at the provider
    expect(secondState.pending).toBe(0);
    expect(polled.pending).toBe(0);
    expect(e.openai.callsOf('responses.create')).toHaveLength(2);
    const items = await itemsOf(e, created.jobId);
    const sent = items.filter((item) => item.providerId);
    expect(sent.map((item) => item.customId)).toEqual(['item-000', 'item-001']);
    expect(
      e.openai
        .callsOf('responses.cancel')
        .map(([id]) => id)
        .sort(),
    ).toEqual(sent.map((item) => item.providerId).sort());
    expect(sent.every((item) => responseFor(e.openai, item).status === 'cancelled')).toBe(true);
    expect(summary.status).toBe('CANCELLED');

    // ...and what the API shows afterwards
    const job = jobOf(await e.request('GET', `/jobs/${created.jobId}`));
    expect(job).toMatchObject({
      status: 'CANCELLED',
      cancelRequested: true,
      counts: { total: 3, submitted: 2, succeeded: 0, failed: 0, cancelled: 3 },
      progress: { finished: 3, total: 3, percent: 100 },
    });
    const listed = (await e.request('GET', `/jobs/${created.jobId}/items`, { query: { status: 'CANCELLED' } }))
      .json as { items: ItemRecord[] };
    expect(listed.items.map((item) => [item.customId, item.error?.code]).sort()).toEqual([
      ['item-000', 'job_cancelled'],
      ['item-001', 'job_cancelled'],
      ['item-002', 'job_cancelled'],
    ]);
    const results = await e.request('GET', `/jobs/${created.jobId}/results`);
    expect(results.status).toBe(200);
    const lines = results.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { custom_id: string; error: { code: string } | null });
    expect(lines.map((line) => [line.custom_id, line.error?.code]).sort()).toEqual([
      ['item-000', 'job_cancelled'],
      ['item-001', 'job_cancelled'],
      ['item-002', 'job_cancelled'],
    ]);
    expect(await logMessages(e, created.jobId)).toEqual(
      expect.arrayContaining(['cancellation requested', 'job ended CANCELLED']),
    );
    expect((await e.request('POST', `/jobs/${created.jobId}/cancel`)).status).toBe(409);
  });
});
