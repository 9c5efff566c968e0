import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { bucketParams } from './bucket.js';
import { RateBucketTable } from './bucket-table.js';
import { DEFAULT_CHUNK_SIZE, RateLimiter, type ObservedLimits } from './rate-limiter.js';

/** How a process's rate limiter is set up; every field has a default. */
export interface RateLimitSettings {
  /**
   * The period the provider's x-ratelimit-limit-* numbers count: a minute. A local mock that runs
   * time `timeScale` times faster counts its minute in 60,000 / timeScale real milliseconds.
   */
  windowMs?: number;
  /** Requests per window assumed until the provider's first answer carries its limit. */
  defaultRequestsPerWindow?: number;
  /** Tokens per window assumed until then; 0 = no token limit until one is learned. */
  defaultTokensPerWindow?: number;
  /** Requests taken from the shared bucket per DynamoDB write, at most. */
  chunkSize?: number;
}

/** OpenAI's usage tier 1 allows about 500 requests a minute on most models: a cautious start. */
export const DEFAULT_REQUESTS_PER_WINDOW = 500;

export interface RateLimiterWiring {
  dynamo: Pick<DynamoDBDocumentClient, 'send'>;
  tableName: string;
  /** providerKeyId(baseURL, apiKey) */
  keyId: string;
  settings?: RateLimitSettings;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onError?: (message: string, error: unknown) => void;
  /** Shared by the limiters of one key in one process (see RateLimiterOptions.observed). */
  observed?: ObservedLimits;
}

/** The rate limiter of one provider key, on its bucket in the job table. */
export function createRateLimiter(wiring: RateLimiterWiring): RateLimiter {
  const settings = wiring.settings ?? {};
  return new RateLimiter(new RateBucketTable(wiring.dynamo, wiring.tableName, wiring.keyId, wiring.clock), {
    defaults: {
      requests: settings.defaultRequestsPerWindow ?? DEFAULT_REQUESTS_PER_WINDOW,
      tokens: settings.defaultTokensPerWindow ?? 0,
    },
    params: bucketParams(settings.windowMs ?? 60_000),
    chunkSize: settings.chunkSize ?? DEFAULT_CHUNK_SIZE,
    ...(wiring.clock && { clock: wiring.clock }),
    ...(wiring.sleep && { sleep: wiring.sleep }),
    ...(wiring.random && { random: wiring.random }),
    ...(wiring.onError && { onError: wiring.onError }),
    ...(wiring.observed && { observed: wiring.observed }),
  });
}
