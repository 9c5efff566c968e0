import { ConflictError } from 'openai';
import { beforeEach, describe, expect, test } from '@jest/globals';
import { InvalidRequestError, ProviderError, ProviderUnavailableError } from '../../shared/errors.js';
import { OpenAIResponsesProvider } from '../../shared/provider/openai-responses.js';
import type { ProviderRequest } from '../../shared/types.js';
import { FakeOpenAI, badRequest } from './fake-openai.js';
import {
  apiBody,
  chatRequest,
  doneResult,
  headers,
  rateLimit,
  responsesRequest,
  serverError,
} from './provider-fixtures.js';

/** sha256('job-1:item-1:0') in hex. */
const KEY_HASH = 'fa0a2375f95752e237a693457c84e9b47be73fad104b4582509b48e0bceeaad6';
let fake: FakeOpenAI;
let provider: OpenAIResponsesProvider;

beforeEach(() => {
  fake = new FakeOpenAI();
  provider = new OpenAIResponsesProvider({ client: fake });
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
    // The key's SHA-256: a header carries only Latin-1, and ids are any Unicode.
    expect(options).toEqual({
      idempotencyKey: KEY_HASH,
      headers: { 'Idempotency-Key': KEY_HASH },
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
    expect(options).toMatchObject({ idempotencyKey: KEY_HASH, headers: { 'Idempotency-Key': KEY_HASH } });
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
