import { describe, expect, test } from '@jest/globals';
import { ValidationError } from '../../shared/errors.js';
import { openaiBatchJobType } from '../../shared/job-types/openai-batch.js';
import type { JobOptions, OutputLine } from '../../shared/types.js';

function jobOptions(overrides: Partial<JobOptions> = {}): JobOptions {
  return { mode: 'batch', batchSize: 1000, maxConcurrency: 5, toleratedFailurePercentage: 0, params: {}, ...overrides };
}

function requestLine(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    custom_id: 'req-1',
    method: 'POST',
    url: '/v1/responses',
    body: { model: 'gpt-5-mini', input: 'Say hi' },
    ...overrides,
  };
}

function succeeded(body: unknown): OutputLine {
  return {
    id: 'batch_req_1',
    custom_id: 'req-1',
    response: { status_code: 200, request_id: 'req_abc', body },
    error: null,
  };
}

function validationError(action: () => unknown): ValidationError {
  try {
    action();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('openai-batch job type', () => {
  test('a valid line is sent as it is', () => {
    const line = requestLine({
      url: '/v1/chat/completions',
      body: { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] },
    });

    const parsed = openaiBatchJobType.parseLine(line);
    const request = openaiBatchJobType.compile(jobOptions({ model: 'gpt-5-mini' })).toRequest(line);

    expect(parsed).toEqual({ customId: 'req-1' });
    expect(request).toEqual({
      custom_id: 'req-1',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] },
    });
  });

  test("the job's model fills in a line without body.model", () => {
    const line = requestLine({ body: { input: 'Say hi' } });

    const request = openaiBatchJobType.compile(jobOptions({ model: 'gpt-5-mini' })).toRequest(line);

    expect(request.body).toEqual({ input: 'Say hi', model: 'gpt-5-mini' });
  });

  test('a line without body.model is invalid when the job has no default model', () => {
    const line = requestLine({ body: { input: 'Say hi' } });

    const error = validationError(() => openaiBatchJobType.compile(jobOptions()).toRequest(line));

    expect(error.where).toBe('body.model');
    expect(error.message).toBe(
      'body.model: is required: set body.model on the line or a default model in the job options',
    );
  });

  test('an unsupported url names the url and the supported ones', () => {
    const error = validationError(() => openaiBatchJobType.parseLine(requestLine({ url: '/v1/embeddings' })));

    expect(error.where).toBe('url');
    expect(error.detail).toBe('url "/v1/embeddings" is not supported; use one of /v1/responses, /v1/chat/completions');
  });

  test.each([
    ['custom_id missing', { custom_id: undefined }, 'custom_id', /is required/],
    ['custom_id empty', { custom_id: '' }, 'custom_id', /non-empty string/],
    ['custom_id not a string', { custom_id: 42 }, 'custom_id', /got a number/],
    ['custom_id too long', { custom_id: 'x'.repeat(513) }, 'custom_id', /513 characters long; at most 512/],
    ['method not POST', { method: 'GET' }, 'method', /"GET" is not supported; use "POST"/],
    ['method missing', { method: undefined }, 'method', /missing; use "POST"/],
    ['url missing', { url: undefined }, 'url', /is required; use one of/],
    ['url not a string', { url: 7 }, 'url', /must be a string, got a number/],
    ['body missing', { body: undefined }, 'body', /is required: a JSON object/],
    ['body an array', { body: [] }, 'body', /must be a JSON object, got an array/],
    ['body.model not a string', { body: { model: 5 } }, 'body.model', /non-empty string, got a number/],
  ])('%s is a ValidationError naming %s', (_case, overrides, where, message) => {
    const error = validationError(() => openaiBatchJobType.parseLine(requestLine(overrides)));

    expect(error.where).toBe(where);
    expect(error.detail).toMatch(message);
  });

  test('toRequest rejects what parseLine rejects', () => {
    const error = validationError(() =>
      openaiBatchJobType.compile(jobOptions()).toRequest(requestLine({ url: '/v1/embeddings' })),
    );

    expect(error.where).toBe('url');
  });

  test.each([
    ['null', null, 'got null'],
    ['an array', [1, 2], 'got an array'],
    ['a string', 'hello', 'got a string'],
  ])('a line that is %s is rejected', (_case, line, message) => {
    const error = validationError(() => openaiBatchJobType.parseLine(line as unknown as Record<string, unknown>));

    expect(error.message).toBe(`each line must be a JSON object, ${message}`);
  });

  test('options: params are rejected and the model must be a non-empty string', () => {
    const unknownParam = validationError(() => openaiBatchJobType.compile(jobOptions({ params: { template: 'x' } })));
    const emptyModel = validationError(() => openaiBatchJobType.compile(jobOptions({ model: ' ' })));

    expect(unknownParam.where).toBe('params.template');
    expect(unknownParam.detail).toBe('"template" is not a known setting; none are accepted here');
    expect(emptyModel.where).toBe('model');
    expect(() => openaiBatchJobType.compile(jobOptions())).not.toThrow();
  });

  test('toResult of a /v1/responses body is its output text, all output_text parts concatenated', () => {
    const output = succeeded({
      object: 'response',
      status: 'completed',
      output: [
        { type: 'reasoning', id: 'rs_1', summary: [] },
        {
          type: 'message',
          role: 'assistant',
          content: [
            { type: 'output_text', text: 'Hello, ', annotations: [] },
            { type: 'output_text', text: 'world.', annotations: [] },
          ],
        },
      ],
    });

    const result = openaiBatchJobType.compile(jobOptions()).toResult(output);

    expect(result).toBe('Hello, world.');
  });

  test('toResult of a /v1/chat/completions body is choices[0].message.content', () => {
    const output = succeeded({
      object: 'chat.completion',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hi there', refusal: null }, finish_reason: 'stop' },
      ],
    });

    const result = openaiBatchJobType.compile(jobOptions()).toResult(output);

    expect(result).toBe('Hi there');
  });

  test.each([
    [
      'a tool call only',
      succeeded({ object: 'response', output: [{ type: 'function_call', name: 'f', arguments: '{}' }] }),
    ],
    [
      'a chat completion with null content',
      succeeded({ choices: [{ message: { role: 'assistant', content: null } }] }),
    ],
    [
      'an error response',
      {
        id: 'b1',
        custom_id: 'req-1',
        response: { status_code: 400, request_id: 'r', body: { error: {} } },
        error: null,
      },
    ],
    ['no response', { id: 'b1', custom_id: 'req-1', response: null, error: { code: 'expired', message: 'expired' } }],
  ])('toResult is undefined for %s', (_case, output) => {
    const result = openaiBatchJobType.compile(jobOptions()).toResult(output);

    expect(result).toBeUndefined();
  });
});
