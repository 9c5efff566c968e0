import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { LlmBatchApiError, LlmBatchClient, type Job } from '../../client/index.js';
import { LocalRuntime } from '../../local/local-stack.js';
import { TEST_MODEL } from '../support/deps.js';

const prompts = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, prompt: `Tell me about ${i}` }));
const OPTIONS = { model: TEST_MODEL, batchSize: 5, maxConcurrency: 4 };

/** The client against the local HTTP API, served in process: every route, with no auth (http). */
describe('LlmBatchClient against the local API', () => {
  let runtime: LocalRuntime;
  let client: LlmBatchClient;

  beforeAll(async () => {
    runtime = await LocalRuntime.start({ timeScale: 100, apiPort: 0, mock: { latencyMs: 200, seed: 3 } });
    client = new LlmBatchClient({ baseUrl: runtime.apiUrl ?? '' });
  });
  afterAll(async () => {
    await runtime.stop();
  });

  async function ended(jobId: string): Promise<Job> {
    for (;;) {
      const job = await client.getJob(jobId);
      if (!['QUEUED', 'RUNNING'].includes(job.status)) return job;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  test('GIVEN an http URL WHEN no auth is given THEN none is used, and /health answers', async () => {
    expect(client.authKind).toBe('none');
    await expect(client.health()).resolves.toEqual({ status: 'ok' });
  });

  test('GIVEN items inline WHEN the job is started, watched and read THEN every read route answers', async () => {
    // WHEN
    const { job, upload } = await client.startJob({ jobType: 'prompt', options: OPTIONS, items: prompts(12, 'a') });
    const done = await ended(job.jobId);
    const items = await client.listItems(job.jobId, { limit: 5 });
    const failed = await client.listItems(job.jobId, { status: 'FAILED' });
    const logs = await client.listLogs(job.jobId);
    const jobs = await client.listJobs({ limit: 10 });
    const results = await client.getResults(job.jobId);

    // THEN
    expect(upload).toBeUndefined();
    expect(done).toMatchObject({ jobId: job.jobId, status: 'COMPLETED', counts: { total: 12, succeeded: 12 } });
    expect(items.items).toHaveLength(5);
    expect(items.nextCursor).toEqual(expect.any(String));
    const next = await client.listItems(job.jobId, { limit: 10, cursor: items.nextCursor ?? '' });
    expect([...items.items, ...next.items].map((item) => item.customId).sort()).toEqual(
      prompts(12, 'a')
        .map((p) => p.id)
        .sort(),
    );
    expect(failed.items).toEqual([]);
    expect(logs.items.map((entry) => entry.message)).toContain('job created with 12 items');
    expect(jobs.items.map((j) => j.jobId)).toContain(job.jobId);
    const lines = results
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { custom_id: string });
    expect(lines.map((line) => line.custom_id).sort()).toEqual(
      prompts(12, 'a')
        .map((p) => p.id)
        .sort(),
    );
  });

  test('GIVEN a JSONL upload WHEN the job starts from its key THEN it runs the uploaded items', async () => {
    // GIVEN
    const jsonl = prompts(6, 'u')
      .map((line) => JSON.stringify(line))
      .join('\n');
    const upload = await client.uploadJsonl(jsonl, 'six.jsonl');

    // WHEN
    const job = await client.createJob({ jobType: 'prompt', options: OPTIONS, input: { key: upload.key } });

    // THEN
    expect(upload.key).toMatch(/^inputs\/uploads\/[0-9a-f-]{36}\/six\.jsonl$/);
    expect(await ended(job.jobId)).toMatchObject({ status: 'COMPLETED', counts: { total: 6, succeeded: 6 } });
  });

  test('GIVEN the same Idempotency-Key twice WHEN the job is created THEN one job answers both', async () => {
    const body = { jobType: 'prompt', options: OPTIONS, items: prompts(2, 'i') };
    const first = await client.createJob(body, { idempotencyKey: 'client-test-key' });
    const second = await client.createJob(body, { idempotencyKey: 'client-test-key' });
    expect(second.jobId).toBe(first.jobId);
    await ended(first.jobId);
  });

  test('GIVEN error answers WHEN the client calls THEN it throws LlmBatchApiError with the status and the API message', async () => {
    // WHEN
    const missing = await client.getJob('job-nobody').catch((error: unknown) => error);
    const tooLarge = await client.createUpload({ contentLength: 2 * 1024 ** 3 }).catch((error: unknown) => error);
    const badName = await client.createUpload({ contentLength: 10, fileName: '../x' }).catch((error: unknown) => error);

    // THEN
    expect(missing).toBeInstanceOf(LlmBatchApiError);
    expect(missing).toMatchObject({
      name: 'LlmBatchApiError',
      status: 404,
      code: 'JobNotFound',
      message: `GET ${runtime.apiUrl}/jobs/job-nobody answered 404: JobNotFound: job job-nobody does not exist`,
    });
    expect(JSON.parse((missing as LlmBatchApiError).body)).toMatchObject({ error: { code: 'JobNotFound' } });
    expect(tooLarge).toMatchObject({
      status: 400,
      issues: [{ where: 'contentLength', message: 'is 2147483648 bytes; an upload takes at most 1073741824 bytes' }],
    });
    expect(badName).toMatchObject({ status: 400, issues: [{ where: 'fileName' }] });
  });

  test('GIVEN an ended job WHEN it is cancelled THEN 409 JobAlreadyEnded, as LlmBatchApiError', async () => {
    const { job } = await client.startJob({ jobType: 'prompt', options: OPTIONS, items: prompts(3, 'c') });
    const final = await ended(job.jobId);

    await expect(client.cancelJob(final.jobId)).rejects.toMatchObject({
      name: 'LlmBatchApiError',
      status: 409,
      code: 'JobAlreadyEnded',
    });
  });
});
