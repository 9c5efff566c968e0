import { describe, expect, test } from '@jest/globals';
import { INLINE_RESULTS_MAX_BYTES } from '../../tasks/api/jobs-api.js';
import { errorOf, jobOf, postJob, promptJobBody, useApiTestEnv, type ApiTestEnv } from '../support/api.js';
import { TEST_BUCKET, jsonl } from '../support/deps.js';
import type { ItemRecord, LogEntry } from '../../shared/types.js';

const env = useApiTestEnv();

interface ItemsPage {
  items: ItemRecord[];
  nextCursor: string | null;
}

/** A job created through the API whose first items have records, `succeeded` of them SUCCEEDED. */
async function jobWithItems(e: ApiTestEnv, total: number, succeeded: number) {
  const job = await postJob(e, promptJobBody(total));
  for (let index = 0; index < total; index++) {
    const customId = `item-${String(index).padStart(3, '0')}`;
    const placement = { index, batchId: 'batch-0000000' };
    if (index < succeeded)
      await e.store.finishItem(
        job.jobId,
        customId,
        { status: 'SUCCEEDED', result: `answer ${index}` },
        { create: placement },
      );
    else await e.store.claimItem(job.jobId, customId, 60_000, placement); // QUEUED, claimed by a submit task
  }
  return job;
}

/** Ends the job COMPLETED with a results file of `text`. */
async function endWithResults(e: ApiTestEnv, jobId: string, text: string | Buffer) {
  const results = e.objects.resultsLocation(jobId);
  e.s3.objects.set(`${results.bucket}/${results.key}`, Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'));
  await e.store.finishJob(jobId, {
    status: 'COMPLETED',
    counts: { total: 1, submitted: 1, succeeded: 1, failed: 0, cancelled: 0 },
    usage: { inputTokens: 10, outputTokens: 2 },
    results,
  });
}

async function allPages(e: ApiTestEnv, path: string, query: Record<string, string>): Promise<ItemsPage[]> {
  const pages: ItemsPage[] = [];
  let cursor: string | null = null;
  do {
    const response = await e.request('GET', path, { query: { ...query, ...(cursor ? { cursor } : {}) } });
    expect(response.status).toBe(200);
    const page = response.json as ItemsPage;
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 20);
  return pages;
}

describe('GET /jobs/{id}', () => {
  test('the job view: counts, progress, timestamps, execution and links', async () => {
    // Arrange
    const e = env();
    const created = await jobWithItems(e, 3, 1);
    e.clock.advance(60_000);

    // Act
    const response = await e.request('GET', `/jobs/${created.jobId}`);

    // Assert
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    const job = jobOf(response);
    expect(job).toMatchObject({
      jobId: created.jobId,
      status: 'QUEUED',
      counts: { total: 3, succeeded: 1, failed: 0, cancelled: 0 },
      progress: { finished: 1, total: 3, percent: 33.3 },
      createdAt: '2026-03-02T09:00:00.000Z',
      execution: created.execution,
      links: created.links,
    });
  });
});

describe('404', () => {
  test.each([
    ['GET', '/jobs/job-unknown'],
    ['GET', '/jobs/job-unknown/items'],
    ['GET', '/jobs/job-unknown/results'],
    ['GET', '/jobs/job-unknown/logs'],
    ['POST', '/jobs/job-unknown/cancel'],
  ])('%s %s -> 404 JobNotFound', async (method, path) => {
    // Act
    const response = await env().request(method, path);

    // Assert
    expect(response.status).toBe(404);
    expect(errorOf(response)).toEqual({ code: 'JobNotFound', message: 'job job-unknown does not exist' });
  });

  test.each([
    ['GET', '/nothing-here'],
    ['DELETE', '/jobs/job-1'],
    ['GET', '/jobs/job-1/items/extra'],
  ])('%s %s (no such route) -> 404 RouteNotFound', async (method, path) => {
    // Act
    const response = await env().request(method, path);

    // Assert
    expect(response.status).toBe(404);
    expect(errorOf(response)).toEqual({ code: 'RouteNotFound', message: `no route for ${method} ${path}` });
    expect(env().logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });
});

describe('GET /health', () => {
  test('200 ok', async () => {
    // Act
    const response = await env().request('GET', '/health');

    // Assert
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ status: 'ok' });
  });
});

describe('GET /jobs/{id}/items', () => {
  test('pages through every item, each once, whichever shard holds it', async () => {
    // Arrange
    const e = env();
    const job = await jobWithItems(e, 5, 2);

    // Act
    const pages = await allPages(e, `/jobs/${job.jobId}/items`, { limit: '2' });

    // Assert
    const ids = pages.flatMap((page) => page.items.map((item) => item.customId));
    expect(ids).toHaveLength(5);
    expect([...ids].sort()).toEqual(['item-000', 'item-001', 'item-002', 'item-003', 'item-004']);
    for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(2);
    expect(pages.at(-1)?.nextCursor).toBeNull();
  });

  test('?status= keeps only items in that status, across pages', async () => {
    // Arrange
    const e = env();
    const job = await jobWithItems(e, 5, 2);

    // Act
    const succeeded = (await allPages(e, `/jobs/${job.jobId}/items`, { status: 'SUCCEEDED', limit: '1' })).flatMap(
      (page) => page.items,
    );
    const queued = (await allPages(e, `/jobs/${job.jobId}/items`, { status: 'QUEUED' })).flatMap((page) => page.items);

    // Assert
    expect(succeeded.map((item) => [item.customId, item.status, item.result]).sort()).toEqual([
      ['item-000', 'SUCCEEDED', 'answer 0'],
      ['item-001', 'SUCCEEDED', 'answer 1'],
    ]);
    expect(queued.map((item) => item.customId).sort()).toEqual(['item-002', 'item-003', 'item-004']);
  });

  test.each([
    [{ status: 'DONE' }, 'query.status', 'must be one of QUEUED, SUBMITTED, SUCCEEDED, FAILED, CANCELLED'],
    [{ limit: '0' }, 'query.limit', 'must be an integer from 1 to 1000'],
    [{ limit: '1001' }, 'query.limit', 'must be an integer from 1 to 1000'],
    [{ limit: 'ten' }, 'query.limit', 'must be an integer from 1 to 1000'],
    [{ cursor: 'not-a-cursor' }, 'query.cursor', 'cursor is not one this API returned'],
  ])('%o -> 400 at %s', async (query, where, message) => {
    // Arrange
    const e = env();
    const job = await jobWithItems(e, 1, 0);

    // Act
    const response = await e.request('GET', `/jobs/${job.jobId}/items`, { query });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([{ where, message }]);
  });

  test("another job's cursor -> 400 at query.cursor, not a 500", async () => {
    // Arrange
    const e = env();
    const first = await jobWithItems(e, 3, 0);
    const second = await jobWithItems(e, 3, 0);
    const page = (await e.request('GET', `/jobs/${first.jobId}/items`, { query: { limit: '1' } })).json as ItemsPage;

    // Act
    const response = await e.request('GET', `/jobs/${second.jobId}/items`, {
      query: { cursor: page.nextCursor ?? '' },
    });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues?.[0]?.where).toBe('query.cursor');
  });
});

describe('GET /jobs/{id}/logs', () => {
  test("the job's log: creation, then a cancellation request", async () => {
    // Arrange
    const e = env();
    const job = await postJob(e, promptJobBody(2));
    e.clock.advance(1000);
    await e.request('POST', `/jobs/${job.jobId}/cancel`);

    // Act
    const response = await e.request('GET', `/jobs/${job.jobId}/logs`);

    // Assert
    expect(response.status).toBe(200);
    const { logs, nextCursor } = response.json as { logs: LogEntry[]; nextCursor: string | null };
    expect(logs.map((log) => [log.at, log.level, log.message])).toEqual([
      ['2026-03-02T09:00:00.000Z', 'INFO', 'job created with 2 items'],
      ['2026-03-02T09:00:01.000Z', 'INFO', 'cancellation requested'],
    ]);
    expect(logs[0]?.data).toEqual({ jobType: 'prompt', mode: 'responses' });
    expect(nextCursor).toBeNull();
  });
});

describe('GET /jobs/{id}/results', () => {
  test('409 until the job has ended', async () => {
    // Arrange
    const job = await postJob(env(), promptJobBody(1));

    // Act
    const response = await env().request('GET', `/jobs/${job.jobId}/results`);

    // Assert
    expect(response.status).toBe(409);
    expect(errorOf(response)).toEqual({
      code: 'ResultsNotReady',
      message: 'the results file is written when the job ends; the job is QUEUED',
    });
  });

  test('a small results file comes back inline as JSONL', async () => {
    // Arrange
    const e = env();
    const job = await postJob(e, promptJobBody(1));
    const file = jsonl([
      {
        id: 'batch_req_1',
        custom_id: 'item-000',
        response: { status_code: 200, request_id: 'req_1', body: { output_text: 'hi' } },
        error: null,
      },
    ]);
    await endWithResults(e, job.jobId, file);

    // Act
    const response = await e.request('GET', `/jobs/${job.jobId}/results`);

    // Assert
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson');
    expect(response.text).toBe(file);
  });

  test(`a results file of exactly ${INLINE_RESULTS_MAX_BYTES} bytes is still inline`, async () => {
    // Arrange
    const e = env();
    const job = await postJob(e, promptJobBody(1));
    await endWithResults(e, job.jobId, Buffer.alloc(INLINE_RESULTS_MAX_BYTES, 'a'));

    // Act
    const response = await e.request('GET', `/jobs/${job.jobId}/results`);

    // Assert
    expect(response.status).toBe(200);
    expect(response.text).toHaveLength(INLINE_RESULTS_MAX_BYTES);
  });

  test('a larger results file -> 303 to a presigned S3 URL, valid 15 minutes', async () => {
    // Arrange
    const e = env();
    const job = await postJob(e, promptJobBody(1));
    await endWithResults(e, job.jobId, Buffer.alloc(INLINE_RESULTS_MAX_BYTES + 1, 'a'));

    // Act
    const response = await e.request('GET', `/jobs/${job.jobId}/results`);

    // Assert
    expect(response.status).toBe(303);
    expect(response.text).toBe('');
    const url = new URL(response.headers.location ?? '');
    expect(url.hostname).toBe(`${TEST_BUCKET}.s3.us-east-1.amazonaws.com`);
    expect(url.pathname).toBe(`/jobs/${job.jobId}/results.jsonl`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  test('a results file under the size limit whose escaped JSON would overflow the Lambda response -> 303', async () => {
    // Arrange: 4.5 MB of quotes, each escaped as \" in the Lambda's JSON answer (9 MB, past its 6 MB limit)
    const e = env();
    const job = await postJob(e, promptJobBody(1));
    await endWithResults(e, job.jobId, Buffer.alloc(Math.floor(INLINE_RESULTS_MAX_BYTES * 0.9), '"'));

    // Act
    const response = await e.request('GET', `/jobs/${job.jobId}/results`);

    // Assert
    expect(response.status).toBe(303);
    expect(response.headers.location).toContain('X-Amz-Signature=');
  });
});
