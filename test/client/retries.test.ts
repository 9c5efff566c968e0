import { afterEach, describe, expect, test } from '@jest/globals';
import { LlmBatchApiError, LlmBatchClient } from '../../client/index.js';
import type { Clock } from '../../shared/clock.js';
import { startTestServer, type Answer, type TestServer } from './test-server.js';

const NOW = new Date('2026-12-03T10:00:00.000Z');
const JOB = { jobId: 'job-1', status: 'QUEUED' };

/** A clock that records the waits asked of it and returns at once. */
function recordingClock(): Clock & { waits: number[] } {
  const waits: number[] = [];
  return { waits, now: () => NOW, sleep: (ms) => (waits.push(ms), Promise.resolve()) };
}

/** A server that answers with `script` in order, then 202 with the job. */
function scripted(script: Answer[]): Promise<TestServer> {
  let next = 0;
  return startTestServer(() => script[next++] ?? { status: 202, body: JOB });
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('retries of 429 and 5xx', () => {
  test('GIVEN 429 with Retry-After, 503 without, then 202 WHEN a job is created THEN it waits as told and reuses the Idempotency-Key', async () => {
    // GIVEN
    server = await scripted([
      { status: 429, headers: { 'retry-after': '3' }, body: { message: 'Too Many Requests' } },
      { status: 503, body: { error: { code: 'StartFailed', message: 'repeat with the same Idempotency-Key' } } },
    ]);
    const clock = recordingClock();
    const client = new LlmBatchClient({ baseUrl: server.url, clock, random: () => 0.5, retry: { baseDelayMs: 1000 } });

    // WHEN
    const job = await client.createJob({ jobType: 'prompt', items: [{ id: 'a', prompt: 'x' }] });

    // THEN Retry-After is honoured; the second wait is full jitter over 2 x 1000 ms (random 0.5)
    expect(job).toEqual(JOB);
    expect(clock.waits).toEqual([3000, 1000]);
    const keys = server.received.map((request) => request.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(server.received.map((request) => request.body)).size).toBe(1);
  });

  test('GIVEN Retry-After as an HTTP date WHEN throttled THEN it waits until that date', async () => {
    server = await scripted([{ status: 429, headers: { 'retry-after': 'Thu, 03 Dec 2026 10:00:05 GMT' } }]);
    const clock = recordingClock();
    const client = new LlmBatchClient({ baseUrl: server.url, clock });

    await client.getJob('job-1');

    expect(clock.waits).toEqual([5000]);
  });

  test('GIVEN jitter WHEN backing off THEN each wait is random within a ceiling that doubles up to the cap', async () => {
    server = await scripted(Array.from({ length: 4 }, () => ({ status: 500 })));
    const clock = recordingClock();
    const client = new LlmBatchClient({
      baseUrl: server.url,
      clock,
      random: () => 0.999,
      retry: { baseDelayMs: 100, maxDelayMs: 500 },
    });

    await client.getJob('job-1');

    expect(clock.waits).toEqual([99, 199, 399, 499]);
  });

  test('GIVEN 5xx on every attempt WHEN the attempts run out THEN LlmBatchApiError carries the last status and body', async () => {
    server = await scripted(
      Array.from({ length: 10 }, () => ({ status: 502, body: { message: 'Internal Server Error' } })),
    );
    const clock = recordingClock();
    const client = new LlmBatchClient({ baseUrl: server.url, clock, retry: { maxAttempts: 3 } });

    const error = await client.getJob('job-1').catch((caught: unknown) => caught);

    expect(server.received).toHaveLength(3);
    expect(clock.waits).toHaveLength(2);
    expect(error).toBeInstanceOf(LlmBatchApiError);
    expect(error).toMatchObject({
      name: 'LlmBatchApiError',
      status: 502,
      message: `GET ${server.url}/jobs/job-1 answered 502: Internal Server Error`,
      body: '{"message":"Internal Server Error"}',
    });
  });

  test('GIVEN a 4xx or a Retry-After past the limit WHEN answered THEN nothing is retried', async () => {
    server = await scripted([
      { status: 409, body: { error: { code: 'IdempotencyKeyReused', message: 'another body' } } },
      { status: 429, headers: { 'retry-after': '3600' } },
    ]);
    const clock = recordingClock();
    const client = new LlmBatchClient({ baseUrl: server.url, clock });

    await expect(client.createJob({ jobType: 'prompt', items: [] })).rejects.toMatchObject({
      status: 409,
      code: 'IdempotencyKeyReused',
    });
    await expect(client.getJob('job-1')).rejects.toMatchObject({ status: 429 });
    expect(server.received).toHaveLength(2);
    expect(clock.waits).toEqual([]);
  });
});
