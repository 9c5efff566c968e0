import type { TokenUsage } from '../types.js';
import { isRecord } from '../is-record.js';

/**
 * Token usage of a response body: Responses API (`usage.input_tokens` / `usage.output_tokens`)
 * or Chat Completions and Embeddings (`usage.prompt_tokens` / `usage.completion_tokens`).
 * A missing half counts as 0 (embeddings have no completion tokens); no usage at all is undefined.
 */
export function usageFromBody(body: unknown): TokenUsage | undefined {
  if (!isRecord(body) || !isRecord(body.usage)) return undefined;
  const usage = body.usage;
  const responses = pair(usage.input_tokens, usage.output_tokens);
  if (responses) return responses;
  return pair(usage.prompt_tokens, usage.completion_tokens);
}

function pair(input: unknown, output: unknown): TokenUsage | undefined {
  const inputTokens = tokenCount(input);
  const outputTokens = tokenCount(output);
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  return { inputTokens: inputTokens ?? 0, outputTokens: outputTokens ?? 0 };
}

function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
