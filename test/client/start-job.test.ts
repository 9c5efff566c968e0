import { afterEach, describe, expect, test } from '@jest/globals';
import { EVENT_OVERHEAD_BYTES, fitsInline, LlmBatchClient } from '../../client/index.js';
import { MAX_ITEMS_PER_REQUEST } from '../../shared/limits.js';
import { LAMBDA_EVENT_MAX_BYTES } from '../../tasks/api/request-limits.js';
import { startTestServer, type TestServer } from './test-server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** An API and an "S3" on one test server: POST /uploads points the PUT back at it. */
async function apiWithUploads(): Promise<TestServer> {
  const started = await startTestServer((request) => {
    if (request.url === '/uploads') {
      const { contentLength } = JSON.parse(request.body) as { contentLength: number };
      return {
        status: 201,
        body: {
          key: 'inputs/uploads/u-1/items.jsonl',
          url: `${started.url}/bucket/inputs/uploads/u-1/items.jsonl?X-Amz-Signature=abc`,
          method: 'PUT',
          headers: { 'content-length': String(contentLength), 'content-type': 'application/x-ndjson' },
          maxBytes: 1024 ** 3,
          expiresAt: null,
        },
      };
    }
    if (request.method === 'PUT') return { status: 200, body: '' };
    return { status: 202, body: { jobId: 'job-1', status: 'QUEUED' } };
  });
  return started;
}

describe('startJob: inline when the items fit one request, else uploaded', () => {
  test('the limits: 50,000 items, and the body escaped as a Lambda event with room for headers', () => {
    const body = (bytes: number) => 'x'.repeat(bytes);
    expect(fitsInline(MAX_ITEMS_PER_REQUEST, '{}')).toBe(true);
    expect(fitsInline(MAX_ITEMS_PER_REQUEST + 1, '{}')).toBe(false);
    expect(fitsInline(1, body(LAMBDA_EVENT_MAX_BYTES - EVENT_OVERHEAD_BYTES - 2))).toBe(true);
    expect(fitsInline(1, body(LAMBDA_EVENT_MAX_BYTES - EVENT_OVERHEAD_BYTES - 1))).toBe(false);
    // Quotes take two bytes once escaped.
    expect(fitsInline(1, '"'.repeat((LAMBDA_EVENT_MAX_BYTES - EVENT_OVERHEAD_BYTES) / 2))).toBe(false);
  });

  test('GIVEN 50,001 items WHEN a job is started THEN they are uploaded as JSONL of the announced size and started by key', async () => {
    // GIVEN
    server = await apiWithUploads();
    const client = new LlmBatchClient({ baseUrl: server.url });
    const items = Array.from({ length: MAX_ITEMS_PER_REQUEST + 1 }, (_, i) => ({ id: `i-${i}`, prompt: 'p' }));

    // WHEN
    const { job, upload } = await client.startJob({ jobType: 'prompt', items }, { idempotencyKey: 'k-1' });

    // THEN
    expect(job.jobId).toBe('job-1');
    expect(upload?.key).toBe('inputs/uploads/u-1/items.jsonl');
    const [asked, put, created] = server.received;
    expect(server.received.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([
      'POST /uploads',
      'PUT /bucket/inputs/uploads/u-1/items.jsonl',
      'POST /jobs',
    ]);
    const lines = put?.body.trimEnd().split('\n') ?? [];
    expect(lines).toHaveLength(MAX_ITEMS_PER_REQUEST + 1);
    expect(JSON.parse(lines[0] ?? '')).toEqual({ id: 'i-0', prompt: 'p' });
    expect(JSON.parse(asked?.body ?? '')).toEqual({
      contentLength: Buffer.byteLength(put?.body ?? ''),
      fileName: 'items.jsonl',
    });
    expect(put?.headers['content-length']).toBe(String(Buffer.byteLength(put?.body ?? '')));
    expect(put?.headers['content-type']).toBe('application/x-ndjson');
    expect(JSON.parse(created?.body ?? '')).toEqual({
      jobType: 'prompt',
      input: { key: 'inputs/uploads/u-1/items.jsonl' },
    });
    expect(created?.headers['idempotency-key']).toBe('k-1');
  });

  test('GIVEN a few items WHEN a job is started THEN they go inline, with no upload', async () => {
    server = await apiWithUploads();
    const client = new LlmBatchClient({ baseUrl: server.url });

    const { upload } = await client.startJob({ jobType: 'prompt', items: [{ id: 'a', prompt: 'p' }] });

    expect(upload).toBeUndefined();
    expect(server.received.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /jobs']);
    expect(JSON.parse(server.received[0]?.body ?? '')).toEqual({
      jobType: 'prompt',
      items: [{ id: 'a', prompt: 'p' }],
    });
  });
});
