import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import type { ValidatedJob } from '../../shared/job-intake.js';
import { TERMINAL_JOB_STATUSES, type JobCounts, type JobStatus } from '../../shared/types.js';
import { apiCall, apiFetch } from './api-client.js';
import { handleInterrupts } from './interrupts.js';
import { createProgressReporter } from './progress.js';
import {
  announceStart,
  exitCodeOf,
  printSummary,
  sleep,
  summaryOf,
  type RunOptions,
  type SummarizedJob,
} from './run-summary.js';

interface ApiJob extends SummarizedJob {
  jobId: string;
  status: JobStatus;
  counts: JobCounts;
  error?: { name: string; message: string };
}

/** The job on an HTTP API (`api`, a checked base URL): created, polled to its end, its results fetched. */
export async function runOnApi(
  options: RunOptions,
  api: string,
  validated: ValidatedJob,
  outPath: string,
): Promise<number> {
  const startedAt = Date.now();
  const interrupts = handleInterrupts();
  const progress = createProgressReporter({ quiet: options.json });
  try {
    const created = await apiCall<ApiJob>(`${api}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({
        jobType: validated.jobType,
        options: options.request.options,
        items: validated.items.map((item) => item.line),
      }),
    });
    const jobUrl = `${api}/jobs/${encodeURIComponent(created.jobId)}`;
    announceStart(created.jobId, jobUrl);
    interrupts.jobStarted(created.jobId, async () => {
      await apiCall(`${jobUrl}/cancel`, { method: 'POST' });
    });
    let job = created;
    while (!TERMINAL_JOB_STATUSES.includes(job.status)) {
      progress.update(job.counts, job.status);
      await sleep(options.pollMs ?? 1000);
      job = await apiCall<ApiJob>(jobUrl);
    }
    progress.update(job.counts, job.status);
    progress.stop();
    const results = await apiFetch(`${jobUrl}/results`);
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
  } finally {
    interrupts.dispose();
    progress.stop();
  }
}
