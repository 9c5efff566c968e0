import { describe, expect, test } from '@jest/globals';
import type { JobStatus } from '../../shared/types.js';
import { errorOf, postJob, promptJobBody, useApiTestEnv, type ApiTestEnv, type JobView } from '../support/api.js';

// The table is shared by the tests of this file: each test moves its clock a year further on,
// so its own jobs are the newest, and keeps to its own jobs when it follows every cursor.
const env = useApiTestEnv();
const YEAR_MS = 365 * 86_400_000;
let year = 0;

interface JobsPage {
  jobs: JobView[];
  nextCursor: string | null;
}

/** Creates `count` jobs a minute apart, in a year no earlier test used; returns their ids, oldest first. */
async function jobsAMinuteApart(e: ApiTestEnv, count: number): Promise<string[]> {
  e.clock.advance(++year * YEAR_MS);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await postJob(e, promptJobBody(1))).jobId);
    e.clock.advance(60_000);
  }
  return ids;
}

async function listPage(e: ApiTestEnv, query: Record<string, string>): Promise<JobsPage> {
  const response = await e.request('GET', '/jobs', { query });
  expect(response.status).toBe(200);
  return response.json as JobsPage;
}

async function listAll(e: ApiTestEnv, query: Record<string, string>): Promise<JobsPage[]> {
  const pages: JobsPage[] = [];
  let cursor: string | null = null;
  do {
    const page = await listPage(e, { ...query, ...(cursor ? { cursor } : {}) });
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 50);
  return pages;
}

async function end(e: ApiTestEnv, jobId: string, status: JobStatus) {
  await e.store.finishJob(jobId, {
    status,
    counts: { total: 1, submitted: 1, succeeded: 1, failed: 0, cancelled: 0 },
    usage: { inputTokens: 1, outputTokens: 1 },
  });
}

describe('GET /jobs', () => {
  test('newest first, in pages: two pages of two, no job on both', async () => {
    // Arrange
    const e = env();
    const [oldest, middle, newer, newest] = await jobsAMinuteApart(e, 4);

    // Act
    const first = await listPage(e, { limit: '2' });
    const second = await listPage(e, { limit: '2', cursor: first.nextCursor ?? '' });

    // Assert
    expect(first.jobs.map((job) => job.jobId)).toEqual([newest, newer]);
    expect(second.jobs.map((job) => job.jobId)).toEqual([middle, oldest]);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(first.jobs[0]).toMatchObject({
      status: 'QUEUED',
      progress: { total: 1 },
      links: { self: `/jobs/${newest}` },
    });
    expect(first.jobs[0]).not.toHaveProperty('requestHash');
  });

  test('?status= lists only jobs in that status, newest first, across pages', async () => {
    // Arrange
    const e = env();
    const [a, b, c, d, f] = await jobsAMinuteApart(e, 5);
    if (!a || !b || !c || !d || !f) throw new Error('missing jobs');
    await end(e, b, 'COMPLETED');
    await end(e, d, 'COMPLETED');
    await end(e, f, 'FAILED');

    // Act: small pages, so the filter runs over several (DynamoDB filters after the limit)
    const pages = await listAll(e, { status: 'COMPLETED', limit: '2' });

    // Assert
    const listed = pages.flatMap((page) => page.jobs);
    expect(listed.every((job) => job.status === 'COMPLETED')).toBe(true);
    const ours = listed.map((job) => job.jobId).filter((id) => [a, b, c, d, f].includes(id));
    expect(ours).toEqual([d, b]);
    expect(new Set(listed.map((job) => job.jobId)).size).toBe(listed.length);
  });

  test.each([
    [
      { status: 'DONE' },
      'query.status',
      'must be one of QUEUED, RUNNING, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELLED',
    ],
    [{ limit: '-1' }, 'query.limit', 'must be an integer from 1 to 1000'],
    [{ limit: '2.5' }, 'query.limit', 'must be an integer from 1 to 1000'],
    [{ cursor: '%%%' }, 'query.cursor', 'cursor is not one this API returned'],
  ])('%o -> 400 at %s', async (query, where, message) => {
    // Act
    const response = await env().request('GET', '/jobs', { query });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([{ where, message }]);
  });
});
