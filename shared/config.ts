import { ConfigurationError } from './errors.js';

/**
 * Settings read once, at cold start, from the environment. Nothing else reads process.env.
 * Every endpoint is configurable so the same code runs against the embedded local services.
 */
export interface Config {
  region: string;
  tableName: string;
  bucketName: string;
  /** Custom endpoints (local stand-ins); undefined means the AWS default. */
  dynamoEndpoint?: string;
  s3Endpoint?: string;
  stepFunctionsEndpoint?: string;
  /** The job state machine (the API starts executions of it). */
  stateMachineArn?: string;
  openai: {
    /** The key itself (local runs, tests) ... */
    apiKey?: string;
    /** ... or the Secrets Manager secret holding it (deployed stack). */
    apiKeySecretArn?: string;
    baseURL?: string;
    maxRetries: number;
    timeoutMs: number;
  };
  /** Days records are kept after a job ends (DynamoDB TTL). */
  recordTtlDays: number;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigurationError(`environment variable ${name} is required but not set`);
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function positiveNumber(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`environment variable ${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

export function loadConfig(env: Env): Config {
  return {
    region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    tableName: required(env, 'TABLE_NAME'),
    bucketName: required(env, 'BUCKET_NAME'),
    dynamoEndpoint: optional(env, 'DYNAMODB_ENDPOINT'),
    s3Endpoint: optional(env, 'S3_ENDPOINT'),
    stepFunctionsEndpoint: optional(env, 'STEP_FUNCTIONS_ENDPOINT'),
    stateMachineArn: optional(env, 'STATE_MACHINE_ARN'),
    openai: {
      apiKey: optional(env, 'OPENAI_API_KEY'),
      apiKeySecretArn: optional(env, 'OPENAI_API_KEY_SECRET_ARN'),
      baseURL: optional(env, 'OPENAI_BASE_URL'),
      maxRetries: positiveNumber(env, 'OPENAI_MAX_RETRIES', 2),
      timeoutMs: positiveNumber(env, 'OPENAI_TIMEOUT_MS', 60_000),
    },
    recordTtlDays: positiveNumber(env, 'RECORD_TTL_DAYS', 7),
  };
}

/** A setting only some functions need, checked where they start. */
export function requireSetting<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ConfigurationError(`environment variable ${name} is required but not set`);
  return value;
}
