import OpenAI, { InternalServerError, toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { Clock } from '../../shared/clock.js';
import { startMockProvider, type MockProvider } from '../../local/mock-provider/server.js';
import type { MockProviderOptions } from '../../local/mock-provider/options.js';
import { createsKey } from '../../local/mock-provider/stats.js';
import { idempotencyHeaderValue } from '../../shared/provider/openai-client.js';
import { OpenAIProvider, createOpenAIClient } from '../../shared/provider/openai-provider.js';
import type { OutputLine, ProviderRequest } from '../../shared/types.js';

/**
 * The knobs that make the mock a hostile provider (issue 11), on a clock moved by hand: every
 * status is read at an instant the test sets, so nothing depends on how fast the machine is.
 */

const MODEL = 'gpt-5-mini';
const DURATION_MS = 10_000;

/** A clock that stands still until the test moves it. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = Date.parse('2026-12-01T00:00:00.000Z');
  return {
    now: () => new Date(now),
    sleep: () => Promise.resolve(),
    timeScale: 1,
    advance(ms: number) {
      now += ms;
    },
  };
}

const started: MockProvider[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((mock) => mock.close()));
});

async function mockWith(options: Partial<MockProviderOptions>) {
  const clock = manualClock();
  const mock = await startMockProvider({ latencyMs: 0, batchDurationMs: DURATION_MS, seed: 7, ...options, clock });
  started.push(mock);
  const client = new OpenAI({ apiKey: 'mock', baseURL: mock.url, fetch: mock.fetch, maxRetries: 0 });
  return { mock, clock, client };
}

/** `count` lines of `chars` characters of input each (chars / 4 input tokens). */
function lines(count: number, prefix: string, chars = 400): ProviderRequest[] {
  return Array.from({ length: count }, (_, index) => ({
    custom_id: `${prefix}-${index}`,
    method: 'POST' as const,
    url: '/v1/responses' as const,
    body: { model: MODEL, input: `${prefix} ${index} `.padEnd(chars, 'x') },
  }));
}

async function createBatch(client: OpenAI, requests: ProviderRequest[]): Promise<Batch> {
  const jsonl = requests.map((request) => JSON.stringify(request)).join('\n') + '\n';
  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl), 'input.jsonl', { type: 'application/jsonl' }),
    purpose: 'batch',
  });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/responses', completion_window: '24h' });
}

async function readLines(client: OpenAI, fileId: string | null | undefined): Promise<OutputLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OutputLine);
}

describe('--mock-batch-queue-tokens (batchQueueTokens)', () => {
  test('a batch past the enqueued-token limit fails after validating with token_limit_exceeded; room comes back as batches end', async () => {
    // Arrange: 10 lines of 100 input tokens = 1,000 tokens a batch; the limit fits two.
    const { clock, client } = await mockWith({ batchQueueTokens: 2_500 });
    const first = await createBatch(client, lines(10, 'a'));
    const second = await createBatch(client, lines(10, 'b'));

    // Act
    const third = await createBatch(client, lines(10, 'c'));
    const thirdWhileValidating = await client.batches.retrieve(third.id);
    clock.advance(DURATION_MS * 0.1);
    const thirdRefused = await client.batches.retrieve(third.id);
    clock.advance(DURATION_MS);
    const firstDone = await client.batches.retrieve(first.id);
    const fourth = await createBatch(client, lines(10, 'd'));
    clock.advance(DURATION_MS * 0.1);
    const fourthRunning = await client.batches.retrieve(fourth.id);

    // Assert
    expect(third.status).toBe('validating');
    expect(thirdWhileValidating.status).toBe('validating');
    expect(thirdRefused.status).toBe('failed');
    expect(thirdRefused.errors?.data).toEqual([
      {
        code: 'token_limit_exceeded',
        message:
          `Enqueued token limit reached for ${MODEL} in organization org-mock. Limit: 2,500 enqueued tokens. ` +
          'Please try submitting fewer tasks or wait for previous ones to finish.',
        param: null,
        line: null,
      },
    ]);
    expect(thirdRefused.request_counts).toMatchObject({ total: 0, completed: 0, failed: 0 });
    expect(thirdRefused.output_file_id).toBeNull();
    expect((await client.batches.retrieve(second.id)).status).toBe('completed');
    expect(firstDone.status).toBe('completed');
    expect(fourthRunning.status).toBe('in_progress');
  });

  test('the limit is per model, and a refused batch holds no room', async () => {
    // Arrange
    const { clock, client } = await mockWith({ batchQueueTokens: 1_500 });
    const otherModel = lines(10, 'o').map((request) => ({ ...request, body: { ...request.body, model: 'gpt-4o' } }));
    await createBatch(client, lines(10, 'a'));

    // Act
    const refused = await createBatch(client, lines(10, 'b'));
    const small = await createBatch(client, lines(2, 'c'));
    const elsewhere = await createBatch(client, otherModel);
    clock.advance(DURATION_MS * 0.2);

    // Assert
    expect((await client.batches.retrieve(refused.id)).status).toBe('failed');
    expect((await client.batches.retrieve(small.id)).status).toBe('in_progress');
    expect((await client.batches.retrieve(elsewhere.id)).status).toBe('in_progress');
  });

  test('0 (the default) is no limit', async () => {
    const { clock, client } = await mockWith({});
    const batches = [];
    for (let index = 0; index < 5; index += 1) batches.push(await createBatch(client, lines(50, `n${index}`, 4_000)));
    clock.advance(DURATION_MS * 0.2);
    for (const batch of batches) expect((await client.batches.retrieve(batch.id)).status).toBe('in_progress');
  });
});

describe('--mock-batch-expire-rate (batchExpireRate)', () => {
  async function runBatches(rate: number, seed: number) {
    const { clock, client } = await mockWith({ batchExpireRate: rate, seed });
    const created = [];
    for (let index = 0; index < 20; index += 1) created.push(await createBatch(client, lines(20, `e${index}`)));
    clock.advance(DURATION_MS);
    return Promise.all(created.map((batch) => client.batches.retrieve(batch.id))).then((done) => ({ done, client }));
  }

  test('that share of batches expires half way: finished lines in the output file, the rest batch_expired', async () => {
    // Arrange / Act
    const { done, client } = await runBatches(0.3, 11);
    const expired = done.filter((batch) => batch.status === 'expired');
    const sample = expired[0] as Batch;
    const output = await readLines(client, sample.output_file_id);
    const errors = await readLines(client, sample.error_file_id);

    // Assert
    expect(expired.length).toBeGreaterThanOrEqual(2);
    expect(expired.length).toBeLessThanOrEqual(10);
    expect(done.filter((batch) => batch.status === 'completed').length).toBe(20 - expired.length);
    expect(sample.expired_at).not.toBeNull();
    expect(output.length).toBeGreaterThan(0);
    expect(output.length).toBe(sample.request_counts?.completed);
    expect(errors.length).toBe(20 - output.length);
    expect(errors.every((line) => line.response === null && line.error?.code === 'batch_expired')).toBe(true);
    expect(new Set([...output, ...errors].map((line) => line.custom_id)).size).toBe(20);
  });

  test('the seed decides which batches expire: the same seed twice, the same ones; rate 0: none', async () => {
    const first = (await runBatches(0.3, 11)).done.map((batch) => batch.status);
    const again = (await runBatches(0.3, 11)).done.map((batch) => batch.status);
    const none = (await runBatches(0, 11)).done.map((batch) => batch.status);
    expect(again).toEqual(first);
    expect(none.every((status) => status === 'completed')).toBe(true);
  });
});

describe('--mock-batch-duration-ms (batchDurationMs)', () => {
  test('a batch validates for a tenth of its duration, finalizes in the last tenth and completes at its end', async () => {
    const { clock, client } = await mockWith({ batchDurationMs: 3_600_000 });
    const batch = await createBatch(client, lines(5, 'd'));
    const at = async (ms: number) => {
      clock.advance(ms);
      return (await client.batches.retrieve(batch.id)).status;
    };
    expect(await at(359_000)).toBe('validating');
    expect(await at(2_000)).toBe('in_progress');
    expect(await at(2_880_000)).toBe('finalizing');
    expect(await at(358_000)).toBe('finalizing');
    expect(await at(1_000)).toBe('completed');
  });
});

describe('--mock-transient-error-rate on batch lines and background responses', () => {
  test('batch lines fail with 500/503 server errors per attempt: the same lines sent again can succeed', async () => {
    // Arrange
    const { clock, client } = await mockWith({ transientErrorRate: 0.3 });
    const requests = lines(100, 't');
    const first = await createBatch(client, requests);
    clock.advance(DURATION_MS);
    const firstDone = await client.batches.retrieve(first.id);
    const failed = await readLines(client, firstDone.error_file_id);
    const failedIds = new Set(failed.map((line) => line.custom_id));

    // Act
    const resent = await createBatch(
      client,
      requests.filter((request) => failedIds.has(request.custom_id)),
    );
    clock.advance(DURATION_MS);
    const resentDone = await client.batches.retrieve(resent.id);

    // Assert
    expect(firstDone.status).toBe('completed');
    expect(failed.length).toBeGreaterThan(10);
    expect(failed.length).toBeLessThan(50);
    for (const line of failed) {
      expect([500, 503]).toContain(line.response?.status_code);
      expect(line.response?.body).toMatchObject({ error: { type: 'server_error' } });
    }
    expect(resentDone.request_counts?.completed).toBeGreaterThan(0);
    expect(resentDone.request_counts?.completed).toBeLessThanOrEqual(failed.length);
  });

  test('background responses end failed with server_error per attempt; sent again they can complete', async () => {
    // Arrange
    const { clock, client } = await mockWith({ transientErrorRate: 0.3, latencyMs: 1_000, latencySpread: 0 });
    const create = async (input: string): Promise<string> => {
      for (;;) {
        try {
          return (await client.responses.create({ model: MODEL, input, background: true })).id;
        } catch (error) {
          if (!(error instanceof InternalServerError)) throw error;
        }
      }
    };
    const inputs = Array.from({ length: 60 }, (_, index) => `question ${index}`);
    const ids = [];
    for (const input of inputs) ids.push(await create(input));
    clock.advance(1_000);

    // Act
    const ended = await Promise.all(ids.map((id) => client.responses.retrieve(id)));
    const failedInputs = inputs.filter((_, index) => ended[index]?.status === 'failed');
    const retried = [];
    for (const input of failedInputs) retried.push(await create(input));
    clock.advance(1_000);
    const retriedEnded = await Promise.all(retried.map((id) => client.responses.retrieve(id)));

    // Assert
    const failed = ended.filter((response) => response.status === 'failed');
    expect(failed.length).toBeGreaterThan(5);
    expect(ended.filter((response) => response.status === 'completed').length).toBe(60 - failed.length);
    expect(failed[0]?.error).toMatchObject({ code: 'server_error' });
    expect(failed[0]?.output).toEqual([]);
    expect(failed[0]?.usage).toBeNull();
    expect(retriedEnded.some((response) => response.status === 'completed')).toBe(true);
  });
});

describe('provider-side cancel', () => {
  test('cancelling for 5 % of the duration, then cancelled with the lines finished before the cancel', async () => {
    const { clock, client } = await mockWith({});
    const batch = await createBatch(client, lines(40, 'k'));
    clock.advance(DURATION_MS / 2);
    const running = await client.batches.retrieve(batch.id);

    const cancelling = await client.batches.cancel(batch.id);
    clock.advance(DURATION_MS * 0.05);
    const cancelled = await client.batches.retrieve(batch.id);
    const output = await readLines(client, cancelled.output_file_id);

    expect(cancelling.status).toBe('cancelling');
    expect(cancelled.status).toBe('cancelled');
    expect(output.length).toBe(running.request_counts?.completed);
    expect(output.length).toBeGreaterThan(0);
    expect(output.length).toBeLessThan(40);
    expect(output.every((line) => line.response?.status_code === 200)).toBe(true);
  });
});

describe('create calls per item', () => {
  test('batch lines count under their custom_id, once per batch they are sent in', async () => {
    const { mock, client } = await mockWith({});
    await createBatch(client, lines(3, 'p'));
    await createBatch(client, lines(2, 'p'));

    expect(mock.createsPerItem()).toEqual(
      new Map([
        ['p-0', 2],
        ['p-1', 2],
        ['p-2', 1],
      ]),
    );
    expect(mock.stats().createsPerItem).toEqual({ items: 3, creates: 5, max: 2 });
  });

  test("responses count under the product's Idempotency-Key (a hash of job and item id); refused calls do not count", async () => {
    // Arrange: every other create attempt is answered 5xx; the SDK retries them.
    const { mock } = await mockWith({ transientErrorRate: 0.5 });
    const provider = new OpenAIProvider({
      client: createOpenAIClient({ apiKey: 'mock', baseURL: mock.url, fetch: mock.fetch, maxRetries: 0 }),
    });
    const request: ProviderRequest = {
      custom_id: 'café-名',
      method: 'POST',
      url: '/v1/responses',
      body: { model: MODEL, input: 'hello' },
    };

    // Act
    let accepted = 0;
    let attempts = 0;
    while (accepted < 2) {
      attempts += 1;
      await provider.submitRequest(request, 'job-1:café-名').then(
        () => (accepted += 1),
        () => undefined,
      );
    }

    // Assert
    expect(mock.createsPerItem().get(createsKey(idempotencyHeaderValue('job-1:café-名')))).toBe(2);
    expect(mock.stats().createsPerItem).toEqual({ items: 1, creates: 2, max: 2 });
    expect(mock.stats().serverErrors).toBe(attempts - 2);
  });
});
