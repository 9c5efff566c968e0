import type { JobRecord, JobStatus } from '../../shared/types.js';
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
}

export interface RunSummary {
  jobId: string;
  status: JobStatus;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  durationMs: number;
}

export function exitCodeOf(summary: Pick<RunSummary, 'status' | 'failed' | 'cancelled'>): number {
  if (summary.status === 'COMPLETED') return EXIT.ok;
  if (summary.status === 'FAILED') return EXIT.failed;
  return EXIT.itemFailures; // COMPLETED_WITH_ERRORS or CANCELLED
}

export function summaryOf(job: Pick<JobRecord, 'jobId' | 'status' | 'counts'>, startedAt: number): RunSummary {
  return {
    jobId: job.jobId,
    status: job.status,
    total: job.counts.total,
    succeeded: job.counts.succeeded,
    failed: job.counts.failed,
    cancelled: job.counts.cancelled,
    durationMs: Date.now() - startedAt,
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
    ...extra,
    ...(outPath ? [`  results: ${outPath}`] : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
