import { createHash } from 'node:crypto';
import OpenAI, { APIError, toFile, type Uploadable } from 'openai';
import type { BatchCreateParams } from 'openai/resources/batches';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { ResponseCreateParamsNonStreaming } from 'openai/resources/responses/responses';
import {
  InvalidRequestError,
  ProviderError,
  ProviderUnavailableError,
  RateLimitedError,
  errorMessage,
} from '../errors.js';
import {
  SUPPORTED_URLS,
  type OutputLine,
  type ProviderErrorBody,
  type ProviderRequest,
  type SupportedUrl,
} from '../types.js';
import type {
  BatchMetadata,
  BatchProgress,
  Provider,
  RequestProgress,
  RequestResult,
} from './provider.js';
import { toProviderError } from './provider-errors.js';
import { observingFetch, type FetchLike, type ProviderAnswerObserver } from './rate-limit-headers.js';
import { usageFromBody } from './usage.js';
import { isRecord } from '../is-record.js';

/** Per-call options we hand the SDK. */
export interface OpenAIRequestOptions {
  idempotencyKey?: string;
  headers?: Record<string, string>;
  maxRetries?: number;
}

/**
 * Cancels are not retried by the SDK: OpenAI answers 409 for a batch that already finished, the
 * SDK would retry that conflict, and the provider handles it itself.
 */
const CANCEL_OPTIONS: OpenAIRequestOptions = { maxRetries: 0 };

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
    create(
      body: ResponseCreateParamsNonStreaming,
      options?: OpenAIRequestOptions,
    ): PromiseLike<OpenAIResponseLike>;
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

export interface OpenAIProviderOptions {
  client: OpenAIClientLike;
  /** How many batches findBatch looks through (newest first) before giving up. */
  maxBatchesToScan?: number;
  /**
   * SDK retries for the calls that create work (responses, chat completions, batches), which the
   * provider's rate limits apply to. The rate-limited submit task sets 0 and retries itself, so
   * that every retry waits for the shared budget; absent, the client's own setting applies.
   */
  createMaxRetries?: number;
}

/** OpenAI Batch API limits. */
export const MAX_REQUESTS_PER_BATCH = 50_000;
export const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;

const BATCH_METADATA_JOB_ID = 'llm_batch_job_id';
const BATCH_METADATA_BATCH_ID = 'llm_batch_batch_id';
const BATCH_RUNNING_STATUSES = new Set(['validating', 'in_progress', 'finalizing', 'cancelling']);
const RESPONSE_RUNNING_STATUSES = new Set(['queued', 'in_progress']);

/** Provider over the official OpenAI SDK, against api.openai.com or any compatible base URL. */
export class OpenAIProvider implements Provider {
  private readonly client: OpenAIClientLike;
  private readonly maxBatchesToScan: number;
  private readonly createOptions: OpenAIRequestOptions | undefined;
  /**
   * Input files uploaded for a batch whose creation then failed (a 429, an outage), by
   * job/batch id and content hash: a retry in this process creates the batch from the same file
   * instead of uploading it again.
   */
  private readonly uploads = new Map<string, { hash: string; fileId: string }>();

  constructor({ client, maxBatchesToScan = 1000, createMaxRetries }: OpenAIProviderOptions) {
    this.client = client;
    this.maxBatchesToScan = maxBatchesToScan;
    this.createOptions = createMaxRetries === undefined ? undefined : { maxRetries: createMaxRetries };
  }

  async submitRequest(request: ProviderRequest, idempotencyKey: string): Promise<RequestProgress> {
    // The OpenAI client ignores `idempotencyKey` unless a subclass sets an idempotency header
    // name, so the header is also set explicitly.
    const options: OpenAIRequestOptions = {
      idempotencyKey,
      headers: { 'Idempotency-Key': idempotencyKey },
      ...this.createOptions,
    };
    const url: string = request.url;
    if (url === '/v1/responses') {
      const body = {
        ...request.body,
        background: true,
        stream: false,
      } as unknown as ResponseCreateParamsNonStreaming;
      const response = await call(() => this.client.responses.create(body, options));
      return responseProgress(response, request.custom_id);
    }
    if (url === '/v1/chat/completions') {
      const body = { ...request.body, stream: false } as unknown as ChatCompletionCreateParamsNonStreaming;
      const completion = await call(() => this.client.chat.completions.create(body, options));
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
    const response = await call(() => this.client.responses.retrieve(providerId));
    return responseProgress(response, customId);
  }

  async cancelRequest(providerId: string): Promise<void> {
    await cancelUnlessFinished(
      () => this.client.responses.cancel(providerId, CANCEL_OPTIONS),
      async () => {
        const response = await call(() => this.client.responses.retrieve(providerId));
        return !RESPONSE_RUNNING_STATUSES.has(response.status ?? '');
      },
    );
  }

  async submitBatch(
    requests: ProviderRequest[],
    metadata: BatchMetadata,
  ): Promise<{ providerBatchId: string }> {
    const endpoint = batchEndpoint(requests);
    const jsonl = toJsonl(requests);
    const bytes = Buffer.from(jsonl, 'utf8');
    if (bytes.length > MAX_BATCH_FILE_BYTES) {
      throw new InvalidRequestError(
        `batch input file is ${bytes.length} bytes; the Batch API accepts at most ${MAX_BATCH_FILE_BYTES}: use smaller batches`,
        'batch_too_large',
      );
    }
    const uploadKey = `${metadata.jobId}/${metadata.batchId}`;
    const hash = createHash('sha256').update(bytes).digest('hex');
    const uploaded = this.uploads.get(uploadKey);
    let fileId = uploaded?.hash === hash ? uploaded.fileId : undefined;
    if (fileId === undefined) {
      const file = await toFile(bytes, `batch-${metadata.jobId}-${metadata.batchId}.jsonl`, {
        type: 'application/jsonl',
      });
      fileId = (await call(() => this.client.files.create({ file, purpose: 'batch' }))).id;
      this.uploads.set(uploadKey, { hash, fileId });
    }
    const body: BatchCreateParams = {
      input_file_id: fileId,
      endpoint,
      completion_window: '24h',
      metadata: {
        [BATCH_METADATA_JOB_ID]: metadata.jobId,
        [BATCH_METADATA_BATCH_ID]: metadata.batchId,
      },
    };
    try {
      const batch = await call(() =>
        this.createOptions ? this.client.batches.create(body, this.createOptions) : this.client.batches.create(body),
      );
      this.uploads.delete(uploadKey);
      return { providerBatchId: batch.id };
    } catch (error) {
      // Keep the file only for a retry that may succeed.
      if (!(error instanceof RateLimitedError || error instanceof ProviderUnavailableError)) this.uploads.delete(uploadKey);
      throw error;
    }
  }

  async findBatch(metadata: BatchMetadata): Promise<string | undefined> {
    let scanned = 0;
    try {
      for await (const batch of this.client.batches.list({ limit: 100 })) {
        if (
          batch.metadata?.[BATCH_METADATA_JOB_ID] === metadata.jobId &&
          batch.metadata[BATCH_METADATA_BATCH_ID] === metadata.batchId
        ) {
          return batch.id;
        }
        scanned += 1;
        if (scanned >= this.maxBatchesToScan) return undefined;
      }
    } catch (error) {
      throw toProviderError(error);
    }
    return undefined;
  }

  async pollBatch(providerBatchId: string): Promise<BatchProgress> {
    const batch = await call(() => this.client.batches.retrieve(providerBatchId));
    if (BATCH_RUNNING_STATUSES.has(batch.status)) {
      const counts = batch.request_counts;
      return {
        done: false,
        status: batch.status,
        counts: {
          total: counts?.total ?? 0,
          completed: counts?.completed ?? 0,
          failed: counts?.failed ?? 0,
        },
      };
    }
    const missing = missingResult(batch);
    const results = new Map<string, RequestResult>();
    for (const fileId of [batch.output_file_id, batch.error_file_id]) {
      if (!fileId) continue;
      for (const line of parseOutputFile(await this.download(fileId), fileId)) {
        if (!results.has(line.custom_id)) results.set(line.custom_id, resultFromLine(line));
      }
    }
    return { done: true, status: batch.status, results, missing };
  }

  async cancelBatch(providerBatchId: string): Promise<void> {
    await cancelUnlessFinished(
      () => this.client.batches.cancel(providerBatchId, CANCEL_OPTIONS),
      async () => {
        const batch = await call(() => this.client.batches.retrieve(providerBatchId));
        return batch.status === 'cancelling' || !BATCH_RUNNING_STATUSES.has(batch.status);
      },
    );
  }

  private async download(fileId: string): Promise<string> {
    const content = await call(() => this.client.files.content(fileId));
    try {
      return await content.text();
    } catch (error) {
      throw new ProviderUnavailableError(
        `could not read file ${fileId}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }
}

/** Runs one SDK call and maps its failure to our named errors. */
async function call<T>(fn: () => PromiseLike<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toProviderError(error);
  }
}

/**
 * Cancels, treating "it already finished" as success: a 400/404/422 answer, or a 409 (what some
 * OpenAI-compatible servers answer) when the object is indeed no longer running. Transient
 * failures propagate.
 */
async function cancelUnlessFinished(
  cancel: () => PromiseLike<unknown>,
  isFinished: () => Promise<boolean>,
): Promise<void> {
  try {
    await cancel();
  } catch (error) {
    const mapped = toProviderError(error);
    if (mapped instanceof InvalidRequestError) return;
    if (error instanceof APIError && error.status === 409 && (await isFinished())) return;
    throw mapped;
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
  return typeof value._request_id === 'string' && value._request_id !== ''
    ? value._request_id
    : value.id;
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

/** The one url every request of a batch targets (an OpenAI constraint), after checking the batch. */
function batchEndpoint(requests: ProviderRequest[]): SupportedUrl {
  const first = requests[0];
  if (first === undefined) {
    throw new InvalidRequestError('a batch needs at least one request', 'empty_batch');
  }
  if (requests.length > MAX_REQUESTS_PER_BATCH) {
    throw new InvalidRequestError(
      `a batch holds at most ${MAX_REQUESTS_PER_BATCH} requests, got ${requests.length}: use smaller batches`,
      'batch_too_large',
    );
  }
  const urls = new Set(requests.map((request) => request.url));
  if (urls.size > 1) {
    throw new InvalidRequestError(
      `all requests in one batch must share one url (an OpenAI Batch API constraint), got ${[...urls].join(', ')}`,
      'mixed_urls',
    );
  }
  if (!(SUPPORTED_URLS as readonly string[]).includes(first.url)) {
    throw new InvalidRequestError(`unsupported url "${first.url}"`, 'unsupported_url');
  }
  const seen = new Set<string>();
  for (const request of requests) {
    if (seen.has(request.custom_id)) {
      throw new InvalidRequestError(
        `custom_id "${request.custom_id}" appears twice in the batch; the Batch API needs unique ids`,
        'duplicate_custom_id',
      );
    }
    seen.add(request.custom_id);
  }
  return first.url;
}

function toJsonl(requests: ProviderRequest[]): string {
  return requests
    .map(({ custom_id, url, body }) => JSON.stringify({ custom_id, method: 'POST', url, body }))
    .join('\n')
    .concat('\n');
}

/** Parses a batch output or error file; blank lines are skipped, a malformed line is a ProviderError. */
function parseOutputFile(text: string, fileId: string): OutputLine[] {
  const lines: OutputLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (raw.trim() === '') return;
    const where = `line ${index + 1} of batch file ${fileId}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new ProviderError(`malformed ${where}: ${errorMessage(error)}`, { cause: error });
    }
    lines.push(toOutputLine(parsed, where));
  });
  return lines;
}

function toOutputLine(value: unknown, where: string): OutputLine {
  const malformed = (reason: string) => new ProviderError(`malformed ${where}: ${reason}`);
  if (!isRecord(value)) throw malformed('not a JSON object');
  const { id, custom_id: customId, response, error } = value;
  if (typeof customId !== 'string' || customId === '') throw malformed('no custom_id');
  if (id !== undefined && id !== null && typeof id !== 'string') throw malformed('id is not a string');

  let outputResponse: OutputLine['response'] = null;
  if (response !== undefined && response !== null) {
    if (!isRecord(response) || typeof response.status_code !== 'number') {
      throw malformed('response has no numeric status_code');
    }
    outputResponse = {
      status_code: response.status_code,
      request_id: typeof response.request_id === 'string' ? response.request_id : '',
      body: response.body,
    };
  }
  let outputError: ProviderErrorBody | null = null;
  if (error !== undefined && error !== null) {
    if (!isRecord(error)) throw malformed('error is not an object');
    outputError = {
      code: typeof error.code === 'string' && error.code !== '' ? error.code : 'request_failed',
      message: typeof error.message === 'string' ? error.message : '',
    };
  }
  if (outputResponse === null && outputError === null) throw malformed('neither response nor error');
  return { id: typeof id === 'string' ? id : '', custom_id: customId, response: outputResponse, error: outputError };
}

/**
 * A line with a 2xx response and no error succeeded; anything else failed. A failed line whose
 * `error` is null (an HTTP error answer) gets one from the response body, so every failed result
 * carries `output.error`.
 */
function resultFromLine(line: OutputLine): RequestResult {
  const usage = usageFromBody(line.response?.body);
  const statusCode = line.response?.status_code;
  if (line.error === null && statusCode !== undefined && statusCode >= 200 && statusCode < 300) {
    return { outcome: 'succeeded', output: line, usage };
  }
  return { outcome: 'failed', output: { ...line, error: line.error ?? errorFromResponse(line) }, usage };
}

function errorFromResponse(line: OutputLine): ProviderErrorBody {
  const statusCode = line.response?.status_code ?? 0;
  const body = line.response?.body;
  const apiError = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const code = apiError?.code;
  const message = apiError?.message;
  return {
    code: typeof code === 'string' && code !== '' ? code : `http_${statusCode}`,
    message:
      typeof message === 'string' && message !== ''
        ? message
        : `the provider answered ${statusCode}`,
  };
}

function missingResult(
  batch: OpenAIBatchLike,
): Extract<BatchProgress, { done: true }>['missing'] {
  switch (batch.status) {
    case 'completed':
      return {
        outcome: 'failed',
        code: 'missing_from_output',
        message: 'the provider returned no result for this request',
      };
    case 'expired':
      return {
        outcome: 'failed',
        code: 'batch_expired',
        message: 'batch expired before this request finished',
      };
    case 'failed': {
      const first = batch.errors?.data?.[0];
      return {
        outcome: 'failed',
        code: first?.code || 'batch_failed',
        message: first?.message || `batch ${batch.id} failed`,
      };
    }
    case 'cancelled':
      return {
        outcome: 'cancelled',
        code: 'batch_cancelled',
        message: 'batch was cancelled before this request finished',
      };
    default:
      throw new ProviderError(`batch ${batch.id} has an unexpected status "${batch.status}"`);
  }
}

