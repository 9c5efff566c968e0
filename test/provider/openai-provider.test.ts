import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from 'openai';
import { beforeEach, describe, expect, test } from '@jest/globals';
import {
  InvalidRequestError,
  ProviderAuthError,
  ProviderError,
  ProviderUnavailableError,
  RateLimitedError,
} from '../../shared/errors.js';
import {
  OpenAIProvider,
  createOpenAIClient,
} from '../../shared/provider/openai-provider.js';
import type { BatchProgress, RequestProgress } from '../../shared/provider/provider.js';
import { retryAfterMs, toProviderError } from '../../shared/provider/provider-errors.js';
import { usageFromBody } from '../../shared/provider/usage.js';
import type { ProviderRequest } from '../../shared/types.js';
import { FakeOpenAI, badRequest } from './fake-openai.js';

function responsesRequest(customId = 'item-1'): ProviderRequest {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/responses',
    body: { model: 'gpt-5-mini', input: `say hi to ${customId}` },
  };
}

function chatRequest(customId = 'item-1'): ProviderRequest {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] },
  };
}

function headers(entries: Record<string, string> = {}): Headers {
  return new Headers(entries);
}

function apiBody(message: string, code: string | null = null) {
  return { message, type: 'error', code, param: null };
}

function rateLimit(entries: Record<string, string>, code: string | null = null): RateLimitError {
  return new RateLimitError(429, apiBody('slow down', code), 'slow down', headers(entries));
}

function serverError(status = 500): InternalServerError {
  return new InternalServerError(status, apiBody('boom'), 'boom', headers());
}

function doneResult(progress: RequestProgress) {
  if (!progress.done) throw new Error(`expected a finished request, got ${progress.status}`);
  return progress;
}

function finishedBatch(progress: BatchProgress) {
  if (!progress.done) throw new Error(`expected a finished batch, got ${progress.status}`);
  return progress;
}

function jsonl(lines: unknown[]): string {
  return lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
}

function outputLine(customId: string, statusCode = 200, body: unknown = undefined) {
  return {
    id: `batch_req_${customId}`,
    custom_id: customId,
    response: {
      status_code: statusCode,
      request_id: `req_${customId}`,
      body: body ?? {
        id: `resp_${customId}`,
        status: 'completed',
        usage: { input_tokens: 10, output_tokens: 5 },
      },
    },
    error: null,
  };
}

function errorFileLine(customId: string, code: string, message: string) {
  return { id: `batch_req_${customId}`, custom_id: customId, response: null, error: { code, message } };
}

let fake: FakeOpenAI;
let provider: OpenAIProvider;

beforeEach(() => {
  fake = new FakeOpenAI();
  provider = new OpenAIProvider({ client: fake });
});

describe('responses mode: /v1/responses in background', () => {
  test('submits a background response with the idempotency key and returns it not done', async () => {
    // Act
    const progress = await provider.submitRequest(responsesRequest(), 'job-1:item-1:0');

    // Assert
    expect(progress).toEqual({ done: false, providerId: 'resp_1', status: 'queued' });
    const [[body, options]] = fake.callsOf('responses.create') as [[unknown, unknown]];
    expect(body).toEqual({
      model: 'gpt-5-mini',
      input: 'say hi to item-1',
      background: true,
      stream: false,
    });
    expect(options).toEqual({
      idempotencyKey: 'job-1:item-1:0',
      headers: { 'Idempotency-Key': 'job-1:item-1:0' },
    });
  });

  test('follows a response from queued through in_progress to completed', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest('item-7'), 'key');
    const usage = { input_tokens: 21, output_tokens: 8, total_tokens: 29 };

    // Act
    const whileQueued = await provider.pollRequest(submitted.providerId, 'item-7');
    fake.setResponse(submitted.providerId, { status: 'in_progress' });
    const whileRunning = await provider.pollRequest(submitted.providerId, 'item-7');
    fake.setResponse(submitted.providerId, { status: 'completed', output_text: 'hi', usage });
    const finished = doneResult(await provider.pollRequest(submitted.providerId, 'item-7'));

    // Assert
    expect(whileQueued).toEqual({ done: false, providerId: 'resp_1', status: 'queued' });
    expect(whileRunning).toEqual({ done: false, providerId: 'resp_1', status: 'in_progress' });
    expect(finished.status).toBe('completed');
    expect(finished.outcome).toBe('succeeded');
    expect(finished.usage).toEqual({ inputTokens: 21, outputTokens: 8 });
    expect(finished.output).toEqual({
      id: 'resp_1',
      custom_id: 'item-7',
      response: {
        status_code: 200,
        request_id: expect.stringMatching(/^req_/) as unknown,
        body: expect.objectContaining({ id: 'resp_1', status: 'completed', output_text: 'hi' }) as unknown,
      },
      error: null,
    });
  });

  test('the output line serialises to the Batch output format, without SDK extras', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.setResponse(submitted.providerId, { status: 'completed' });

    // Act
    const finished = doneResult(await provider.pollRequest(submitted.providerId, 'item-1'));
    const line = JSON.parse(JSON.stringify(finished.output)) as Record<string, unknown>;

    // Assert
    expect(Object.keys(line)).toEqual(['id', 'custom_id', 'response', 'error']);
    expect(JSON.stringify(line)).not.toContain('_request_id');
  });

  test('uses the response id as request_id when the SDK gives no request id', async () => {
    // Arrange
    fake.withRequestIds = false;
    fake.createdResponseStatus = 'completed';

    // Act
    const finished = doneResult(await provider.submitRequest(responsesRequest(), 'key'));

    // Assert
    expect(finished.output.response?.request_id).toBe('resp_1');
  });

  test('a response that is already finished when submitted comes back done', async () => {
    // Arrange
    fake.createdResponseStatus = 'completed';

    // Act
    const progress = await provider.submitRequest(responsesRequest(), 'key');

    // Assert
    expect(progress).toMatchObject({ done: true, providerId: 'resp_1', outcome: 'succeeded' });
  });

  test('an incomplete response counts as succeeded and keeps its body', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.setResponse(submitted.providerId, {
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
    });

    // Act
    const finished = doneResult(await provider.pollRequest(submitted.providerId, 'item-1'));

    // Assert
    expect(finished.outcome).toBe('succeeded');
    expect(finished.status).toBe('incomplete');
    expect(finished.output.response?.status_code).toBe(200);
    expect(finished.output.response?.body).toMatchObject({
      incomplete_details: { reason: 'max_output_tokens' },
    });
  });

  test('a failed response fails with the error the provider gave', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.setResponse(submitted.providerId, {
      status: 'failed',
      error: { code: 'server_error', message: 'the model crashed' },
    });

    // Act
    const finished = doneResult(await provider.pollRequest(submitted.providerId, 'item-1'));

    // Assert
    expect(finished.outcome).toBe('failed');
    expect(finished.output).toEqual({
      id: 'resp_1',
      custom_id: 'item-1',
      response: null,
      error: { code: 'server_error', message: 'the model crashed' },
    });
  });

  test('a failed response without an error gets the response_failed code', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.setResponse(submitted.providerId, { status: 'failed', error: null });

    // Act
    const finished = doneResult(await provider.pollRequest(submitted.providerId, 'item-1'));

    // Assert
    expect(finished.outcome).toBe('failed');
    expect(finished.output.error?.code).toBe('response_failed');
  });

  test('a cancelled response ends cancelled', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.setResponse(submitted.providerId, { status: 'cancelled' });

    // Act
    const finished = doneResult(await provider.pollRequest(submitted.providerId, 'item-1'));

    // Assert
    expect(finished.outcome).toBe('cancelled');
    expect(finished.output.response).toBeNull();
    expect(finished.output.error).toEqual({ code: 'cancelled', message: expect.any(String) as unknown });
  });

  test('a status the provider never documented is a ProviderError, not an endless poll', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.setResponse(submitted.providerId, { status: 'thinking_hard' });

    // Act
    const polling = provider.pollRequest(submitted.providerId, 'item-1');

    // Assert
    await expect(polling).rejects.toBeInstanceOf(ProviderError);
  });

  test('a url the provider does not serve is an InvalidRequestError', async () => {
    // Arrange
    const request = { ...responsesRequest(), url: '/v1/embeddings' } as unknown as ProviderRequest;

    // Act
    const submitting = provider.submitRequest(request, 'key');

    // Assert
    await expect(submitting).rejects.toBeInstanceOf(InvalidRequestError);
    expect(fake.calls).toEqual([]);
  });

  test('a rate-limited submit is a RateLimitedError with the wait the provider asked for', async () => {
    // Arrange
    fake.failNext('responses.create', rateLimit({ 'retry-after-ms': '1500' }));

    // Act
    const submitting = provider.submitRequest(responsesRequest(), 'key');

    // Assert
    await expect(submitting).rejects.toMatchObject({
      name: 'RateLimitedError',
      retryAfterMs: 1500,
    });
  });

  test('a malformed request is an InvalidRequestError carrying the API error code', async () => {
    // Arrange
    fake.failNext('responses.create', badRequest("Unsupported parameter: 'temperature'", 'unsupported_parameter'));

    // Act
    const submitting = provider.submitRequest(responsesRequest(), 'key');

    // Assert
    await expect(submitting).rejects.toMatchObject({
      name: 'InvalidRequestError',
      code: 'unsupported_parameter',
    });
  });
});

describe('responses mode: /v1/chat/completions runs synchronously', () => {
  test('returns the completion finished, as a Batch output line, with usage', async () => {
    // Act
    const finished = doneResult(await provider.submitRequest(chatRequest('item-3'), 'job-1:item-3:0'));

    // Assert
    expect(finished).toMatchObject({
      done: true,
      providerId: 'chatcmpl_1',
      status: 'completed',
      outcome: 'succeeded',
      usage: { inputTokens: 12, outputTokens: 3 },
    });
    expect(finished.output).toEqual({
      id: 'chatcmpl_1',
      custom_id: 'item-3',
      response: {
        status_code: 200,
        request_id: 'req_2',
        body: expect.objectContaining({ id: 'chatcmpl_1', object: 'chat.completion' }) as unknown,
      },
      error: null,
    });
  });

  test('sends the body unstreamed with the idempotency key', async () => {
    // Arrange
    const request = chatRequest();
    request.body.stream = true;

    // Act
    await provider.submitRequest(request, 'job-1:item-1:0');

    // Assert
    const [[body, options]] = fake.callsOf('chat.completions.create') as [[unknown, unknown]];
    expect(body).toEqual({ ...chatRequest().body, stream: false });
    expect(options).toMatchObject({ idempotencyKey: 'job-1:item-1:0' });
  });

  test('a 503 from the provider is a ProviderUnavailableError', async () => {
    // Arrange
    fake.failNext('chat.completions.create', serverError(503));

    // Act
    const submitting = provider.submitRequest(chatRequest(), 'key');

    // Assert
    await expect(submitting).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('responses mode: cancelRequest', () => {
  test('cancels a running response', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');

    // Act
    await provider.cancelRequest(submitted.providerId);

    // Assert
    expect(fake.storedResponses.get(submitted.providerId)?.status).toBe('cancelled');
  });

  test('leaves a finished response as it is, without an error', async () => {
    // Arrange
    fake.createdResponseStatus = 'completed';
    const submitted = await provider.submitRequest(responsesRequest(), 'key');

    // Act
    const cancelling = provider.cancelRequest(submitted.providerId);

    // Assert
    await expect(cancelling).resolves.toBeUndefined();
    expect(fake.storedResponses.get(submitted.providerId)?.status).toBe('completed');
  });

  test('a response the provider no longer knows is not an error', async () => {
    // Act
    const cancelling = provider.cancelRequest('resp_gone');

    // Assert
    await expect(cancelling).resolves.toBeUndefined();
  });

  test('a 409 for a response that has finished is not an error', async () => {
    // Arrange
    fake.createdResponseStatus = 'completed';
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.failNext(
      'responses.cancel',
      new ConflictError(409, apiBody('already terminal'), 'already terminal', headers()),
    );

    // Act
    const cancelling = provider.cancelRequest(submitted.providerId);

    // Assert
    await expect(cancelling).resolves.toBeUndefined();
  });

  test('a 409 for a response still running propagates as transient', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.failNext('responses.cancel', new ConflictError(409, apiBody('busy'), 'busy', headers()));

    // Act
    const cancelling = provider.cancelRequest(submitted.providerId);

    // Assert
    await expect(cancelling).rejects.toBeInstanceOf(ProviderUnavailableError);
  });

  test('a transient failure propagates', async () => {
    // Arrange
    const submitted = await provider.submitRequest(responsesRequest(), 'key');
    fake.failNext('responses.cancel', serverError(502));

    // Act
    const cancelling = provider.cancelRequest(submitted.providerId);

    // Assert
    await expect(cancelling).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('batch mode: submitBatch', () => {
  test('uploads one JSONL line per request and creates a 24h batch tagged with our ids', async () => {
    // Arrange
    const requests = [responsesRequest('a'), responsesRequest('b'), responsesRequest('c')];

    // Act
    const { providerBatchId } = await provider.submitBatch(requests, { jobId: 'job-1', batchId: 'b-0' });

    // Assert
    const [upload] = [...fake.storedFiles.values()];
    expect(upload?.filename).toBe('batch-job-1-b-0.jsonl');
    expect(upload?.purpose).toBe('batch');
    const lines = upload?.content.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual(requests);
    const batch = fake.storedBatches.get(providerBatchId);
    expect(batch).toMatchObject({
      endpoint: '/v1/responses',
      completion_window: '24h',
      input_file_id: [...fake.storedFiles.keys()][0],
      metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' },
    });
  });

  test('uses the chat completions endpoint for chat requests', async () => {
    // Act
    const { providerBatchId } = await provider.submitBatch([chatRequest('a'), chatRequest('b')], {
      jobId: 'job-1',
      batchId: 'b-1',
    });

    // Assert
    expect(fake.storedBatches.get(providerBatchId)?.endpoint).toBe('/v1/chat/completions');
  });

  test('rejects requests that do not share one url, before uploading anything', async () => {
    // Act
    const submitting = provider.submitBatch([responsesRequest('a'), chatRequest('b')], {
      jobId: 'job-1',
      batchId: 'b-0',
    });

    // Assert
    await expect(submitting).rejects.toThrow(InvalidRequestError);
    await expect(submitting).rejects.toThrow(/share one url/);
    expect(fake.calls).toEqual([]);
  });

  test('rejects an empty batch and duplicate custom ids', async () => {
    // Act
    const empty = provider.submitBatch([], { jobId: 'job-1', batchId: 'b-0' });
    const duplicated = provider.submitBatch([responsesRequest('a'), responsesRequest('a')], {
      jobId: 'job-1',
      batchId: 'b-0',
    });

    // Assert
    await expect(empty).rejects.toMatchObject({ name: 'InvalidRequestError', code: 'empty_batch' });
    await expect(duplicated).rejects.toMatchObject({
      name: 'InvalidRequestError',
      code: 'duplicate_custom_id',
    });
    expect(fake.calls).toEqual([]);
  });

  test('a failed upload is mapped and no batch is created', async () => {
    // Arrange
    fake.failNext('files.create', new AuthenticationError(401, apiBody('bad key'), 'bad key', headers()));

    // Act
    const submitting = provider.submitBatch([responsesRequest('a')], { jobId: 'job-1', batchId: 'b-0' });

    // Assert
    await expect(submitting).rejects.toBeInstanceOf(ProviderAuthError);
    expect(fake.callsOf('batches.create')).toEqual([]);
  });
});

describe('batch mode: findBatch', () => {
  test('finds the batch created with our metadata', async () => {
    // Arrange
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' } });
    const wanted = fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-1' } });
    fake.addBatch({ metadata: null });
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-2', llm_batch_batch_id: 'b-1' } });

    // Act
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-1' });

    // Assert
    expect(found).toBe(wanted.id);
    expect(fake.callsOf('batches.list')).toEqual([[{ limit: 100 }]]);
  });

  test('finds nothing when no batch carries the metadata', async () => {
    // Arrange
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' } });

    // Act
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-9' });

    // Assert
    expect(found).toBeUndefined();
  });

  test('stops after a bounded number of batches', async () => {
    // Arrange
    provider = new OpenAIProvider({ client: fake, maxBatchesToScan: 5 });
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' } });
    for (let i = 0; i < 20; i += 1) fake.addBatch({ metadata: null });

    // Act
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-0' });

    // Assert
    expect(found).toBeUndefined();
    expect(fake.listed).toBe(5);
  });

  test('a failing list is mapped', async () => {
    // Arrange
    fake.failNext('batches.list', serverError(500));

    // Act
    const finding = provider.findBatch({ jobId: 'job-1', batchId: 'b-0' });

    // Assert
    await expect(finding).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('batch mode: pollBatch', () => {
  test.each(['validating', 'in_progress', 'finalizing', 'cancelling'])(
    'a %s batch is not done and reports its counts',
    async (status) => {
      // Arrange
      const batch = fake.addBatch({ status, request_counts: { total: 10, completed: 4, failed: 1 } });

      // Act
      const progress = await provider.pollBatch(batch.id);

      // Assert
      expect(progress).toEqual({
        done: false,
        status,
        counts: { total: 10, completed: 4, failed: 1 },
      });
    },
  );

  test('a completed batch matches outputs and errors by custom_id, in any order', async () => {
    // Arrange
    const output = fake.addFile(
      jsonl([
        outputLine('c'),
        outputLine('a'),
        outputLine('d', 400, {
          error: { message: "Invalid 'input': empty", type: 'invalid_request_error', code: 'empty_input' },
        }),
      ]),
    );
    const errors = fake.addFile(jsonl([errorFileLine('b', 'server_error', 'try again later')]));
    const batch = fake.addBatch({ status: 'completed', output_file_id: output, error_file_id: errors });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.status).toBe('completed');
    expect([...finished.results.keys()].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(finished.results.get('a')).toEqual({
      outcome: 'succeeded',
      output: outputLine('a'),
      usage: { inputTokens: 10, outputTokens: 5 },
    });
    expect(finished.results.get('c')?.output.custom_id).toBe('c');
    expect(finished.results.get('b')).toMatchObject({
      outcome: 'failed',
      output: { custom_id: 'b', response: null, error: { code: 'server_error', message: 'try again later' } },
    });
    expect(finished.results.get('d')).toMatchObject({
      outcome: 'failed',
      output: {
        custom_id: 'd',
        response: { status_code: 400 },
        error: { code: 'empty_input', message: "Invalid 'input': empty" },
      },
    });
    expect(finished.missing).toEqual({
      outcome: 'failed',
      code: 'missing_from_output',
      message: 'the provider returned no result for this request',
    });
  });

  test('a completed batch with only an error file fails every request it names', async () => {
    // Arrange
    const errors = fake.addFile(
      jsonl([
        outputLine('x', 500, { error: { message: 'internal', type: 'server_error' } }),
        errorFileLine('y', 'invalid_request', 'bad body'),
      ]),
    );
    const batch = fake.addBatch({ status: 'completed', error_file_id: errors });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.results.get('x')).toMatchObject({
      outcome: 'failed',
      output: { error: { code: 'http_500', message: 'internal' } },
    });
    expect(finished.results.get('y')?.outcome).toBe('failed');
    expect(fake.callsOf('files.content')).toEqual([[errors]]);
  });

  test('an expired batch keeps finished results and fails the rest with the reason', async () => {
    // Arrange
    const output = fake.addFile(jsonl([outputLine('done-1'), outputLine('done-2')]));
    const batch = fake.addBatch({ status: 'expired', output_file_id: output });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.status).toBe('expired');
    expect(finished.results.get('done-1')?.outcome).toBe('succeeded');
    expect(finished.results.get('done-2')?.outcome).toBe('succeeded');
    expect(finished.missing).toEqual({
      outcome: 'failed',
      code: 'batch_expired',
      message: 'batch expired before this request finished',
    });
  });

  test('a failed batch fails its requests with the batch error', async () => {
    // Arrange
    const batch = fake.addBatch({
      status: 'failed',
      errors: {
        data: [{ code: 'token_limit_exceeded', message: 'Enqueued token limit reached' }],
      },
    });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.results.size).toBe(0);
    expect(finished.missing).toEqual({
      outcome: 'failed',
      code: 'token_limit_exceeded',
      message: 'Enqueued token limit reached',
    });
    expect(fake.callsOf('files.content')).toEqual([]);
  });

  test('a failed batch without errors fails with batch_failed', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'failed' });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.missing).toMatchObject({ outcome: 'failed', code: 'batch_failed' });
  });

  test('a cancelled batch keeps partial results and cancels the rest', async () => {
    // Arrange
    const output = fake.addFile(jsonl([outputLine('early')]));
    const batch = fake.addBatch({ status: 'cancelled', output_file_id: output });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.results.get('early')?.outcome).toBe('succeeded');
    expect(finished.missing).toMatchObject({ outcome: 'cancelled', code: 'batch_cancelled' });
  });

  test('skips blank lines', async () => {
    // Arrange
    const output = fake.addFile(`\n${JSON.stringify(outputLine('a'))}\r\n\n  \n${JSON.stringify(outputLine('b'))}`);
    const batch = fake.addBatch({ status: 'completed', output_file_id: output });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect([...finished.results.keys()]).toEqual(['a', 'b']);
  });

  test.each([
    ['not JSON', '{"custom_id": "a", '],
    ['no custom_id', JSON.stringify({ id: 'x', response: null, error: { code: 'e', message: 'm' } })],
    ['a response without status', JSON.stringify({ id: 'x', custom_id: 'a', response: { body: {} }, error: null })],
  ])('a malformed output line (%s) is a ProviderError', async (_case, line) => {
    // Arrange
    const output = fake.addFile(`${JSON.stringify(outputLine('ok'))}\n${line}\n`);
    const batch = fake.addBatch({ status: 'completed', output_file_id: output });

    // Act
    const polling = provider.pollBatch(batch.id);

    // Assert
    await expect(polling).rejects.toBeInstanceOf(ProviderError);
  });

  test('an unknown batch is an InvalidRequestError', async () => {
    // Act
    const polling = provider.pollBatch('batch_unknown');

    // Assert
    await expect(polling).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('batch mode: cancelBatch', () => {
  test('cancels a running batch', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'in_progress' });

    // Act
    await provider.cancelBatch(batch.id);

    // Assert
    expect(fake.storedBatches.get(batch.id)?.status).toBe('cancelling');
  });

  test('leaves a finished batch as it is, without an error', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'completed' });

    // Act
    const cancelling = provider.cancelBatch(batch.id);

    // Assert
    await expect(cancelling).resolves.toBeUndefined();
    expect(fake.storedBatches.get(batch.id)?.status).toBe('completed');
  });

  test('a transient failure propagates', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'in_progress' });
    fake.failNext('batches.cancel', new APIConnectionError({ message: 'socket hang up' }));

    // Act
    const cancelling = provider.cancelBatch(batch.id);

    // Assert
    await expect(cancelling).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('toProviderError', () => {
  test.each([
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1500],
    ['retry-after in seconds', { 'retry-after': '2' }, 2000],
    ['retry-after-ms over retry-after', { 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    ['no header', {}, undefined],
    ['a header that is not a number', { 'retry-after-ms': 'soon' }, undefined],
  ])('429 with %s is a RateLimitedError', (_case, entries, expected) => {
    // Arrange
    const error = rateLimit(entries);

    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(RateLimitedError);
    expect((mapped as RateLimitedError).retryAfterMs).toBe(expected);
    expect(mapped.cause).toBe(error);
  });

  test('retry-after as an HTTP date is the time until then', () => {
    // Arrange
    const now = Date.parse('2026-11-01T12:00:00Z');

    // Act
    const wait = retryAfterMs(headers({ 'retry-after': 'Sun, 01 Nov 2026 12:00:30 GMT' }), now);

    // Assert
    expect(wait).toBe(30_000);
  });

  test('429 insufficient_quota is a permanent ProviderError', () => {
    // Act
    const mapped = toProviderError(rateLimit({}, 'insufficient_quota'));

    // Assert
    expect(mapped).toBeInstanceOf(ProviderError);
  });

  test.each([
    ['500', serverError(500)],
    ['503', serverError(503)],
    ['408', new APIError(408, apiBody('timeout'), 'timeout', headers())],
    ['409', new ConflictError(409, apiBody('conflict'), 'conflict', headers())],
    ['a connection error', new APIConnectionError({ message: 'ECONNRESET' })],
    ['a timeout', new APIConnectionTimeoutError()],
  ])('%s is a ProviderUnavailableError', (_case, error) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(ProviderUnavailableError);
    expect(mapped.name).toBe('ProviderUnavailableError');
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['400', new BadRequestError(400, apiBody('bad', 'invalid_value'), 'bad', headers()), 'invalid_value'],
    ['404', new NotFoundError(404, apiBody('nope', 'model_not_found'), 'nope', headers()), 'model_not_found'],
    ['422', new UnprocessableEntityError(422, apiBody('no'), 'no', headers()), 'invalid_request'],
  ])('%s is an InvalidRequestError with the API code', (_case, error, code) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(InvalidRequestError);
    expect((mapped as InvalidRequestError).code).toBe(code);
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['401', new AuthenticationError(401, apiBody('bad key'), 'bad key', headers())],
    ['403', new PermissionDeniedError(403, apiBody('forbidden'), 'forbidden', headers())],
  ])('%s is a ProviderAuthError', (_case, error) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(ProviderAuthError);
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['an unexpected status', new APIError(418, apiBody('teapot'), 'teapot', headers())],
    ['a plain error', new TypeError('x is undefined')],
    ['a thrown string', 'weird'],
  ])('%s is a ProviderError', (_case, error) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped.name).toBe('ProviderError');
    expect(mapped.cause).toBe(error);
  });

  test('our own errors pass through unchanged', () => {
    // Arrange
    const own = [
      new RateLimitedError('slow', 10),
      new ProviderUnavailableError('down'),
      new InvalidRequestError('bad', 'code'),
      new ProviderAuthError('key'),
      new ProviderError('odd'),
    ];

    // Act
    const mapped = own.map((error) => toProviderError(error));

    // Assert
    mapped.forEach((error, index) => expect(error).toBe(own[index]));
  });
});

describe('usageFromBody', () => {
  test.each([
    ['a Responses body', { usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9 } }, { inputTokens: 7, outputTokens: 2 }],
    ['a Chat Completions body', { usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } }, { inputTokens: 12, outputTokens: 3 }],
    ['an Embeddings body', { usage: { prompt_tokens: 5, total_tokens: 5 } }, { inputTokens: 5, outputTokens: 0 }],
    ['a body without usage', { id: 'resp_1' }, undefined],
    ['null usage', { usage: null }, undefined],
    ['usage without counts', { usage: { total_tokens: 4 } }, undefined],
    ['not an object', 'text', undefined],
    ['nothing', undefined, undefined],
  ])('reads %s', (_case, body, expected) => {
    // Act
    const usage = usageFromBody(body);

    // Assert
    expect(usage).toEqual(expected);
  });
});

describe('the real SDK client', () => {
  function clientOver(
    answer: (request: Request) => Response,
    seen: Request[],
  ): OpenAI {
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
    expect(seen[0]?.headers.get('idempotency-key')).toBe('job-1:item-1:0');
    expect(finished.output.response?.request_id).toBe('req_abc');
  });

  test('a 429 answer becomes a RateLimitedError with retryAfterMs', async () => {
    // Arrange
    const client = clientOver(
      () => json({ error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } }, 429, { 'retry-after-ms': '1500' }),
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
            : { data: [{ id: 'batch_1', metadata: { llm_batch_job_id: 'j', llm_batch_batch_id: 'b' } }], has_more: false };
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
