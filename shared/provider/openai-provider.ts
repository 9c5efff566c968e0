import type { ProviderRequest } from '../types.js';
import { OpenAIBatchProvider, type OpenAIBatchProviderOptions } from './openai-batches.js';
import { OpenAIResponsesProvider } from './openai-responses.js';
import type {
  BatchMetadata,
  BatchProgress,
  BatchProvider,
  Provider,
  RequestProgress,
  ResponsesProvider,
} from './provider.js';

// Kept importable from here: the client setup and the batch file limits.
export {
  createOpenAIClient,
  type CreateOpenAIClientOptions,
  type OpenAIBatchLike,
  type OpenAIChatCompletionLike,
  type OpenAIClientLike,
  type OpenAIRequestOptions,
  type OpenAIResponseLike,
} from './openai-client.js';
export { MAX_BATCH_FILE_BYTES, MAX_REQUESTS_PER_BATCH } from './batch-files.js';

/** Both modes' options: the client, the SDK retries of creating calls, findBatch's scan bound. */
export type OpenAIProviderOptions = OpenAIBatchProviderOptions;

/**
 * Provider over the official OpenAI SDK, against api.openai.com or any compatible base URL:
 * responses mode (openai-responses.ts) and batch mode (openai-batches.ts) on one client.
 */
export class OpenAIProvider implements Provider {
  private readonly responses: ResponsesProvider;
  private readonly batches: BatchProvider;

  constructor(options: OpenAIProviderOptions) {
    this.responses = new OpenAIResponsesProvider(options);
    this.batches = new OpenAIBatchProvider(options);
  }

  submitRequest(request: ProviderRequest, idempotencyKey: string): Promise<RequestProgress> {
    return this.responses.submitRequest(request, idempotencyKey);
  }

  pollRequest(providerId: string, customId: string): Promise<RequestProgress> {
    return this.responses.pollRequest(providerId, customId);
  }

  cancelRequest(providerId: string): Promise<void> {
    return this.responses.cancelRequest(providerId);
  }

  submitBatch(requests: ProviderRequest[], metadata: BatchMetadata): Promise<{ providerBatchId: string }> {
    return this.batches.submitBatch(requests, metadata);
  }

  findBatch(metadata: BatchMetadata): Promise<string | undefined> {
    return this.batches.findBatch(metadata);
  }

  pollBatch(providerBatchId: string): Promise<BatchProgress> {
    return this.batches.pollBatch(providerBatchId);
  }

  cancelBatch(providerBatchId: string): Promise<void> {
    return this.batches.cancelBatch(providerBatchId);
  }
}
