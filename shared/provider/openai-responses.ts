import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { ResponseCreateParamsNonStreaming } from 'openai/resources/responses/responses';
import { InvalidRequestError, ProviderError } from '../errors.js';
import type { OutputLine, ProviderErrorBody, ProviderRequest } from '../types.js';
import {
  CANCEL_OPTIONS,
  createCallOptions,
  idempotencyHeaderValue,
  type OpenAIClientLike,
  type OpenAIModeOptions,
  type OpenAIRequestOptions,
  type OpenAIResponseLike,
} from './openai-client.js';
import type { RequestProgress, ResponsesProvider } from './provider.js';
import { callOpenAI, cancelUnlessFinished } from './provider-errors.js';
import { usageFromBody } from './usage.js';

const RESPONSE_RUNNING_STATUSES = new Set(['queued', 'in_progress']);

/**
 * Responses mode over the OpenAI client: one call per request, /v1/responses in the background
 * or /v1/chat/completions synchronously. Every result comes back as a Batch output line.
 */
export class OpenAIResponsesProvider implements ResponsesProvider {
  private readonly client: OpenAIClientLike;
  private readonly createOptions: OpenAIRequestOptions | undefined;

  constructor({ client, createMaxRetries }: OpenAIModeOptions) {
    this.client = client;
    this.createOptions = createCallOptions(createMaxRetries);
  }

  async submitRequest(request: ProviderRequest, idempotencyKey: string): Promise<RequestProgress> {
    // The OpenAI client ignores `idempotencyKey` unless a subclass sets an idempotency header
    // name, so the header is also set explicitly. Both carry the key's hash: ids are any Unicode.
    const headerValue = idempotencyHeaderValue(idempotencyKey);
    const options: OpenAIRequestOptions = {
      idempotencyKey: headerValue,
      headers: { 'Idempotency-Key': headerValue },
      ...this.createOptions,
    };
    const url: string = request.url;
    if (url === '/v1/responses') {
      const body = {
        ...request.body,
        background: true,
        stream: false,
      } as unknown as ResponseCreateParamsNonStreaming;
      const response = await callOpenAI(() => this.client.responses.create(body, options));
      return responseProgress(response, request.custom_id);
    }
    if (url === '/v1/chat/completions') {
      const body = { ...request.body, stream: false } as unknown as ChatCompletionCreateParamsNonStreaming;
      const completion = await callOpenAI(() => this.client.chat.completions.create(body, options));
      return {
        done: true,
        providerId: completion.id,
        status: 'completed',
        outcome: 'succeeded',
        output: successLine(completion.id, request.custom_id, requestIdOf(completion), completion),
        usage: usageFromBody(completion),
      };
    }
    throw new InvalidRequestError(
      `unsupported url "${url}" for responses mode; supported: /v1/responses, /v1/chat/completions`,
      'unsupported_url',
    );
  }

  async pollRequest(providerId: string, customId: string): Promise<RequestProgress> {
    const response = await callOpenAI(() => this.client.responses.retrieve(providerId));
    return responseProgress(response, customId);
  }

  async cancelRequest(providerId: string): Promise<void> {
    await cancelUnlessFinished(
      () => this.client.responses.cancel(providerId, CANCEL_OPTIONS),
      async () => {
        const response = await callOpenAI(() => this.client.responses.retrieve(providerId));
        return !RESPONSE_RUNNING_STATUSES.has(response.status ?? '');
      },
    );
  }
}

function responseProgress(response: OpenAIResponseLike, customId: string): RequestProgress {
  const providerId = response.id;
  const status = response.status ?? 'unknown';
  const usage = usageFromBody(response);
  switch (status) {
    case 'queued':
    case 'in_progress':
      return { done: false, providerId, status };
    case 'completed':
    case 'incomplete':
      return {
        done: true,
        providerId,
        status,
        outcome: 'succeeded',
        output: successLine(providerId, customId, requestIdOf(response), response),
        usage,
      };
    case 'failed': {
      const error = {
        code: response.error?.code || 'response_failed',
        message: response.error?.message || 'the response failed',
      };
      return {
        done: true,
        providerId,
        status,
        outcome: 'failed',
        output: errorLine(providerId, customId, error),
        usage,
      };
    }
    case 'cancelled':
      return {
        done: true,
        providerId,
        status,
        outcome: 'cancelled',
        output: errorLine(providerId, customId, {
          code: 'cancelled',
          message: 'the response was cancelled',
        }),
        usage,
      };
    default:
      throw new ProviderError(`response ${providerId} has an unexpected status "${status}"`);
  }
}

function requestIdOf(value: { id: string; _request_id?: string | null }): string {
  return typeof value._request_id === 'string' && value._request_id !== '' ? value._request_id : value.id;
}

function successLine(id: string, customId: string, requestId: string, body: unknown): OutputLine {
  return {
    id,
    custom_id: customId,
    response: { status_code: 200, request_id: requestId, body },
    error: null,
  };
}

function errorLine(id: string, customId: string, error: ProviderErrorBody): OutputLine {
  return { id, custom_id: customId, response: null, error };
}
