import { createWriteStream } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { writeJob, type ValidatedJob } from '../../shared/job-intake.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { TERMINAL_JOB_STATUSES, type JobCounts, type JobRecord, type JobStatus } from '../../shared/types.js';
import { LocalRuntime, type LocalRuntimeOptions } from '../local-stack.js';
import { EXIT } from './exit-codes.js';
import { readJobInput, type JobRequestOptions } from './input.js';
import { createProgressReporter } from './progress.js';

export interface RunOptions {
  file: string;
  request: JobRequestOptions;
  out?: string;
  json: boolean;
  /** Run against a deployed (or `serve`d) HTTP API instead of the local runtime. */
  api?: string;
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

/** `<input>.results.jsonl` beside the input. */
export function defaultOutPath(file: string): string {
  const extension = extname(file);
  return join(dirname(file), `${basename(file, extension)}.results.jsonl`);
}

export function exitCodeOf(summary: Pick<RunSummary, 'status' | 'failed' | 'cancelled'>): number {
  if (summary.status === 'COMPLETED') return EXIT.ok;
  if (summary.status === 'FAILED') return EXIT.failed;
  return EXIT.itemFailures; // COMPLETED_WITH_ERRORS or CANCELLED
}

function summaryOf(job: Pick<JobRecord, 'jobId' | 'status' | 'counts'>, startedAt: number): RunSummary {
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

/** `llm-batch run <items.jsonl>`: one job, start to end, with progress; returns the exit code. */
export async function runJob(options: RunOptions): Promise<number> {
  // Check the whole input before starting anything: bad input creates no job.
  const validated = await readJobInput(options.file, options.request, createDefaultRegistry());
  const outPath = options.out ?? defaultOutPath(options.file);
  return options.api ? runOnApi(options, validated, outPath) : runLocally(options, validated, outPath);
}

async function runLocally(options: RunOptions, validated: ValidatedJob, outPath: string): Promise<number> {
  const startedAt = Date.now();
  const runtime = await LocalRuntime.start(options.runtime);
  const progress = createProgressReporter({ quiet: options.json });
  const jobId = `job-${randomUUID()}`;
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted === 1) {
      process.stderr.write('\ncancelling the job (Ctrl-C again to quit at once)...\n');
      void runtime.deps.store.requestCancel(jobId);
    } else {
      process.exit(EXIT.failed);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    const { job } = await writeJob(
      { jobId, jobType: validated.jobType, options: validated.options, source: 'api' },
      validated,
      runtime.deps,
    );
    const executionArn = await runtime.startJob(job.jobId);
    const ended = runtime.engine.waitForExecution(executionArn);
    let done = false;
    void ended.finally(() => (done = true));
    while (!done) {
      const current = await runtime.deps.store.getJob(jobId);
      if (current) progress.update(current.counts, current.status);
      await Promise.race([ended.then(() => undefined), sleep(options.pollMs ?? 250)]);
    }
    const execution = await ended;
    const final = await waitForTerminalJob(runtime, jobId);
    progress.update(final.counts, final.status);
    progress.stop();
    let wrote: string | undefined;
    if (final.results) {
      await writeResultsFile(runtime, final, outPath);
      wrote = outPath;
    }
    const summary = summaryOf(final, startedAt);
    const extra = [
      ...(final.error ? [`  error: ${final.error.name}: ${final.error.message}`] : []),
      ...(execution.status !== 'SUCCEEDED'
        ? [`  execution: ${execution.status}${execution.error ? ` (${execution.error})` : ''}`]
        : []),
      ...(runtime.usesMockProvider ? ['  provider: the built-in mock (set OPENAI_API_KEY to use a real one)'] : []),
    ];
    printSummary(summary, wrote, options.json, extra);
    return exitCodeOf(summary);
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
    await runtime.stop();
  }
}

/**
 * The execution has ended; the job record follows within moments (the execution-ended rule may still be marking it).
 */
async function waitForTerminalJob(runtime: LocalRuntime, jobId: string): Promise<JobRecord> {
  for (let attempt = 0; ; attempt++) {
    const job = await runtime.deps.store.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} disappeared`);
    if (TERMINAL_JOB_STATUSES.includes(job.status) || attempt >= 100) return job;
    await sleep(50);
  }
}

async function writeResultsFile(runtime: LocalRuntime, job: JobRecord, outPath: string): Promise<void> {
  if (!job.results) return;
  const out = createWriteStream(outPath);
  for await (const line of runtime.deps.objects.readJsonl(job.results)) {
    if (line.error === undefined && !out.write(`${JSON.stringify(line.value)}\n`)) {
      await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
  }
  out.end();
  await finished(out);
}

interface ApiJob {
  jobId: string;
  status: JobStatus;
  counts: JobCounts;
  error?: { name: string; message: string };
}

async function runOnApi(options: RunOptions, validated: ValidatedJob, outPath: string): Promise<number> {
  const startedAt = Date.now();
  const api = (options.api ?? '').replace(/\/$/, '');
  const progress = createProgressReporter({ quiet: options.json });
  const created = await apiCall<ApiJob>(`${api}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({
      jobType: validated.jobType,
      options: options.request.options,
      items: validated.items.map((item) => item.line),
    }),
  });
  let job = created;
  while (!TERMINAL_JOB_STATUSES.includes(job.status)) {
    progress.update(job.counts, job.status);
    await sleep(options.pollMs ?? 1000);
    job = await apiCall<ApiJob>(`${api}/jobs/${created.jobId}`);
  }
  progress.update(job.counts, job.status);
  progress.stop();
  const results = await fetch(`${api}/jobs/${created.jobId}/results`);
  let wrote: string | undefined;
  if (results.ok) {
    const out = createWriteStream(outPath);
    out.end(await results.text());
    await finished(out);
    wrote = outPath;
  }
  const summary = summaryOf(job, startedAt);
  printSummary(summary, wrote, options.json, job.error ? [`  error: ${job.error.name}: ${job.error.message}`] : []);
  return exitCodeOf(summary);
}

export async function apiCall<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
