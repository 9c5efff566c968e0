import { createHash } from 'node:crypto';
import OpenAI, { type Uploadable } from 'openai';
import type { BatchCreateParams } from 'openai/resources/batches';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { ResponseCreateParamsNonStreaming } from 'openai/resources/responses/responses';
import { observingFetch, type FetchLike, type ProviderAnswerObserver } from './rate-limit-headers.js';

/** Per-call options we hand the SDK. */
export interface OpenAIRequestOptions {
  idempotencyKey?: string;
  headers?: Record<string, string>;
  maxRetries?: number;
}

/**
 * The Idempotency-Key header for a stable key such as `<jobId>:<customId>`: its SHA-256 in hex. A
 * header value is Latin-1 only (fetch refuses `名` with "Cannot convert argument to a ByteString")
 * and ids are any Unicode; the hash is ASCII, 64 characters, and the same on every retry.
 */
export function idempotencyHeaderValue(stableKey: string): string {
  return createHash('sha256').update(stableKey, 'utf8').digest('hex');
}

/**
 * Cancels are not retried by the SDK: OpenAI answers 409 for a batch that already finished, the
 * SDK would retry that conflict, and the provider handles it itself.
 */
export const CANCEL_OPTIONS: OpenAIRequestOptions = { maxRetries: 0 };

/** The fields of a Response (GET /v1/responses/{id}) this provider reads. */
export interface OpenAIResponseLike {
  id: string;
  status?: string | null;
  error?: { code: string; message: string } | null;
  /** x-request-id of the call, set (non-enumerable) by the SDK. */
  _request_id?: string | null;
}

/** The fields of a ChatCompletion this provider reads. */
export interface OpenAIChatCompletionLike {
  id: string;
  _request_id?: string | null;
}

/** The fields of a Batch this provider reads. */
export interface OpenAIBatchLike {
  id: string;
  status: string;
  output_file_id?: string | null;
  error_file_id?: string | null;
  errors?: { data?: Array<{ code?: string | null; message?: string | null }> | null } | null;
  metadata?: Record<string, string> | null;
  request_counts?: { total: number; completed: number; failed: number } | null;
}

/**
 * The subset of the official `OpenAI` client this provider uses. `new OpenAI(...)` satisfies it;
 * tests hand in a fake.
 */
export interface OpenAIClientLike {
  responses: {
    create(body: ResponseCreateParamsNonStreaming, options?: OpenAIRequestOptions): PromiseLike<OpenAIResponseLike>;
    retrieve(responseId: string): PromiseLike<OpenAIResponseLike>;
    cancel(responseId: string, options?: OpenAIRequestOptions): PromiseLike<unknown>;
  };
  chat: {
    completions: {
      create(
        body: ChatCompletionCreateParamsNonStreaming,
        options?: OpenAIRequestOptions,
      ): PromiseLike<OpenAIChatCompletionLike>;
    };
  };
  files: {
    create(body: { file: Uploadable; purpose: 'batch' }): PromiseLike<{ id: string }>;
    /** The SDK returns the fetch `Response`. */
    content(fileId: string): PromiseLike<{ text(): Promise<string> }>;
  };
  batches: {
    create(body: BatchCreateParams, options?: OpenAIRequestOptions): PromiseLike<OpenAIBatchLike>;
    retrieve(batchId: string): PromiseLike<OpenAIBatchLike>;
    cancel(batchId: string, options?: OpenAIRequestOptions): PromiseLike<unknown>;
    /** Newest first; auto-paginates when iterated. */
    list(query: { limit?: number }): AsyncIterable<OpenAIBatchLike>;
  };
}

/** What every provider mode over the OpenAI client is built from. */
export interface OpenAIModeOptions {
  client: OpenAIClientLike;
  /**
   * SDK retries for the calls that create work (responses, chat completions, batches), which the
   * provider's rate limits apply to. The rate-limited submit task sets 0 and retries itself, so
   * that every retry waits for the shared budget; absent, the client's own setting applies.
   */
  createMaxRetries?: number;
}

/** The SDK options of a call that creates work; undefined leaves the client's own retries. */
export function createCallOptions(createMaxRetries: number | undefined): OpenAIRequestOptions | undefined {
  return createMaxRetries === undefined ? undefined : { maxRetries: createMaxRetries };
}

export interface CreateOpenAIClientOptions {
  apiKey: string;
  /** Any OpenAI-compatible endpoint; the SDK default (api.openai.com) when absent. */
  baseURL?: string;
  /** Retries inside the SDK (408/409/429/5xx, connection errors); the SDK default is 2. */
  maxRetries?: number;
  timeoutMs?: number;
  /** Sees the status and x-ratelimit-* headers of every answer (see rate-limit-headers.ts). */
  onAnswer?: ProviderAnswerObserver;
  /** The fetch the client calls (the global fetch when absent); tests hand in a stub. */
  fetch?: FetchLike;
}

/** The production client: one per process, created at module scope by the caller. */
export function createOpenAIClient(options: CreateOpenAIClientOptions): OpenAI {
  const fetch = options.onAnswer ? observingFetch(options.onAnswer, options.fetch) : options.fetch;
  return new OpenAI({
    apiKey: options.apiKey,
    ...(options.baseURL !== undefined && { baseURL: options.baseURL }),
    ...(options.maxRetries !== undefined && { maxRetries: options.maxRetries }),
    ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
    ...(fetch !== undefined && { fetch }),
  });
}
