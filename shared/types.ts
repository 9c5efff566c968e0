/** Job and item shapes shared by the tasks, the store and (later) the API. */

export const JOB_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = [
  'COMPLETED',
  'COMPLETED_WITH_ERRORS',
  'FAILED',
  'CANCELLED',
];

export const ITEM_STATUSES = ['QUEUED', 'SUBMITTED', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];
export type TerminalItemStatus = 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const TERMINAL_ITEM_STATUSES: readonly ItemStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export const PROVIDER_MODES = ['responses', 'batch'] as const;
export type ProviderMode = (typeof PROVIDER_MODES)[number];

/** Endpoints an item may target, as in the OpenAI Batch request format. */
export const SUPPORTED_URLS = ['/v1/responses', '/v1/chat/completions'] as const;
export type SupportedUrl = (typeof SUPPORTED_URLS)[number];

/** One line of an OpenAI Batch input file: what every job type turns its input line into. */
export interface ProviderRequest {
  custom_id: string;
  method: 'POST';
  url: SupportedUrl;
  body: Record<string, unknown>;
}

export interface ProviderErrorBody {
  code: string;
  message: string;
}

/** One line of an OpenAI Batch output file: the shape of every item's result. */
export interface OutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: ProviderErrorBody | null;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/** Options a job is started with; defaults filled in by `resolveJobOptions`. */
export interface JobOptions {
  mode: ProviderMode;
  /** Model for job types that build the request themselves (prompt, classify). */
  model?: string;
  /** Items per child execution of the Distributed Map. */
  batchSize: number;
  /** Child executions running at once. */
  maxConcurrency: number;
  /** Share of child batches that may fail before the whole map fails. */
  toleratedFailurePercentage: number;
  /**
   * Times an item is sent at most (1 to 10): a transient failure sends it again until then.
   * Filled in by `resolveJobOptions` (default 3); jobs created before it existed read as the default.
   */
  maxAttempts?: number;
  /** Job-type specific settings (template, labels, apply target...). */
  params: Record<string, unknown>;
}

export interface S3Location {
  bucket: string;
  key: string;
}

export interface JobCounts {
  total: number;
  submitted: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** Provider calls one task invocation made for a job, added to the job record in one write. */
export interface ProviderCallCounts {
  submit: number;
  poll: number;
  rateLimited: number;
}

/** How many times the items of a job were sent to the provider: the mean and the most for one item. */
export interface AttemptStats {
  mean: number;
  max: number;
}

export interface JobRecord {
  jobId: string;
  jobType: string;
  status: JobStatus;
  options: JobOptions;
  manifest: S3Location;
  results?: S3Location;
  counts: JobCounts;
  usage: TokenUsage;
  estimatedCostUsd?: number;
  /** Create calls sent to the provider for this job (each attempt counts; batch mode: one per batch). */
  providerSubmitCalls?: number;
  /** Status calls sent to the provider for this job. */
  providerPollCalls?: number;
  /** Provider answers of 429 (rate limited) seen by this job's tasks. */
  providerRateLimited?: number;
  /** Provider attempts per item (mean and max over every item), set by the reducer when the job ends. */
  attempts?: AttemptStats;
  source: 'api' | 'schedule';
  scheduleName?: string;
  /** Hash of the API request that created the job, to tell an Idempotency-Key replay from a reuse. */
  requestHash?: string;
  executionArn?: string;
  /** The job whose FAILED items this job retries (POST /jobs/{id}/retry). */
  parentJobId?: string;
  /** How many times the job's execution was redriven (POST /jobs/{id}/redrive). */
  redriveCount?: number;
  /** When its execution was last redriven. */
  redrivenAt?: string;
  cancelRequested?: boolean;
  /** Median provider latency seen by this job's polls (seconds): the first wait of later batches. */
  latencyEstimateSeconds?: number;
  error?: { name: string; message: string };
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
}

export interface ItemRecord {
  jobId: string;
  customId: string;
  /** Position in the manifest (0-based). */
  index: number;
  batchId: string;
  status: ItemStatus;
  /** Background response id (responses mode) or batch id (batch mode). */
  providerId?: string;
  /** Times the provider accepted the item (a background response or a provider batch holding it). */
  attempts: number;
  /** The transient error of the last attempt, while the item waits to be sent again. */
  lastError?: ProviderErrorBody;
  error?: ProviderErrorBody;
  usage?: TokenUsage;
  /** The item's line of the results file, once it is terminal. */
  output?: OutputLine;
  /** Job-type result derived from the response (a label, a text...). */
  result?: unknown;
  /** Estimated cost of this request (USD), when the model's price is known. */
  costUsd?: number;
  /** Where the output lives when it was too large for this record. */
  outputKey?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export interface LogEntry {
  jobId: string;
  at: string;
  level: 'INFO' | 'WARN' | 'ERROR';
  message: string;
  data?: Record<string, unknown>;
}

/** An item as carried through the Distributed Map: its manifest line and position. */
export interface ManifestItem {
  index: number;
  line: Record<string, unknown>;
}
