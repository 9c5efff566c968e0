import type { OutputLine, ProviderRequest, TokenUsage } from '../types.js';

/**
 * What the tasks need from an LLM provider, one interface per provider mode. `OpenAIProvider` implements it with the
 * official
 * SDK against any OpenAI-compatible base URL; tests hand in a fake OpenAI client to it.
 *
 * Errors: methods throw RateLimitedError / ProviderUnavailableError (transient: the task fails
 * and Step Functions retries it), ProviderAuthError / ProviderError (permanent for the task),
 * and InvalidRequestError (permanent for the one request: the caller records that item FAILED).
 */
export interface ResponsesProvider {
  /**
   * Responses mode: start one request. /v1/responses runs as a background Response;
   * /v1/chat/completions has no background mode, so it runs synchronously and comes back finished.
   * `idempotencyKey` (any Unicode, stable across our retries) is sent hashed as the Idempotency-Key header.
   */
  submitRequest(request: ProviderRequest, idempotencyKey: string): Promise<RequestProgress>;
  /** Responses mode: where a background response stands. */
  pollRequest(providerId: string, customId: string): Promise<RequestProgress>;
  /** Responses mode: cancel a background response; a finished one is left as it is. */
  cancelRequest(providerId: string): Promise<void>;
}

/** What batch mode needs: one OpenAI Batch per child batch of the job. */
export interface BatchProvider {
  /** Batch mode: upload the requests as a JSONL file (purpose=batch) and create one Batch (24h window). */
  submitBatch(requests: ProviderRequest[], metadata: BatchMetadata): Promise<{ providerBatchId: string }>;
  /**
   * Batch mode: a batch created earlier with this metadata, if any (recovers a submit whose task died before recording
   * it).
   */
  findBatch(metadata: BatchMetadata): Promise<string | undefined>;
  /** Batch mode: the batch's status; once terminal, every result matched by custom_id. */
  pollBatch(providerBatchId: string): Promise<BatchProgress>;
  /** Batch mode: cancel a batch; requests already finished keep their results. */
  cancelBatch(providerBatchId: string): Promise<void>;
}

/** Both modes: what one provider key offers. */
export interface Provider extends ResponsesProvider, BatchProvider {}

export interface BatchMetadata {
  jobId: string;
  batchId: string;
  /** The child batch's provider batch, counting from 1 (a resend of its unfinished lines is the next). */
  round?: number;
}

/** How one request ended, in the OpenAI Batch output format. */
export interface RequestResult {
  outcome: 'succeeded' | 'failed' | 'cancelled';
  output: OutputLine;
  usage?: TokenUsage;
}

export type RequestProgress =
  | { done: false; providerId: string; status: string }
  | ({ done: true; providerId: string; status: string } & RequestResult);

export type BatchProgress =
  | { done: false; status: string; counts: { total: number; completed: number; failed: number } }
  | {
      done: true;
      /** completed, failed, expired or cancelled */
      status: string;
      /** Results by custom_id, from the output and error files. */
      results: Map<string, RequestResult>;
      /**
       * How to end a request the batch has no result for: a failed batch's errors,
       * "batch expired before this request finished", or cancelled.
       */
      missing: { outcome: 'failed' | 'cancelled'; code: string; message: string };
    };
