import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, test } from '@jest/globals';
import { errorOf, jobOf, postJob, promptJobBody, useApiTestEnv, type ApiTestEnv } from '../support/api.js';
import { requireJob } from '../support/deps.js';
import { manifestOf } from './manifest-of.js';

const env = useApiTestEnv();

/** GIVEN a job of 4 items that ended COMPLETED_WITH_ERRORS: item-001 and item-003 FAILED, the others SUCCEEDED. */
async function jobWithFailures(e: ApiTestEnv, options: Record<string, unknown> = {}): Promise<string> {
  const job = await postJob(e, promptJobBody(4, { batchSize: 2, ...options }));
  const lines = await manifestOf(e, job.jobId);
  for (const line of lines) {
    const failed = line.index % 2 === 1;
    await e.store.items.finish(
      job.jobId,
      line.customId,
      failed ? { status: 'FAILED', error: { code: 'invalid_value', message: 'refused' } } : { status: 'SUCCEEDED' },
      { create: { index: line.index, batchId: 'batch-0000000' } },
    );
  }
  await e.store.finishJob(job.jobId, {
    status: 'COMPLETED_WITH_ERRORS',
    counts: { total: 4, submitted: 4, succeeded: 2, failed: 2, cancelled: 0 },
    usage: { inputTokens: 0, outputTokens: 0 },
  });
  return job.jobId;
}

describe('POST /jobs/{id}/retry', () => {
  test("GIVEN a job with failed items WHEN it is retried THEN a new job of exactly those items' lines runs, linked to it, with its options", async () => {
    const e = env();
    const originalId = await jobWithFailures(e, { maxConcurrency: 7 });
    const original = await requireJob(e, originalId);

    const response = await e.request('POST', `/jobs/${originalId}/retry`);

    expect(response.status).toBe(202);
    const retry = jobOf(response);
    expect(retry).toMatchObject({
      jobType: 'prompt',
      status: 'QUEUED',
      parentJobId: originalId,
      options: original.options,
      counts: { total: 2, submitted: 0, succeeded: 0, failed: 0, cancelled: 0 },
    });
    expect(response.headers.location).toBe(`/jobs/${retry.jobId}`);
    const originalLines = await manifestOf(e, originalId);
    expect((await manifestOf(e, retry.jobId)).map((line) => line.line)).toEqual(
      [originalLines[1], originalLines[3]].map((line) => line?.line),
    );
    expect(e.sfnMock.commandCalls(StartExecutionCommand).at(-1)?.args[0].input).toMatchObject({ name: retry.jobId });
    expect((await e.request('GET', `/jobs/${retry.jobId}`)).json).toMatchObject({ parentJobId: originalId });
    const logs = (await e.request('GET', `/jobs/${originalId}/logs`)).json as { logs: { message: string }[] };
    expect(logs.logs.map((log) => log.message)).toContain(`failed items retried as job ${retry.jobId}`);
  });

  test('options in the body replace those of the original one by one, and are validated as POST /jobs validates them', async () => {
    const e = env();
    const originalId = await jobWithFailures(e, { maxConcurrency: 7 });

    const changed = await e.request('POST', `/jobs/${originalId}/retry`, { body: { options: { batchSize: 1 } } });
    const invalid = await e.request('POST', `/jobs/${originalId}/retry`, { body: { options: { batchSize: 0 } } });
    const unknown = await e.request('POST', `/jobs/${originalId}/retry`, { body: { items: [] } });

    expect(changed.status).toBe(202);
    expect(jobOf(changed).options).toMatchObject({ batchSize: 1, maxConcurrency: 7 });
    expect(invalid.status).toBe(400);
    expect(errorOf(invalid).issues?.[0]?.where).toBe('options.batchSize');
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown).issues).toEqual([{ where: 'items', message: 'unknown field; known fields: options' }]);
  });

  test('Idempotency-Key: the same request answers the same job, marked replayed; other options answer 409', async () => {
    const e = env();
    const originalId = await jobWithFailures(e);
    const headers = { 'idempotency-key': 'retry-nightly-1' };

    const first = await e.request('POST', `/jobs/${originalId}/retry`, { headers });
    const again = await e.request('POST', `/jobs/${originalId}/retry`, { headers });
    const other = await e.request('POST', `/jobs/${originalId}/retry`, {
      headers,
      body: { options: { batchSize: 1 } },
    });

    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(jobOf(again).jobId).toBe(jobOf(first).jobId);
    expect(other.status).toBe(409);
    expect(errorOf(other).code).toBe('IdempotencyKeyReused');
    expect(
      e.sfnMock.commandCalls(StartExecutionCommand).filter((c) => c.args[0].input.name === jobOf(first).jobId),
    ).toHaveLength(1);
  });

  test('409 JobNotFinished while the job has not ended', async () => {
    const e = env();
    const job = await postJob(e, promptJobBody(1));

    const response = await e.request('POST', `/jobs/${job.jobId}/retry`);

    expect(response.status).toBe(409);
    expect(errorOf(response)).toEqual({
      code: 'JobNotFinished',
      message: `job ${job.jobId} is QUEUED: only a job that has ended can be retried`,
    });
  });

  test('409 NoFailedItems for a job none of whose items failed', async () => {
    const e = env();
    const job = await postJob(e, promptJobBody(1));
    await e.store.finishJob(job.jobId, {
      status: 'COMPLETED',
      counts: { total: 1, submitted: 1, succeeded: 1, failed: 0, cancelled: 0 },
      usage: { inputTokens: 0, outputTokens: 0 },
    });

    const response = await e.request('POST', `/jobs/${job.jobId}/retry`);

    expect(response.status).toBe(409);
    expect(errorOf(response)).toEqual({
      code: 'NoFailedItems',
      message: `job ${job.jobId} ended COMPLETED with no FAILED items: there is nothing to retry`,
    });
  });

  test('404 for a job that does not exist', async () => {
    const e = env();

    const response = await e.request('POST', '/jobs/job-nobody/retry');

    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe('JobNotFound');
  });
});
