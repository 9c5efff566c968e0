import type { ProviderRequest } from '../types.js';

/** Output tokens counted for a request that sets no maximum (the mock provider assumes the same). */
export const DEFAULT_OUTPUT_TOKENS = 256;

/**
 * The tokens a request is charged against the provider's tokens-per-minute limit before it runs,
 * the way OpenAI estimates it: about one token per 4 characters of input, plus the maximum output
 * the request allows (max_output_tokens, max_completion_tokens or max_tokens; a default when it
 * sets none). Every caller that charges tokens uses this one function.
 */
export function estimateRequestTokens(request: Pick<ProviderRequest, 'url' | 'body'>): number {
  const body = request.body;
  const maxOutput =
    request.url === '/v1/chat/completions' ? (body.max_completion_tokens ?? body.max_tokens) : body.max_output_tokens;
  const output =
    typeof maxOutput === 'number' && Number.isFinite(maxOutput) && maxOutput > 0 ? maxOutput : DEFAULT_OUTPUT_TOKENS;
  return estimateInputTokens(request) + output;
}

/**
 * The input tokens of a request, about one per 4 characters of its instructions and input (or
 * messages): what a provider batch holds in the batch queue while it runs.
 */
export function estimateInputTokens(request: Pick<ProviderRequest, 'url' | 'body'>): number {
  const body = request.body;
  const input = request.url === '/v1/chat/completions' ? [body.messages] : [body.instructions, body.input];
  return Math.ceil(input.reduce<number>((sum, part) => sum + textLength(part), 0) / 4);
}

/** Characters of every string inside a value (message text, content parts...). */
function textLength(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + textLength(item), 0);
  if (typeof value === 'object' && value !== null) {
    return Object.values(value).reduce<number>((sum, item) => sum + textLength(item), 0);
  }
  return 0;
}
