import { writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { LlmBatchClient } from '../../client/client.js';
import { LlmBatchApiError } from '../../client/errors.js';
import { TERMINAL_JOB_STATUSES } from '../../shared/types.js';
import type { CheckedInput } from './input.js';
import { handleInterrupts } from './interrupts.js';
import { createProgressReporter } from './progress.js';
import { announceStart, exitCodeOf, printSummary, sleep, summaryOf, type RunOptions } from './run-summary.js';

/**
 * The job on an HTTP API (`client`, for the checked base URL `api`): started (inline, or uploaded
 * through POST /uploads when the items pass one request's limits), polled to its end, its results
 * fetched.
 */
export async function runOnApi(
  options: RunOptions,
  api: string,
  client: LlmBatchClient,
  validated: CheckedInput,
  outPath: string,
): Promise<number> {
  const startedAt = Date.now();
  const interrupts = handleInterrupts();
  const progress = createProgressReporter({ quiet: options.json });
  try {
    // One request (or upload) carries every item, so they are all read in here.
    const items: Record<string, unknown>[] = [];
    for await (const item of validated.items()) items.push(item.line);
    const { job: created, upload } = await client.startJob(
      { jobType: validated.jobType, options: options.request.options, items },
      { idempotencyKey: randomUUID() },
    );
    if (upload) {
      process.stderr.write(
        `llm-batch: ${validated.itemCount} items are over one request's limit: uploaded to ${upload.key}\n`,
      );
    }
    announceStart(created.jobId, `${api}/jobs/${encodeURIComponent(created.jobId)}`);
    interrupts.jobStarted(created.jobId, async () => {
      await client.cancelJob(created.jobId);
    });
    let job = created;
    while (!TERMINAL_JOB_STATUSES.includes(job.status)) {
      progress.update(job.counts, job.status);
      await sleep(options.pollMs ?? 1000);
      job = await client.getJob(created.jobId);
    }
    progress.update(job.counts, job.status);
    progress.stop();
    let wrote: string | undefined;
    // A job that failed before the reducer ran has no results file (409).
    const results = await client.getResults(job.jobId).catch((error: unknown) => {
      if (error instanceof LlmBatchApiError && error.status === 409) return undefined;
      throw error;
    });
    if (results !== undefined) {
      await writeFile(outPath, results);
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
