import { createHash } from 'node:crypto';
import { toFile } from 'openai';
import type { BatchCreateParams } from 'openai/resources/batches';
import { ProviderError, ProviderUnavailableError, RateLimitedError, errorMessage } from '../errors.js';
import type { ProviderRequest } from '../types.js';
import { batchInputFile, resultsByCustomId } from './batch-files.js';
import {
  CANCEL_OPTIONS,
  createCallOptions,
  type OpenAIBatchLike,
  type OpenAIClientLike,
  type OpenAIModeOptions,
  type OpenAIRequestOptions,
} from './openai-client.js';
import type { BatchMetadata, BatchProgress, BatchProvider } from './provider.js';
import { callOpenAI, cancelUnlessFinished, toProviderError } from './provider-errors.js';

export interface OpenAIBatchProviderOptions extends OpenAIModeOptions {
  /** How many batches findBatch looks through (newest first) before giving up. */
  maxBatchesToScan?: number;
}

/** Our ids in a Batch's metadata, which findBatch looks for. */
const BATCH_METADATA_JOB_ID = 'llm_batch_job_id';
const BATCH_METADATA_BATCH_ID = 'llm_batch_batch_id';
/** Set from the second round on: the first round's batches carry none. */
const BATCH_METADATA_ROUND = 'llm_batch_round';
const BATCH_RUNNING_STATUSES = new Set(['validating', 'in_progress', 'finalizing', 'cancelling']);

/** Batch mode over the OpenAI client: one Batch (an uploaded JSONL file) per child batch of a job. */
export class OpenAIBatchProvider implements BatchProvider {
  private readonly client: OpenAIClientLike;
  private readonly maxBatchesToScan: number;
  private readonly createOptions: OpenAIRequestOptions | undefined;
  /**
   * Input files uploaded for a batch whose creation then failed (a 429, an outage), by
   * job/batch id and content hash: a retry in this process creates the batch from the same file
   * instead of uploading it again.
   */
  private readonly uploads = new Map<string, { hash: string; fileId: string }>();

  constructor({ client, maxBatchesToScan = 1000, createMaxRetries }: OpenAIBatchProviderOptions) {
    this.client = client;
    this.maxBatchesToScan = maxBatchesToScan;
    this.createOptions = createCallOptions(createMaxRetries);
  }

  async submitBatch(requests: ProviderRequest[], metadata: BatchMetadata): Promise<{ providerBatchId: string }> {
    const { endpoint, bytes } = batchInputFile(requests);
    const round = metadata.round ?? 1;
    const uploadKey = `${metadata.jobId}/${metadata.batchId}/${round}`;
    const hash = createHash('sha256').update(bytes).digest('hex');
    const uploaded = this.uploads.get(uploadKey);
    let fileId = uploaded?.hash === hash ? uploaded.fileId : undefined;
    if (fileId === undefined) {
      const file = await toFile(bytes, `batch-${metadata.jobId}-${metadata.batchId}.jsonl`, {
        type: 'application/jsonl',
      });
      fileId = (await callOpenAI(() => this.client.files.create({ file, purpose: 'batch' }))).id;
      this.uploads.set(uploadKey, { hash, fileId });
    }
    const body: BatchCreateParams = {
      input_file_id: fileId,
      endpoint,
      completion_window: '24h',
      metadata: {
        [BATCH_METADATA_JOB_ID]: metadata.jobId,
        [BATCH_METADATA_BATCH_ID]: metadata.batchId,
        ...(round > 1 && { [BATCH_METADATA_ROUND]: String(round) }),
      },
    };
    try {
      const batch = await callOpenAI(() =>
        this.createOptions ? this.client.batches.create(body, this.createOptions) : this.client.batches.create(body),
      );
      this.uploads.delete(uploadKey);
      return { providerBatchId: batch.id };
    } catch (error) {
      // Keep the file only for a retry that may succeed.
      if (!(error instanceof RateLimitedError || error instanceof ProviderUnavailableError))
        this.uploads.delete(uploadKey);
      throw error;
    }
  }

  async findBatch(metadata: BatchMetadata): Promise<string | undefined> {
    let scanned = 0;
    try {
      for await (const batch of this.client.batches.list({ limit: 100 })) {
        if (
          batch.metadata?.[BATCH_METADATA_JOB_ID] === metadata.jobId &&
          batch.metadata[BATCH_METADATA_BATCH_ID] === metadata.batchId &&
          (batch.metadata[BATCH_METADATA_ROUND] ?? '1') === String(metadata.round ?? 1)
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
    const batch = await callOpenAI(() => this.client.batches.retrieve(providerBatchId));
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
    const results = await resultsByCustomId([batch.output_file_id, batch.error_file_id], (fileId) =>
      this.download(fileId),
    );
    return { done: true, status: batch.status, results, missing };
  }

  async cancelBatch(providerBatchId: string): Promise<void> {
    await cancelUnlessFinished(
      () => this.client.batches.cancel(providerBatchId, CANCEL_OPTIONS),
      async () => {
        const batch = await callOpenAI(() => this.client.batches.retrieve(providerBatchId));
        return batch.status === 'cancelling' || !BATCH_RUNNING_STATUSES.has(batch.status);
      },
    );
  }

  private async download(fileId: string): Promise<string> {
    const content = await callOpenAI(() => this.client.files.content(fileId));
    try {
      return await content.text();
    } catch (error) {
      throw new ProviderUnavailableError(`could not read file ${fileId}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

/** How a finished batch ends the requests it has no result for, by the batch's status. */
function missingResult(batch: OpenAIBatchLike): Extract<BatchProgress, { done: true }>['missing'] {
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
