import { RateLimitError } from 'openai';
import { describe, expect, test } from '@jest/globals';
import { RateLimitedError } from '../../shared/errors.js';
import { idempotencyHeaderValue } from '../../shared/provider/openai-client.js';
import { OpenAIProvider, createOpenAIClient } from '../../shared/provider/openai-provider.js';
import {
  parseDurationMs,
  readRateLimitHeaders,
  type ProviderAnswer,
} from '../../shared/provider/rate-limit-headers.js';
import type { ProviderRequest } from '../../shared/types.js';
import { FakeOpenAI } from './fake-openai.js';

const REQUEST: ProviderRequest = {
  custom_id: 'item-1',
  method: 'POST',
  url: '/v1/responses',
  body: { model: 'gpt-5-mini', input: 'hi' },
};

const LIMIT_HEADERS = {
  'x-ratelimit-limit-requests': '5000',
  'x-ratelimit-remaining-requests': '4999',
  'x-ratelimit-reset-requests': '12ms',
  'x-ratelimit-limit-tokens': '4000000',
  'x-ratelimit-remaining-tokens': '3999800',
  'x-ratelimit-reset-tokens': '6m0s',
};

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

describe('x-ratelimit-* headers', () => {
  test.each([
    ['120ms', 120],
    ['1s', 1000],
    ['1.5s', 1500],
    ['6m0s', 360_000],
    ['1h2m3.5s', 3_723_500],
    ['17', 17_000],
    ['', undefined],
    ['soon', undefined],
    ['5s later', undefined],
  ])('reads the duration %j', (text, expected) => {
    // Act / Assert
    expect(parseDurationMs(text)).toBe(expected);
  });

  test('reads limits, what remains, resets and retry-after; leaves out what is absent', () => {
    // Act
    const full = readRateLimitHeaders(new Headers({ ...LIMIT_HEADERS, 'retry-after-ms': '250' }));
    const bare = readRateLimitHeaders(new Headers({ 'x-ratelimit-limit-requests': 'lots' }));

    // Assert
    expect(full).toEqual({
      limitRequests: 5000,
      remainingRequests: 4999,
      resetRequestsMs: 12,
      limitTokens: 4_000_000,
      remainingTokens: 3_999_800,
      resetTokensMs: 360_000,
      retryAfterMs: 250,
    });
    expect(bare).toEqual({});
  });
});

describe('the OpenAI client shows every answer to the observer', () => {
  test('a created response: status, path and the limits', async () => {
    // Arrange
    const answers: ProviderAnswer[] = [];
    const client = createOpenAIClient({
      apiKey: 'sk-test',
      baseURL: 'http://provider.test/v1',
      maxRetries: 0,
      onAnswer: (answer) => answers.push(answer),
      fetch: () =>
        Promise.resolve(json({ id: 'resp_1', object: 'response', status: 'queued', output: [] }, 200, LIMIT_HEADERS)),
    });

    // Act
    await new OpenAIProvider({ client }).submitRequest(REQUEST, 'job-1:item-1');

    // Assert
    expect(answers).toEqual([
      {
        status: 200,
        method: 'POST',
        path: '/v1/responses',
        rateLimit: expect.objectContaining({
          limitRequests: 5000,
          remainingRequests: 4999,
          limitTokens: 4_000_000,
        }) as unknown,
      },
    ]);
  });

  test('a 429 on a create is not retried by the SDK: the observer sees it once and the call fails with its retry-after', async () => {
    // Arrange: the client retries twice, but the provider's creates do not
    const answers: ProviderAnswer[] = [];
    let requests = 0;
    const client = createOpenAIClient({
      apiKey: 'sk-test',
      baseURL: 'http://provider.test/v1',
      maxRetries: 2,
      onAnswer: (answer) => answers.push(answer),
      fetch: () => {
        requests++;
        return Promise.resolve(
          json(
            { error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } },
            429,
            {
              ...LIMIT_HEADERS,
              'x-ratelimit-remaining-requests': '0',
              'retry-after-ms': '1500',
            },
          ),
        );
      },
    });
    const provider = new OpenAIProvider({ client, createMaxRetries: 0 });

    // Act
    const call = provider.submitRequest(REQUEST, 'job-1:item-1');

    // Assert
    await expect(call).rejects.toBeInstanceOf(RateLimitedError);
    await expect(call).rejects.toMatchObject({ retryAfterMs: 1500 });
    expect(requests).toBe(1);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ status: 429, rateLimit: { remainingRequests: 0, retryAfterMs: 1500 } });
  });

  test('an observer that throws does not fail the call', async () => {
    // Arrange
    const client = createOpenAIClient({
      apiKey: 'sk-test',
      baseURL: 'http://provider.test/v1',
      maxRetries: 0,
      onAnswer: () => {
        throw new Error('observer bug');
      },
      fetch: () => Promise.resolve(json({ id: 'resp_1', object: 'response', status: 'queued', output: [] })),
    });

    // Act
    const progress = await new OpenAIProvider({ client }).submitRequest(REQUEST, 'key');

    // Assert
    expect(progress).toMatchObject({ done: false, providerId: 'resp_1' });
  });
});

describe('create calls of the rate-limited provider', () => {
  test('pass maxRetries: 0 on responses, chat completions and batches when asked', async () => {
    // Arrange
    const fake = new FakeOpenAI();
    const provider = new OpenAIProvider({ client: fake, createMaxRetries: 0 });

    // Act
    await provider.submitRequest(REQUEST, 'k1');
    await provider.submitRequest(
      { ...REQUEST, url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } },
      'k2',
    );
    await provider.submitBatch([REQUEST], { jobId: 'job-1', batchId: 'batch-1' });

    // Assert
    const [[, responseOptions]] = fake.callsOf('responses.create') as [[unknown, unknown]];
    const [[, chatOptions]] = fake.callsOf('chat.completions.create') as [[unknown, unknown]];
    const [[, batchOptions]] = fake.callsOf('batches.create') as [[unknown, unknown]];
    expect(responseOptions).toMatchObject({ maxRetries: 0, idempotencyKey: idempotencyHeaderValue('k1') });
    expect(chatOptions).toMatchObject({ maxRetries: 0 });
    expect(batchOptions).toEqual({ maxRetries: 0 });
  });

  test('a batch whose creation was rate limited is created on the retry from the file already uploaded', async () => {
    // Arrange
    const fake = new FakeOpenAI();
    const provider = new OpenAIProvider({ client: fake });
    const metadata = { jobId: 'job-1', batchId: 'batch-1' };
    fake.failNext(
      'batches.create',
      new RateLimitError(429, { message: 'slow down' }, 'slow down', new Headers({ 'retry-after-ms': '10' })),
    );

    // Act
    await expect(provider.submitBatch([REQUEST], metadata)).rejects.toBeInstanceOf(RateLimitedError);
    const { providerBatchId } = await provider.submitBatch([REQUEST], metadata);
    await provider.submitBatch([REQUEST], metadata); // created: a new submit uploads again

    // Assert
    expect(fake.callsOf('files.create')).toHaveLength(2);
    const [first, second] = fake.callsOf('batches.create') as [
      [{ input_file_id: string }],
      [{ input_file_id: string }],
    ];
    expect(second[0].input_file_id).toBe(first[0].input_file_id);
    expect(fake.storedBatches.get(providerBatchId)?.input_file_id).toBe(first[0].input_file_id);
  });
});
