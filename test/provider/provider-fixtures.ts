import { InternalServerError, RateLimitError } from 'openai';
import type { BatchProgress, RequestProgress } from '../../shared/provider/provider.js';
import type { ProviderRequest } from '../../shared/types.js';

// Requests, SDK errors and batch file lines the provider tests build their cases from.

export function responsesRequest(customId = 'item-1'): ProviderRequest {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/responses',
    body: { model: 'gpt-5-mini', input: `say hi to ${customId}` },
  };
}

export function chatRequest(customId = 'item-1'): ProviderRequest {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] },
  };
}

export function headers(entries: Record<string, string> = {}): Headers {
  return new Headers(entries);
}

export function apiBody(message: string, code: string | null = null) {
  return { message, type: 'error', code, param: null };
}

export function rateLimit(entries: Record<string, string>, code: string | null = null): RateLimitError {
  return new RateLimitError(429, apiBody('slow down', code), 'slow down', headers(entries));
}

export function serverError(status = 500): InternalServerError {
  return new InternalServerError(status, apiBody('boom'), 'boom', headers());
}

export function doneResult(progress: RequestProgress) {
  if (!progress.done) throw new Error(`expected a finished request, got ${progress.status}`);
  return progress;
}

export function finishedBatch(progress: BatchProgress) {
  if (!progress.done) throw new Error(`expected a finished batch, got ${progress.status}`);
  return progress;
}

export function jsonl(lines: unknown[]): string {
  return lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
}

export function outputLine(customId: string, statusCode = 200, body: unknown = undefined) {
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

export function errorFileLine(customId: string, code: string, message: string) {
  return { id: `batch_req_${customId}`, custom_id: customId, response: null, error: { code, message } };
}
