import OpenAI from 'openai';
import { describe, expect, test } from '@jest/globals';
import { OpenAIProvider, createOpenAIClient } from '../../shared/provider/openai-provider.js';
import { FakeOpenAI } from './fake-openai.js';
import { doneResult, finishedBatch, jsonl, outputLine, responsesRequest } from './provider-fixtures.js';

describe('OpenAIProvider: both modes on one client', () => {
  test('hands its options to both modes', async () => {
    // GIVEN a provider whose creating calls get no SDK retries and whose batch search stops at 1
    const fake = new FakeOpenAI();
    const provider = new OpenAIProvider({ client: fake, createMaxRetries: 0, maxBatchesToScan: 1 });
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-1' } });

    // WHEN it submits in each mode, then searches for b-1, now behind the newest batch (b-2)
    await provider.submitRequest(responsesRequest(), 'job-1:item-1:0');
    await provider.submitBatch([responsesRequest()], { jobId: 'job-1', batchId: 'b-2' });
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-1' });

    // THEN both creating calls went without retries, and the search gave up after one batch
    const [[, responseOptions]] = fake.callsOf('responses.create') as [[unknown, unknown]];
    const [[, batchOptions]] = fake.callsOf('batches.create') as [[unknown, unknown]];
    expect(responseOptions).toMatchObject({ maxRetries: 0 });
    expect(batchOptions).toEqual({ maxRetries: 0 });
    expect(found).toBeUndefined();
  });
});

describe('the real SDK client', () => {
  function clientOver(answer: (request: Request) => Response, seen: Request[]): OpenAI {
    return new OpenAI({
      apiKey: 'sk-test',
      baseURL: 'http://provider.test/v1',
      maxRetries: 0,
      fetch: (input: string | URL | Request, init?: RequestInit) => {
        const request = new Request(input, init);
        seen.push(request);
        return Promise.resolve(answer(request));
      },
    });
  }

  function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', 'x-request-id': 'req_abc', ...extra },
    });
  }

  test('createOpenAIClient returns a client the provider accepts, configured as asked', () => {
    // Act
    const client = createOpenAIClient({
      apiKey: 'sk-test',
      baseURL: 'http://provider.test/v1',
      maxRetries: 1,
      timeoutMs: 5000,
    });
    const built = new OpenAIProvider({ client });

    // Assert
    expect(built).toBeInstanceOf(OpenAIProvider);
    expect(client.baseURL).toBe('http://provider.test/v1');
    expect(client.maxRetries).toBe(1);
    expect(client.timeout).toBe(5000);
  });

  test('sends the Idempotency-Key header and reports the x-request-id', async () => {
    // Arrange
    const seen: Request[] = [];
    const client = clientOver(() => json({ id: 'resp_9', object: 'response', status: 'completed', output: [] }), seen);
    const real = new OpenAIProvider({ client });

    // Act
    const finished = doneResult(await real.submitRequest(responsesRequest(), 'job-1:item-1:0'));

    // Assert
    // sha256('job-1:item-1:0'): a header carries only Latin-1, and ids are any Unicode.
    expect(seen[0]?.headers.get('idempotency-key')).toBe(
      'fa0a2375f95752e237a693457c84e9b47be73fad104b4582509b48e0bceeaad6',
    );
    expect(finished.output.response?.request_id).toBe('req_abc');
  });

  test('a 429 answer becomes a RateLimitedError with retryAfterMs', async () => {
    // Arrange
    const client = clientOver(
      () =>
        json({ error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } }, 429, {
          'retry-after-ms': '1500',
        }),
      [],
    );
    const real = new OpenAIProvider({ client });

    // Act
    const polling = real.pollRequest('resp_1', 'item-1');

    // Assert
    await expect(polling).rejects.toMatchObject({ name: 'RateLimitedError', retryAfterMs: 1500 });
  });

  test('downloads batch output files and pages through batches', async () => {
    // Arrange
    const client = clientOver((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/v1/batches/batch_1') {
        return json({ id: 'batch_1', object: 'batch', status: 'completed', output_file_id: 'file-out' });
      }
      if (path === '/v1/files/file-out/content') {
        return new Response(jsonl([outputLine('a')]), { status: 200 });
      }
      if (path === '/v1/batches') {
        const after = new URL(request.url).searchParams.get('after');
        const page =
          after === null
            ? { data: [{ id: 'batch_2', metadata: {} }], has_more: true, last_id: 'batch_2' }
            : {
                data: [{ id: 'batch_1', metadata: { llm_batch_job_id: 'j', llm_batch_batch_id: 'b' } }],
                has_more: false,
              };
        return json({ object: 'list', ...page });
      }
      return json({ error: { message: `no route ${path}` } }, 404);
    }, []);
    const real = new OpenAIProvider({ client });

    // Act
    const finished = finishedBatch(await real.pollBatch('batch_1'));
    const found = await real.findBatch({ jobId: 'j', batchId: 'b' });

    // Assert
    expect(finished.results.get('a')?.outcome).toBe('succeeded');
    expect(found).toBe('batch_1');
  });
});
