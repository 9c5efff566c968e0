import { BadRequestError, NotFoundError } from 'openai';
import type { Uploadable } from 'openai';
import type { BatchCreateParams } from 'openai/resources/batches';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { ResponseCreateParamsNonStreaming } from 'openai/resources/responses/responses';
import type {
  OpenAIBatchLike,
  OpenAIClientLike,
  OpenAIRequestOptions,
  OpenAIResponseLike,
} from '../../shared/provider/openai-client.js';

export type FakeMethod =
  | 'responses.create'
  | 'responses.retrieve'
  | 'responses.cancel'
  | 'chat.completions.create'
  | 'files.create'
  | 'files.content'
  | 'batches.create'
  | 'batches.retrieve'
  | 'batches.cancel'
  | 'batches.list';

export type StoredResponse = OpenAIResponseLike & Record<string, unknown>;
export type StoredBatch = OpenAIBatchLike & Record<string, unknown>;

export interface StoredFile {
  filename: string;
  purpose: string;
  content: string;
}

const RUNNING_RESPONSE = new Set(['queued', 'in_progress']);
const RUNNING_BATCH = new Set(['validating', 'in_progress', 'finalizing']);

/**
 * An in-memory stand-in for the OpenAI API, shaped like the SDK client: it keeps responses,
 * files and batches, lets a test move them along, records every call and fails a call on demand
 * with a real SDK error.
 */
export class FakeOpenAI implements OpenAIClientLike {
  readonly calls: Array<{ method: FakeMethod; args: unknown[] }> = [];
  readonly storedResponses = new Map<string, StoredResponse>();
  readonly storedFiles = new Map<string, StoredFile>();
  /** In creation order; list() answers newest first, as the API does. */
  readonly storedBatches = new Map<string, StoredBatch>();
  /** Status a newly created background response starts in. */
  createdResponseStatus = 'queued';
  /** Whether answers carry the SDK's non-enumerable `_request_id`. */
  withRequestIds = true;
  /** Batches handed out by list() so far. */
  listed = 0;

  private counter = 0;
  private readonly failures = new Map<FakeMethod, unknown[]>();

  /** The next call of `method` throws `error`. */
  failNext(method: FakeMethod, error: unknown): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), error]);
  }

  /** Drops the failures still queued for `method`. */
  clearFailures(method: FakeMethod): void {
    this.failures.delete(method);
  }

  callsOf(method: FakeMethod): unknown[][] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  setResponse(id: string, patch: Record<string, unknown>): void {
    const response = this.storedResponses.get(id);
    if (!response) throw new Error(`fake: no response ${id}`);
    this.storedResponses.set(id, { ...response, ...patch });
  }

  addFile(content: string, purpose = 'batch_output'): string {
    const id = this.nextId('file');
    this.storedFiles.set(id, { filename: `${id}.jsonl`, purpose, content });
    return id;
  }

  addBatch(batch: Partial<StoredBatch>): StoredBatch {
    const stored: StoredBatch = { id: this.nextId('batch'), status: 'validating', ...batch };
    this.storedBatches.set(stored.id, stored);
    return stored;
  }

  setBatch(id: string, patch: Partial<StoredBatch>): void {
    const batch = this.storedBatches.get(id);
    if (!batch) throw new Error(`fake: no batch ${id}`);
    this.storedBatches.set(id, { ...batch, ...patch });
  }

  readonly responses = {
    create: async (body: ResponseCreateParamsNonStreaming, options?: OpenAIRequestOptions): Promise<StoredResponse> => {
      await this.enter('responses.create', body, options);
      const response: StoredResponse = {
        id: this.nextId('resp'),
        object: 'response',
        status: this.createdResponseStatus,
        model: body.model,
        output: [],
        error: null,
        usage: null,
      };
      this.storedResponses.set(response.id, response);
      return this.answer(response);
    },
    retrieve: async (responseId: string): Promise<StoredResponse> => {
      await this.enter('responses.retrieve', responseId);
      return this.answer(this.response(responseId));
    },
    cancel: async (responseId: string): Promise<StoredResponse> => {
      await this.enter('responses.cancel', responseId);
      const response = this.response(responseId);
      if (!RUNNING_RESPONSE.has(response.status ?? '')) {
        throw badRequest(`Cannot cancel a response with status '${response.status}'.`);
      }
      this.setResponse(responseId, { status: 'cancelled' });
      return this.answer(this.response(responseId));
    },
  };

  readonly chat = {
    completions: {
      create: async (
        body: ChatCompletionCreateParamsNonStreaming,
        options?: OpenAIRequestOptions,
      ): Promise<{ id: string } & Record<string, unknown>> => {
        await this.enter('chat.completions.create', body, options);
        return this.answer({
          id: this.nextId('chatcmpl'),
          object: 'chat.completion',
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
        });
      },
    },
  };

  readonly files = {
    create: async (body: { file: Uploadable; purpose: 'batch' }): Promise<{ id: string }> => {
      await this.enter('files.create', body);
      if (!(body.file instanceof File)) throw new Error('fake: expected a File');
      const id = this.nextId('file');
      this.storedFiles.set(id, {
        filename: body.file.name,
        purpose: body.purpose,
        content: await body.file.text(),
      });
      return this.answer({ id, object: 'file', purpose: body.purpose });
    },
    content: async (fileId: string): Promise<Response> => {
      await this.enter('files.content', fileId);
      const file = this.storedFiles.get(fileId);
      if (!file) throw notFound(`No such File object: ${fileId}`);
      return new Response(file.content);
    },
  };

  readonly batches = {
    create: async (body: BatchCreateParams, options?: OpenAIRequestOptions): Promise<StoredBatch> => {
      await (options === undefined ? this.enter('batches.create', body) : this.enter('batches.create', body, options));
      const input = this.storedFiles.get(body.input_file_id);
      if (!input) throw notFound(`No such File object: ${body.input_file_id}`);
      const total = input.content.split('\n').filter((line) => line.trim() !== '').length;
      return this.answer(
        this.addBatch({
          endpoint: body.endpoint,
          input_file_id: body.input_file_id,
          completion_window: body.completion_window,
          metadata: body.metadata ?? null,
          request_counts: { total, completed: 0, failed: 0 },
        }),
      );
    },
    retrieve: async (batchId: string): Promise<StoredBatch> => {
      await this.enter('batches.retrieve', batchId);
      return this.answer(this.batch(batchId));
    },
    cancel: async (batchId: string): Promise<StoredBatch> => {
      await this.enter('batches.cancel', batchId);
      const batch = this.batch(batchId);
      if (!RUNNING_BATCH.has(batch.status)) {
        throw badRequest(`Cannot cancel a batch with status '${batch.status}'.`);
      }
      this.setBatch(batchId, { status: 'cancelling' });
      return this.answer(this.batch(batchId));
    },
    list: (query: { limit?: number }): AsyncIterable<StoredBatch> => {
      this.record('batches.list', query);
      return this.iterate([...this.storedBatches.values()].reverse());
    },
  };

  private async *iterate(batches: StoredBatch[]): AsyncGenerator<StoredBatch> {
    for (const batch of batches) {
      this.listed += 1;
      await Promise.resolve();
      yield { ...batch };
    }
  }

  /** Records a call and throws the failure queued for it, as a rejected promise. */
  private async enter(method: FakeMethod, ...args: unknown[]): Promise<void> {
    await Promise.resolve();
    this.record(method, ...args);
  }

  private record(method: FakeMethod, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const queued = this.failures.get(method);
    if (queued && queued.length > 0) throw queued.shift();
  }

  private response(id: string): StoredResponse {
    const response = this.storedResponses.get(id);
    if (!response) throw notFound(`Response with id '${id}' not found.`);
    return response;
  }

  private batch(id: string): StoredBatch {
    const batch = this.storedBatches.get(id);
    if (!batch) throw notFound(`No batch found with id '${id}'.`);
    return batch;
  }

  /** A copy, with `_request_id` non-enumerable as the SDK adds it. */
  private answer<T extends object>(value: T): T {
    const copy = { ...value };
    if (this.withRequestIds) {
      Object.defineProperty(copy, '_request_id', {
        value: this.nextId('req'),
        enumerable: false,
      });
    }
    return copy;
  }

  private nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }
}

export function badRequest(message: string, code: string | null = null): BadRequestError {
  return new BadRequestError(
    400,
    { message, type: 'invalid_request_error', code, param: null },
    message,
    new Headers(),
  );
}

export function notFound(message: string): NotFoundError {
  return new NotFoundError(
    404,
    { message, type: 'invalid_request_error', code: null, param: null },
    message,
    new Headers(),
  );
}
