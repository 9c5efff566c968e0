import type {
  ItemStatus,
  JobCounts,
  JobOptions,
  JobStatus,
  LogEntry,
  OutputLine,
  ProviderErrorBody,
  TokenUsage,
} from '../shared/types.js';

export type { ItemStatus, JobStatus };

/** A job as the API shows it (GET /jobs/{id}, and the answer of every route that changes a job). */
export interface Job {
  jobId: string;
  jobType: string;
  status: JobStatus;
  options: JobOptions;
  counts: JobCounts;
  progress: { finished: number; total: number; percent: number };
  usage: TokenUsage;
  estimatedCostUsd?: number;
  source: 'api' | 'schedule';
  scheduleName?: string;
  cancelRequested?: boolean;
  error?: { name: string; message: string };
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
  execution: { arn: string; consoleUrl: string } | null;
  links: Record<string, string>;
}

/** An item of a job (GET /jobs/{id}/items). */
export interface Item {
  customId: string;
  index: number;
  status: ItemStatus;
  attempts: number;
  providerId?: string;
  error?: ProviderErrorBody;
  usage?: TokenUsage;
  output?: OutputLine;
  result?: unknown;
  costUsd?: number;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export type { LogEntry };

/** One page of a listing; pass `nextCursor` back as `cursor` until it is null. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListOptions {
  /** 1 to 1000. @default 50 */
  limit?: number;
  cursor?: string;
}

/** The body of POST /jobs: the items inline (up to 50,000 and 6 MB), or a JSONL file under inputs/. */
export type CreateJobRequest = {
  jobType: string;
  options?: Record<string, unknown>;
} & ({ items: readonly unknown[]; input?: never } | { input: { key: string }; items?: never });

/** POST /jobs/{id}/retry: a new job of the original's failed items, with options overridden if given. */
export interface RetryJobRequest {
  options?: Record<string, unknown>;
}

/** The answer of POST /uploads: where to PUT the file, with which headers, until when. */
export interface UploadTarget {
  /** The key to pass as input.key. */
  key: string;
  url: string;
  method: 'PUT';
  /** Send exactly these (content-length and content-type are signed into the URL). */
  headers: Record<string, string>;
  maxBytes: number;
  expiresAt: string | null;
}
