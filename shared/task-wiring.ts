import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { createAwsClients } from './clients.js';
import { systemClock, type Clock } from './clock.js';
import { loadConfig, type Config } from './config.js';
import type { TaskDeps } from './deps.js';
import { ConfigurationError, errorMessage } from './errors.js';
import { createDefaultRegistry } from './job-types/registry.js';
import { JobMetrics, METRICS_NAMESPACE, METRICS_SERVICE } from './metrics/job-metrics.js';
import { TimedProvider } from './metrics/timed-provider.js';
import { createOpenAIClient, OpenAIProvider } from './provider/openai-provider.js';
import type { Provider } from './provider/provider.js';
import type { FetchLike } from './provider/rate-limit-headers.js';
import { providerKeyId } from './rate-limit/bucket-table.js';
import type { ObservedLimits, RateLimiter } from './rate-limit/rate-limiter.js';
import { createRateLimiter, type RateLimitSettings } from './rate-limit/settings.js';
import { JobStore } from './store/job-store.js';
import { ObjectStore } from './store/object-store.js';

/**
 * The process-wide runtime of a Lambda function: configuration checked at cold start, one logger,
 * one metrics object and one client per service, shared by every invocation.
 */
export const logger = new Logger({ serviceName: 'llm-batch' });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
/**
 * The job metrics (items, calls, tokens, cost, latency by job type and mode): a Metrics object of
 * their own, published once per task invocation with only those dimensions, apart from `metrics`,
 * which the handler middleware flushes with the task's dimension.
 */
export const jobMetrics = new JobMetrics(new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE }));

export interface TaskDepsOptions {
  /** The provider's shared rate-limit bucket (defaults: a one-minute window, 500 requests before the first answer). */
  rateLimit?: RateLimitSettings;
  /** The fetch of the provider client (the global fetch when absent): the local runtime's in-process mock. */
  providerFetch?: FetchLike;
  /**
   * Give every `rateLimiter()` call a limiter of its own, as every concurrent Lambda invocation
   * has one in its own process. The local runtime runs many invocations in one process: sharing
   * one limiter would pool their reservations and hand them out interleaved.
   */
  limiterPerInvocation?: boolean;
  /**
   * The process's one clock (default: the wall clock). The local runtime passes its own, the one
   * its engine (Waits, retries), mock provider and store keep, so the waits a task computes
   * (polls, rate-limit turns) mean the same there as on AWS.
   */
  clock?: Clock;
  /**
   * Where the tasks' progress and provider latencies go as metrics (Lambda: `jobMetrics`). None by
   * default: the local runtime and the tests print no EMF.
   */
  metrics?: JobMetrics;
}

export function createTaskDeps(
  config: Config,
  log: Logger = logger,
  clients = createAwsClients(config),
  options: TaskDepsOptions = {},
): TaskDeps {
  const { dynamo, s3 } = clients;
  const clock = options.clock ?? systemClock;
  let provider: Promise<ProviderWithLimiter> | undefined;
  const resolve = () => (provider ??= createProvider(config, clients, log, options, clock));
  return {
    store: new JobStore(dynamo, config.tableName, config.recordTtlDays, () => clock.now()),
    objects: new ObjectStore(s3, config.bucketName),
    jobTypes: createDefaultRegistry(),
    dynamo,
    clock,
    logger: log,
    ...(options.metrics && { metrics: options.metrics }),
    provider: async () => (await resolve()).provider,
    rateLimiter: async () => {
      const resolved = await resolve();
      return options.limiterPerInvocation ? resolved.newLimiter() : resolved.limiter;
    },
  };
}

interface ProviderWithLimiter {
  provider: Provider;
  /** The process's limiter: it also learns the limits from every answer's headers. */
  limiter: RateLimiter;
  /** Another limiter of the same key (the same shared bucket). */
  newLimiter: () => RateLimiter;
}

/**
 * The provider client and the rate limiter of its key: the client shows the limiter every answer
 * (x-ratelimit-* headers), and leaves retrying create calls to the submit task, which waits for
 * the shared budget before each retry.
 */
async function createProvider(
  config: Config,
  clients: ReturnType<typeof createAwsClients>,
  log: Pick<Logger, 'warn'>,
  options: TaskDepsOptions,
  clock: Clock,
): Promise<ProviderWithLimiter> {
  const settings = options.rateLimit;
  const apiKey = config.openai.apiKey ?? (await readApiKeySecret(config.openai.apiKeySecretArn));
  const observed: ObservedLimits = {};
  const newLimiter = () =>
    createRateLimiter({
      observed,
      dynamo: clients.dynamo,
      tableName: config.tableName,
      keyId: providerKeyId(config.openai.baseURL, apiKey),
      ...(settings && { settings }),
      clock: () => clock.now().getTime(),
      sleep: (ms) => clock.sleep(ms),
      onError: (message, error) => log.warn(message, { error: errorMessage(error) }),
    });
  const limiter = newLimiter();
  const client = createOpenAIClient({
    apiKey,
    ...(config.openai.baseURL ? { baseURL: config.openai.baseURL } : {}),
    maxRetries: config.openai.maxRetries,
    timeoutMs: config.openai.timeoutMs,
    onAnswer: (answer) => limiter.observe(answer),
    ...(options.providerFetch && { fetch: options.providerFetch }),
  });
  const provider = new OpenAIProvider({ client, createMaxRetries: 0 });
  const { metrics: sink } = options;
  // Latency is measured here, around every provider call, so the provider modes know nothing of metrics.
  const measured = sink ? new TimedProvider(provider, clock, (ms) => sink.providerLatency(ms)) : provider;
  return { provider: measured, limiter, newLimiter };
}

async function readApiKeySecret(secretArn: string | undefined): Promise<string> {
  if (!secretArn) throw new ConfigurationError('set OPENAI_API_KEY or OPENAI_API_KEY_SECRET_ARN');
  // Cached for 5 minutes per container; the value is never logged.
  const value = await getSecret(secretArn, { maxAge: 300 });
  if (typeof value !== 'string' || !value) throw new ConfigurationError(`secret ${secretArn} holds no API key string`);
  return value.trim();
}

let lazyConfig: Config | undefined;
let lazyClients: ReturnType<typeof createAwsClients> | undefined;
let lazyDeps: TaskDeps | undefined;

/** This process's configuration, read from the environment once. */
export function runtimeConfig(): Config {
  return (lazyConfig ??= loadConfig(process.env));
}

/** This process's AWS clients, created once. */
export function runtimeClients(): ReturnType<typeof createAwsClients> {
  return (lazyClients ??= createAwsClients(runtimeConfig()));
}

/** The deps of this process, built on first use. */
export function runtimeDeps(): TaskDeps {
  return (lazyDeps ??= createTaskDeps(runtimeConfig(), logger, runtimeClients(), { metrics: jobMetrics }));
}
