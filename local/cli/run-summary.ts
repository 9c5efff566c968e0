import type { AttemptStats, JobRecord, JobStatus } from '../../shared/types.js';
import type { ApiAuthFlags } from './api-client.js';
import type { JobRequestOptions } from './input.js';
import type { LocalRuntimeOptions } from '../local-stack.js';
import { EXIT } from './exit-codes.js';

export interface RunOptions {
  file: string;
  request: JobRequestOptions;
  out?: string;
  json: boolean;
  /** Run against a deployed (or `serve`d) HTTP API instead of the local runtime (a checked base URL). */
  api?: string;
  /** How calls to `api` authenticate (--auth, --token, --profile, --region). */
  apiAuth?: ApiAuthFlags;
  runtime: LocalRuntimeOptions;
  pollMs?: number;
  /** With a data dir: start a new job even if an unfinished one of the same input is there. */
  fresh?: boolean;
}

export interface RunSummary {
  jobId: string;
  status: JobStatus;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  durationMs: number;
  /** Provider attempts per item; null when the job ended without its reducer (a failed workflow). */
  attempts: AttemptStats | null;
  /** Create and status calls the job sent to the provider, and its 429 answers. */
  providerCalls: { submit: number; poll: number; rateLimited: number };
}

/** The job fields a summary reads: a job record, or the API's view of one. */
export type SummarizedJob = Pick<JobRecord, 'jobId' | 'status' | 'counts'> &
  Partial<Pick<JobRecord, 'attempts' | 'providerSubmitCalls' | 'providerPollCalls' | 'providerRateLimited'>>;

export function exitCodeOf(summary: Pick<RunSummary, 'status' | 'failed' | 'cancelled'>): number {
  if (summary.status === 'COMPLETED') return EXIT.ok;
  if (summary.status === 'FAILED') return EXIT.failed;
  return EXIT.itemFailures; // COMPLETED_WITH_ERRORS or CANCELLED
}

export function summaryOf(job: SummarizedJob, startedAt: number): RunSummary {
  return {
    jobId: job.jobId,
    status: job.status,
    total: job.counts.total,
    succeeded: job.counts.succeeded,
    failed: job.counts.failed,
    cancelled: job.counts.cancelled,
    durationMs: Date.now() - startedAt,
    attempts: job.attempts ?? null,
    providerCalls: {
      submit: job.providerSubmitCalls ?? 0,
      poll: job.providerPollCalls ?? 0,
      rateLimited: job.providerRateLimited ?? 0,
    },
  };
}

/** On stderr, also with --json: a user who stops waiting still knows which job to look up or cancel. */
export function announceStart(jobId: string, where?: string): void {
  process.stderr.write(`llm-batch: job ${jobId} started${where ? ` (${where})` : ''}\n`);
}

export function printSummary(
  summary: RunSummary,
  outPath: string | undefined,
  json: boolean,
  extra: string[] = [],
): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const lines = [
    `job ${summary.jobId} ${summary.status} in ${(summary.durationMs / 1000).toFixed(1)} s`,
    `  items: ${summary.total} total, ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.cancelled} cancelled`,
    ...(summary.attempts ? [`  attempts per item: mean ${summary.attempts.mean}, max ${summary.attempts.max}`] : []),
    `  provider calls: ${summary.providerCalls.submit} submit, ${summary.providerCalls.poll} poll, ${summary.providerCalls.rateLimited} rate-limited (429)`,
    ...extra,
    ...(outPath ? [`  results: ${outPath}`] : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
