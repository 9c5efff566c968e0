import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from './clock.js';
import type { JobTypeRegistry } from './job-types/registry.js';
import type { JobMetrics } from './metrics/job-metrics.js';
import type { Provider } from './provider/provider.js';
import type { RateLimiter } from './rate-limit/rate-limiter.js';
import type { JobStore } from './store/job-store.js';
import type { ObjectStore } from './store/object-store.js';

/** Where task logic writes its own diagnostics (Powertools Logger in Lambda). */
export interface TaskLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Everything task logic needs, passed in so tests hand in fakes and mocks. */
export interface TaskDeps {
  store: JobStore;
  objects: ObjectStore;
  /** Resolved on first use: the key may come from Secrets Manager. */
  provider: () => Promise<Provider>;
  /**
   * The shared request budget of the provider's key (one DynamoDB bucket for every process and
   * job on that key). Resolved with the provider: its id derives from the key.
   */
  rateLimiter: () => Promise<RateLimiter>;
  jobTypes: JobTypeRegistry;
  /** The document client job types use to apply results elsewhere. */
  dynamo: DynamoDBDocumentClient;
  /** The process's one clock: tests pass one they move by hand. */
  clock: Clock;
  logger: TaskLogger;
  /** Where each task invocation's progress goes as CloudWatch metrics (Lambda); none locally and in tests. */
  metrics?: JobMetrics;
}
