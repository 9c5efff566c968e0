import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { writeJob, type ValidatedJob } from '../../shared/job-intake.js';
import { TERMINAL_JOB_STATUSES, type JobRecord } from '../../shared/types.js';
import { LocalRuntime } from '../local-stack.js';
import { handleInterrupts } from './interrupts.js';
import { createProgressReporter } from './progress.js';
import { announceStart, exitCodeOf, printSummary, sleep, summaryOf, type RunOptions } from './run-summary.js';

/** The job on a local runtime started for this run and stopped after it. */
export async function runLocally(options: RunOptions, validated: ValidatedJob, outPath: string): Promise<number> {
  const startedAt = Date.now();
  const interrupts = handleInterrupts();
  const progress = createProgressReporter({ quiet: options.json });
  let runtime: LocalRuntime | undefined;
  try {
    runtime = await LocalRuntime.start(options.runtime);
    const { store } = runtime.deps;
    const jobId = `job-${randomUUID()}`;
    const { job } = await writeJob(
      { jobId, jobType: validated.jobType, options: validated.options, source: 'api' },
      validated,
      runtime.deps,
    );
    const executionArn = await runtime.startJob(job.jobId);
    announceStart(jobId);
    if (options.runtime.apiPort !== undefined && runtime.apiUrl)
      process.stderr.write(`llm-batch: console at ${runtime.apiUrl}/#/jobs/${jobId} while the run lasts\n`);
    interrupts.jobStarted(jobId, async () => {
      await store.requestCancel(jobId);
    });
    const ended = runtime.engine.waitForExecution(executionArn);
    let done = false;
    void ended.finally(() => (done = true));
    while (!done) {
      const current = await store.getJob(jobId);
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
    interrupts.dispose();
    progress.stop();
    await runtime?.stop();
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
