/** The llm-batch HTTP API client: what the package exports for calling the API from code. */
export { LlmBatchClient, type LlmBatchClientOptions, type StartedJob, type StartOptions } from './client.js';
export { defaultAuthKind, regionOfHost, type AuthKind, type AuthOptions } from './auth.js';
export { LlmBatchApiError, LlmBatchClientConfigError, LlmBatchUnreachableError } from './errors.js';
export { DEFAULT_RETRY, type RetryOptions } from './retry.js';
export { EVENT_OVERHEAD_BYTES, fitsInline } from './uploads.js';
export type * from './types.js';
