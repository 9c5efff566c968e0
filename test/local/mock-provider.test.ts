import OpenAI, {
  APIConnectionError,
  APIUserAbortError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  RateLimitError,
  toFile,
} from 'openai';
import type { Batch } from 'openai/resources/batches';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { LatencyModel, logNormalMs } from '../../local/mock-provider/latency.js';
import { IdMaker } from '../../local/mock-provider/outcomes.js';
import { formatDuration } from '../../local/mock-provider/request-limits.js';
import { ResponseStore } from '../../local/mock-provider/responses.js';
import { SimClock } from '../../local/mock-provider/clock.js';
import { systemClock } from '../../shared/clock.js';
import {
  startMockProvider,
  type MockProvider,
  type StartMockProviderOptions,
} from '../../local/mock-provider/server.js';
import { InvalidRequestError } from '../../shared/errors.js';
import { classificationFormat, classifyJobType } from '../../shared/job-types/classify.js';
import { OpenAIProvider, createOpenAIClient } from '../../shared/provider/openai-provider.js';
import type { JobOptions, OutputLine, ProviderRequest } from '../../shared/types.js';

const LABELS = ['positive', 'negative', 'neutral'];

/** Servers started by a test file section; closed in afterAll. */
function mockServer(options: StartMockProviderOptions) {
  const holder: { provider?: MockProvider } = {};
  beforeAll(async () => {
    holder.provider = await startMockProvider(options);
  });
  afterAll(async () => {
    await holder.provider?.close();
  });
  return {
    get provider(): MockProvider {
      if (!holder.provider) throw new Error('server not started');
      return holder.provider;
    },
    client(maxRetries = 0): OpenAI {
      return new OpenAI({ apiKey: 'mock', baseURL: this.provider.url, maxRetries });
    },
  };
}

/** Reads until `done`; returns every value read (the last one is done). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T[]> {
  const seen: T[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    seen.push(value);
    if (done(value)) return seen;
    if (Date.now() > deadline) throw new Error(`not done after ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const TERMINAL_BATCH = new Set(['completed', 'failed', 'expired', 'cancelled']);

function batchRequests(count: number, prefix = 'item'): ProviderRequest[] {
  return Array.from({ length: count }, (_, index) => ({
    custom_id: `${prefix}-${index}`,
    method: 'POST' as const,
    url: '/v1/responses' as const,
    body: { model: 'gpt-5-mini', input: `text number ${index} of ${prefix}` },
  }));
}

async function uploadBatch(
  client: OpenAI,
  requests: ProviderRequest[],
  metadata?: Record<string, string>,
): Promise<Batch> {
  const jsonl = requests.map((request) => JSON.stringify(request)).join('\n') + '\n';
  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl), 'input.jsonl', { type: 'application/jsonl' }),
    purpose: 'batch',
  });
  return client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/responses',
    completion_window: '24h',
    ...(metadata && { metadata }),
  });
}

async function readLines(client: OpenAI, fileId: string | null | undefined): Promise<OutputLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OutputLine);
}

async function failingCustomIds(client: OpenAI, requests: ProviderRequest[]): Promise<string[]> {
  const batch = await uploadBatch(client, requests);
  const done = (
    await until(
      () => client.batches.retrieve(batch.id),
      (b) => TERMINAL_BATCH.has(b.status),
    )
  ).at(-1);
  return (await readLines(client, done?.error_file_id)).map((line) => line.custom_id).sort();
}

describe('responses', () => {
  const server = mockServer({ latencyMs: 2_000, latencySpread: 0, timeScale: 10 });

  test('a background response goes queued -> in_progress -> completed with an OpenAI-shaped body', async () => {
    // Arrange
    const client = server.client();

    // Act
    const created = await client.responses.create({
      model: 'gpt-5-mini',
      input: 'Tell me about llamas please',
      background: true,
    });
    const seen = await until(
      () => client.responses.retrieve(created.id),
      (r) => r.status === 'completed',
    );

    // Assert
    expect(created).toMatchObject({ object: 'response', status: 'queued', background: true, usage: null, output: [] });
    expect(created.id).toMatch(/^resp_/);
    const statuses = [...new Set(seen.map((r) => r.status))];
    expect(statuses).toEqual(expect.arrayContaining(['in_progress', 'completed']));
    const done = seen.at(-1);
    expect(done?.output_text).toBe('mock answer to: Tell me about llamas please');
    expect(done?.output[0]).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'output_text' }] });
    expect(done?.usage).toMatchObject({ input_tokens: 7, output_tokens: 11, total_tokens: 18 });
    expect(done?.error).toBeNull();
  });

  test('without background the answer is completed after the latency', async () => {
    // Arrange
    const client = server.client();
    const started = Date.now();

    // Act
    const response = await client.responses.create({ model: 'gpt-5-mini', input: 'hello' });

    // Assert
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('mock answer to: hello');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150); // 2 s simulated at 10x
  });

  test('chat completions answer synchronously with choices and usage', async () => {
    // Act
    const completion = await server.client().chat.completions.create({
      model: 'gpt-5-mini',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'What is the capital of France, and why?' },
      ],
    });

    // Assert
    expect(completion.object).toBe('chat.completion');
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices[0]?.message.content).toBe('mock answer to: What is the capital of France, and why?');
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 14, total_tokens: 26 });
  });

  test('classify-style structured output answers a valid label, the same one every time', async () => {
    // Arrange
    const client = server.client();
    const ask = (text: string) =>
      client.responses.create({
        model: 'gpt-5-mini',
        input: text,
        text: { format: classificationFormat(LABELS) as never },
      });

    // Act
    const labels = await Promise.all(
      ['great stuff', 'awful', 'meh', 'great stuff'].map(
        async (text) => JSON.parse((await ask(text)).output_text) as { label: string },
      ),
    );
    const chat = await client.chat.completions.create({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'great stuff' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'classification', schema: classificationFormat(LABELS).schema as Record<string, unknown> },
      },
    });

    // Assert
    for (const { label } of labels) expect(LABELS).toContain(label);
    expect(labels[3]).toEqual(labels[0]);
    expect(LABELS).toContain((JSON.parse(chat.choices[0]?.message.content ?? '{}') as { label: string }).label);
  });

  test('unknown ids answer 404 and a missing model 400', async () => {
    const client = server.client();
    await expect(client.responses.retrieve('resp_nope')).rejects.toMatchObject({ status: 404 });
    await expect(client.responses.create({ input: 'x' } as never)).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe('cancelling responses', () => {
  const server = mockServer({ latencyMs: 60_000, latencySpread: 0, timeScale: 1 });

  test('a running background response is cancelled; again is idempotent; a finished one answers 400', async () => {
    // Arrange
    const client = server.client();
    const running = await client.responses.create({ model: 'gpt-5-mini', input: 'long', background: true });

    // Act
    const cancelled = await client.responses.cancel(running.id);
    const again = await client.responses.cancel(running.id);
    const read = await client.responses.retrieve(running.id);
    const quick = await startMockProvider({ latencyMs: 0 });
    try {
      const quickClient = new OpenAI({ apiKey: 'mock', baseURL: quick.url, maxRetries: 0 });
      const finished = await quickClient.responses.create({ model: 'gpt-5-mini', input: 'x', background: true });
      const sync = await quickClient.responses.create({ model: 'gpt-5-mini', input: 'y' });

      // Assert
      await expect(quickClient.responses.cancel(finished.id)).rejects.toMatchObject({
        status: 400,
        type: 'invalid_request_error',
        message: expect.stringContaining('Cannot cancel a completed response') as unknown,
      });
      await expect(quickClient.responses.cancel(sync.id)).rejects.toBeInstanceOf(BadRequestError);
    } finally {
      await quick.close();
    }
    expect(cancelled.status).toBe('cancelled');
    expect(again.status).toBe('cancelled');
    expect(read.status).toBe('cancelled');
  });
});

describe('files and batches', () => {
  // Each phase lasts at least 200 ms of wall time, so a poll every 5 ms sees it even on a loaded machine.
  const server = mockServer({ batchDurationMs: 20_000, timeScale: 10, permanentErrorRate: 0.25, seed: 3 });

  test('a batch goes validating -> in_progress -> finalizing -> completed; every line comes back once, shuffled', async () => {
    // Arrange
    const client = server.client();
    const requests = batchRequests(40);

    // Act
    const created = await uploadBatch(client, requests, { job: 'j1' });
    const seen = await until(
      () => client.batches.retrieve(created.id),
      (b) => TERMINAL_BATCH.has(b.status),
    );
    const done = seen.at(-1) as Batch;
    const output = await readLines(client, done.output_file_id);
    const errors = await readLines(client, done.error_file_id);

    // Assert
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      endpoint: '/v1/responses',
      metadata: { job: 'j1' },
    });
    const statuses = [created, ...seen].map((b) => b.status);
    expect([...new Set(statuses)]).toEqual(['validating', 'in_progress', 'finalizing', 'completed']);
    expect(done.request_counts).toEqual({ total: 40, completed: output.length, failed: errors.length });
    expect(errors.length).toBeGreaterThan(0);
    expect(output.length).toBeGreaterThan(0);
    const ids = [...output, ...errors].map((line) => line.custom_id);
    expect([...ids].sort()).toEqual(requests.map((r) => r.custom_id).sort());
    expect(output.map((line) => line.custom_id)).not.toEqual(
      requests.map((r) => r.custom_id).filter((id) => output.some((line) => line.custom_id === id)),
    );
    for (const line of output) {
      const index = Number(line.custom_id.split('-')[1]);
      expect(line).toMatchObject({
        id: expect.stringMatching(/^batch_req_/) as unknown,
        error: null,
        response: { status_code: 200 },
      });
      expect(line.response?.body).toMatchObject({
        object: 'response',
        status: 'completed',
        output: [{ content: [{ text: `mock answer to: text number ${index} of item` }] }],
      });
    }
    for (const line of errors) {
      expect(line.response).toMatchObject({ status_code: 400, body: { error: { type: 'invalid_request_error' } } });
    }
  });

  test('a line that fails permanently in a batch also fails as a direct request', async () => {
    // Arrange
    const client = server.client();
    const requests = batchRequests(20, 'direct');
    const failing = new Set(await failingCustomIds(client, requests));

    // Act
    const direct = await Promise.all(
      requests.map((request) =>
        client.responses.create({ ...request.body, background: true } as never).then(
          () => 'ok',
          (error: unknown) => (error instanceof BadRequestError ? 'failed' : 'other'),
        ),
      ),
    );

    // Assert
    expect(failing.size).toBeGreaterThan(0);
    expect(direct).toEqual(requests.map((r) => (failing.has(r.custom_id) ? 'failed' : 'ok')));
  });

  test('lists batches newest first, page by page with the after cursor', async () => {
    // Arrange
    const client = server.client();
    const created: string[] = [];
    for (let i = 0; i < 5; i += 1) created.push((await uploadBatch(client, batchRequests(1, `list-${i}`))).id);
    const newestFirst = [...created].reverse();

    // Act
    const firstPage = await client.batches.list({ limit: 2 });
    const secondPage = await client.batches.list({ limit: 2, after: firstPage.data[1]?.id ?? '' });
    const all: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) all.push(batch.id);

    // Assert
    expect(firstPage.data.map((b) => b.id)).toEqual(newestFirst.slice(0, 2));
    expect(firstPage.has_more).toBe(true);
    expect(secondPage.data.map((b) => b.id)).toEqual(newestFirst.slice(2, 4));
    expect(all.slice(0, 5)).toEqual(newestFirst);
    expect(new Set(all).size).toBe(all.length);
  });

  test('a malformed input file fails the batch after validating, with errors', async () => {
    // Arrange
    const client = server.client();
    const file = await client.files.create({
      file: await toFile(
        Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/responses","body":{}}\nnot json\n'),
        'bad.jsonl',
      ),
      purpose: 'batch',
    });

    // Act
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/responses',
      completion_window: '24h',
    });
    const done = (
      await until(
        () => client.batches.retrieve(batch.id),
        (b) => TERMINAL_BATCH.has(b.status),
      )
    ).at(-1);

    // Assert
    expect(done?.status).toBe('failed');
    expect(done?.errors?.data?.[0]).toMatchObject({ code: 'invalid_json_line', line: 2 });
  });
});

describe('batch cancel and expiry', () => {
  const server = mockServer({ batchDurationMs: 10_000, timeScale: 10 });

  test('cancel: cancelling -> cancelled, the lines finished before the cancel are kept', async () => {
    // Arrange
    const client = server.client();
    const batch = await uploadBatch(client, batchRequests(50));
    const running = (
      await until(
        () => client.batches.retrieve(batch.id),
        (b) => (b.request_counts?.completed ?? 0) >= 5,
      )
    ).at(-1);

    // Act
    const cancelling = await client.batches.cancel(batch.id);
    const done = (
      await until(
        () => client.batches.retrieve(batch.id),
        (b) => b.status === 'cancelled',
      )
    ).at(-1) as Batch;
    const output = await readLines(client, done.output_file_id);

    // Assert
    expect(running?.status).toBe('in_progress');
    expect(cancelling.status).toBe('cancelling');
    expect(output.length).toBe(done.request_counts?.completed);
    expect(output.length).toBeGreaterThanOrEqual(running?.request_counts?.completed ?? 0);
    expect(output.length).toBeLessThan(50);
    await expect(client.batches.cancel(batch.id)).rejects.toBeInstanceOf(ConflictError);
  });

  test('batchExpireRate 1: the batch expires half way, finished lines kept, the rest in the error file', async () => {
    // Arrange
    const expiring = await startMockProvider({ batchDurationMs: 2_000, timeScale: 10, batchExpireRate: 1 });
    try {
      const client = new OpenAI({ apiKey: 'mock', baseURL: expiring.url, maxRetries: 0 });
      const batch = await uploadBatch(client, batchRequests(40));

      // Act
      const done = (
        await until(
          () => client.batches.retrieve(batch.id),
          (b) => TERMINAL_BATCH.has(b.status),
        )
      ).at(-1) as Batch;
      const output = await readLines(client, done.output_file_id);
      const errors = await readLines(client, done.error_file_id);

      // Assert
      expect(done.status).toBe('expired');
      expect(output.length).toBe(done.request_counts?.completed);
      expect(output.length).toBeGreaterThan(0);
      expect(errors.length).toBe(40 - output.length);
      expect(errors[0]).toMatchObject({ response: null, error: { code: 'batch_expired' } });
    } finally {
      await expiring.close();
    }
  });
});

describe('rate limits', () => {
  // 60 s of simulated time pass in 100 ms: a budget of 2 requests per minute refills one request per 50 ms.
  const server = mockServer({ rateLimitRpm: 2, rateLimitTpm: 1_000, timeScale: 600, latencyMs: 0 });

  test('over the RPM limit: 429 with retry-after, retry-after-ms and x-ratelimit headers; the SDK retry then succeeds', async () => {
    // Arrange
    const client = server.client(0);
    const ask = (c: OpenAI) =>
      c.responses.create({ model: 'gpt-5-mini', input: 'hi', max_output_tokens: 16 }).withResponse();

    // Act
    const first = await ask(client);
    await ask(client);
    const refused = await ask(client).then(
      () => undefined,
      (error: unknown) => error,
    );
    const retried = await ask(server.client(2));

    // Assert
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d+)?m?s$/);
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(refused).toBeInstanceOf(RateLimitError);
    const error = refused as RateLimitError;
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests' });
    expect(Number(error.headers?.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(Number(error.headers?.get('retry-after-ms'))).toBeLessThanOrEqual(100);
    expect(error.headers?.get('retry-after')).toBe('1');
    expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(retried.data.status).toBe('completed');
    expect(server.provider.stats().rateLimited).toBeGreaterThanOrEqual(2);
  });

  test('over the TPM limit: 429 of type tokens; polling GETs are not limited', async () => {
    // Arrange: let the request budget refill, then ask for more tokens than the minute holds.
    await new Promise((resolve) => setTimeout(resolve, 120));
    const client = server.client(0);

    // Act
    const refused = await client.responses
      .create({ model: 'gpt-5-mini', input: 'x'.repeat(4_000), max_output_tokens: 100 })
      .catch((error: unknown) => error);
    const lists = await Promise.all(Array.from({ length: 10 }, () => client.batches.list()));

    // Assert
    expect(refused).toMatchObject({ status: 429, type: 'tokens', code: 'rate_limit_exceeded' });
    expect(lists).toHaveLength(10);
  });
});

describe('seeded outcomes', () => {
  test('the same seed fails the same custom_ids on two servers; another seed fails others', async () => {
    // Arrange
    const options = { permanentErrorRate: 0.3, batchDurationMs: 1_000, timeScale: 20 };
    const servers = await Promise.all([
      startMockProvider({ ...options, seed: 42 }),
      startMockProvider({ ...options, seed: 42 }),
      startMockProvider({ ...options, seed: 43 }),
    ]);
    try {
      const requests = batchRequests(60);

      // Act
      const [a, b, c] = await Promise.all(
        servers.map((s) => failingCustomIds(new OpenAI({ apiKey: 'mock', baseURL: s.url, maxRetries: 0 }), requests)),
      );

      // Assert
      expect(a?.length).toBeGreaterThan(5);
      expect(a?.length).toBeLessThan(40);
      expect(b).toEqual(a);
      expect(c).not.toEqual(a);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  test('transient errors are per attempt: retries succeed; permanent ones fail on every attempt', async () => {
    // Arrange
    const provider = await startMockProvider({
      transientErrorRate: 0.5,
      permanentErrorRate: 0.2,
      latencyMs: 0,
      seed: 9,
    });
    try {
      const client = new OpenAI({ apiKey: 'mock', baseURL: provider.url, maxRetries: 0 });
      const outcomes: Array<{ attempts: number; result: 'ok' | 'permanent' }> = [];

      // Act
      for (let i = 0; i < 20; i += 1) {
        const body = { model: 'gpt-5-mini', input: `request ${i}`, background: true };
        let attempts = 0;
        let permanentFailures = 0;
        for (;;) {
          attempts += 1;
          const error = await client.responses.create(body).then(
            () => undefined,
            (e: unknown) => e,
          );
          if (error === undefined) {
            outcomes.push({ attempts, result: 'ok' });
            break;
          }
          if (error instanceof BadRequestError) permanentFailures += 1;
          else expect(error).toBeInstanceOf(InternalServerError);
          if (permanentFailures === 3) {
            outcomes.push({ attempts, result: 'permanent' });
            break;
          }
          if (attempts > 30) throw new Error(`request ${i} never succeeded`);
        }
      }

      // Assert
      const ok = outcomes.filter((o) => o.result === 'ok');
      expect(ok.length).toBeGreaterThan(10);
      expect(ok.some((o) => o.attempts > 1)).toBe(true);
      expect(outcomes.some((o) => o.result === 'permanent' && o.attempts === 3)).toBe(true);
      const stats = provider.stats();
      expect(stats.serverErrors).toBeGreaterThan(0);
      expect(stats.badRequests).toBeGreaterThan(0);
      expect(stats.responsesCreated).toBe(ok.length);
      expect(stats.calls['POST /v1/responses']).toBe(outcomes.reduce((sum, o) => sum + o.attempts, 0));
    } finally {
      await provider.close();
    }
  });
});

describe('through OpenAIProvider (shared/provider/openai-provider.ts)', () => {
  const server = mockServer({
    latencyMs: 1_000,
    timeScale: 50,
    batchDurationMs: 2_000,
    permanentErrorRate: 0.2,
    seed: 5,
  });
  const options: JobOptions = {
    mode: 'responses',
    model: 'gpt-5-mini',
    batchSize: 10,
    maxConcurrency: 1,
    toleratedFailurePercentage: 0,
    params: { labels: LABELS },
  };

  function provider(maxRetries?: number): OpenAIProvider {
    return new OpenAIProvider({
      client: createOpenAIClient({
        apiKey: 'mock',
        baseURL: server.provider.url,
        ...(maxRetries !== undefined && { maxRetries }),
      }),
    });
  }

  test('responses mode: classify requests submitted in background, polled to a label; chat answers at once', async () => {
    // Arrange
    const subject = provider();
    const requests = ['love it', 'hate it', 'fine I guess', 'best day ever'].map((text, index) =>
      classifyJobType.compile(options).toRequest({ id: `c-${index}`, text }),
    );

    // Act
    const settled = await Promise.all(
      requests.map(async (request) => {
        try {
          const submitted = await subject.submitRequest(request, `key-${request.custom_id}`);
          const polls = await until(
            () => subject.pollRequest(submitted.providerId, request.custom_id),
            (progress) => progress.done,
          );
          return { submitted, done: polls.at(-1) };
        } catch (error) {
          return { error };
        }
      }),
    );
    const chat = await subject.submitRequest(
      {
        custom_id: 'chat-1',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] },
      },
      'key-chat',
    );

    // Assert
    const finished = settled.filter((s) => 'done' in s);
    expect(finished.length).toBeGreaterThan(0);
    for (const s of settled) {
      if ('error' in s) {
        expect(s.error).toBeInstanceOf(InvalidRequestError);
        continue;
      }
      expect(s.submitted.done).toBe(false);
      const done = s.done;
      if (!done?.done) throw new Error('not done');
      expect(done).toMatchObject({ status: 'completed', outcome: 'succeeded' });
      expect(done.usage?.inputTokens).toBeGreaterThan(0);
      expect(LABELS).toContain(classifyJobType.compile(options).toResult(done.output).label);
    }
    expect(chat).toMatchObject({ done: true, outcome: 'succeeded', status: 'completed' });
  });

  test('batch mode: submit, find by metadata, poll to done with every custom_id matched; cancels of finished work succeed', async () => {
    // Arrange
    const subject = provider(0);
    const requests = batchRequests(30, 'prov');
    const metadata = { jobId: 'job-7', batchId: 'b-1' };

    // Act
    const { providerBatchId } = await subject.submitBatch(requests, metadata);
    const found = await subject.findBatch(metadata);
    const missing = await subject.findBatch({ jobId: 'job-7', batchId: 'other' });
    const polls = await until(
      () => subject.pollBatch(providerBatchId),
      (progress) => progress.done,
    );
    const done = polls.at(-1);
    await subject.cancelBatch(providerBatchId); // 409 from the API: already finished
    const response = await subject.submitRequest(
      batchRequests(1, 'quick').map((r) => ({ ...r, custom_id: 'q' }))[0] as ProviderRequest,
      'k',
    );
    const finished = await until(
      () => subject.pollRequest(response.providerId, 'q'),
      (p) => p.done,
    );
    await subject.cancelRequest(response.providerId); // 400 from the API: already completed

    // Assert
    expect(found).toBe(providerBatchId);
    expect(missing).toBeUndefined();
    if (!done?.done) throw new Error('batch not done');
    expect(done.status).toBe('completed');
    expect([...done.results.keys()].sort()).toEqual(requests.map((r) => r.custom_id).sort());
    const outcomes = [...done.results.values()].map((r) => r.outcome);
    expect(outcomes).toContain('succeeded');
    expect(outcomes).toContain('failed');
    expect(finished.at(-1)?.done).toBe(true);
  });
});

describe('the in-process fetch', () => {
  // Real time (timeScale 1): the 3-request budget does not refill during the session, so both transports meet the same
  // 429s.
  const knobs: StartMockProviderOptions = {
    latencyMs: 100,
    timeScale: 1,
    batchDurationMs: 300,
    permanentErrorRate: 0.3,
    rateLimitRpm: 3,
    seed: 12,
  };

  /** One scripted session: the same calls, the same order; what each answered. */
  async function session(client: OpenAI): Promise<unknown[]> {
    const seen: unknown[] = [];
    const settle = <T>(call: Promise<T>) =>
      call.then(
        (value) => value,
        (error: unknown) => ({ error: (error as { status?: number }).status, type: (error as { type?: string }).type }),
      );
    const created = await client.responses.create({
      model: 'gpt-5-mini',
      input: 'Tell me about llamas',
      background: true,
    });
    const done = (
      await until(
        () => client.responses.retrieve(created.id),
        (r) => r.status === 'completed',
      )
    ).at(-1);
    seen.push(created.id, done?.output_text, done?.usage);
    const batch = await uploadBatch(client, batchRequests(6, 'parity'));
    const finished = (
      await until(
        () => client.batches.retrieve(batch.id),
        (b) => TERMINAL_BATCH.has(b.status),
      )
    ).at(-1);
    seen.push(
      finished?.status,
      finished?.request_counts,
      (await readLines(client, finished?.output_file_id)).map((line) => line.custom_id).sort(),
    );
    // The third create spends the last of the budget; the next ones are refused.
    for (let i = 0; i < 3; i += 1)
      seen.push(
        await settle(
          client.responses.create({ model: 'gpt-5-mini', input: `request ${i}`, background: true }).then((r) => r.id),
        ),
      );
    seen.push(await settle(client.responses.retrieve('resp_missing')));
    return seen;
  }

  test('answers exactly as the HTTP server does: ids, bodies, 400/404/429, multipart uploads, batches', async () => {
    // Arrange: two servers, same seed
    const overHttp = await startMockProvider(knobs);
    const inProcess = await startMockProvider(knobs);
    try {
      // Act
      const viaHttp = await session(new OpenAI({ apiKey: 'mock', baseURL: overHttp.url, maxRetries: 0 }));
      const viaFetch = await session(
        new OpenAI({ apiKey: 'mock', baseURL: inProcess.url, maxRetries: 0, fetch: inProcess.fetch }),
      );

      // Assert
      expect(viaFetch).toEqual(viaHttp);
      expect(viaFetch).toContainEqual({ error: 429, type: 'requests' });
      expect(viaFetch).toContainEqual({ error: 404, type: 'invalid_request_error' });
      // Polls depend on timing; everything else is counted the same.
      const counted = (stats: ReturnType<MockProvider['stats']>) => ({
        ...stats,
        calls: Object.entries(stats.calls).filter(([route]) => route.startsWith('POST')),
      });
      expect(counted(inProcess.stats())).toEqual(counted(overHttp.stats()));
    } finally {
      await overHttp.close();
      await inProcess.close();
    }
  });

  test('a caller abort ends a synchronous call waiting on its latency; after close every call fails', async () => {
    // Arrange
    const provider = await startMockProvider({ latencyMs: 60_000, latencySpread: 0 });
    const client = new OpenAI({ apiKey: 'mock', baseURL: provider.url, maxRetries: 0, fetch: provider.fetch });
    const controller = new AbortController();

    // Act
    const waiting = client.responses.create({ model: 'gpt-5-mini', input: 'slow' }, { signal: controller.signal }).then(
      () => undefined,
      (error: unknown) => error,
    );
    controller.abort();
    const aborted = await waiting;
    await provider.close();
    const late = await client.responses.retrieve('resp_x').then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assert
    expect(aborted).toBeInstanceOf(APIUserAbortError);
    expect(late).toBeInstanceOf(APIConnectionError);
  });
});

describe('scale and building blocks', () => {
  test('100,000 live background responses are cheap: compact records, status derived on read', () => {
    // Arrange
    const clock = new SimClock(systemClock);
    const store = new ResponseStore(clock, new IdMaker(1), new LatencyModel(1, 60_000, 0.5));
    const answer = { text: 'mock answer to: something short', inputTokens: 10, outputTokens: 8 };
    const before = process.memoryUsage().heapUsed;

    // Act
    const ids: string[] = [];
    for (let i = 0; i < 100_000; i += 1) {
      ids.push(store.create('gpt-5-mini', answer, { background: true, store: true }).body.id as string);
    }
    const grown = process.memoryUsage().heapUsed - before;

    // Assert
    expect(store.size).toBe(100_000);
    expect(grown).toBeLessThan(150 * 1024 * 1024);
    expect(['queued', 'in_progress']).toContain(store.retrieve(ids[99_999] ?? '').status);
  });

  test('latency samples are log-normal around the median and bounded', () => {
    const model = new LatencyModel(1, 1_000, 0.5);
    const samples = Array.from({ length: 2_001 }, () => model.next()).sort((a, b) => a - b);
    expect(samples[1_000]).toBeGreaterThan(900);
    expect(samples[1_000]).toBeLessThan(1_100);
    expect(samples.at(-1)).toBeLessThanOrEqual(10_000);
    expect(logNormalMs(1_000, 0, 0.3, 0.7)).toBe(1_000);
  });

  test('reset durations are written the way OpenAI writes them', () => {
    expect(formatDuration(120)).toBe('120ms');
    expect(formatDuration(1_200)).toBe('1.2s');
    expect(formatDuration(360_000)).toBe('6m0s');
  });
});
