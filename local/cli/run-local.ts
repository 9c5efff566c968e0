import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { TERMINAL_JOB_STATUSES, type JobRecord } from '../../shared/types.js';
import { JobSessions } from '../data-dir/job-sessions.js';
import { LocalRuntime } from '../local-stack.js';
import { handleInterrupts } from './interrupts.js';
import type { CheckedInput } from './input.js';
import { existingJob, newOrResumedJob, type LocalJob } from './local-job.js';
import { checkOutPath, defaultOutPath } from './out-path.js';
import { createProgressReporter } from './progress.js';
import { announceStart, exitCodeOf, printSummary, sleep, summaryOf, type RunOptions } from './run-summary.js';

/** `llm-batch resume <jobId> --data-dir D`. */
export interface ResumeOptions extends Omit<RunOptions, 'file' | 'request' | 'api'> {
  jobId: string;
}

/**
 * The job on a local runtime started for this run and stopped after it. With a data dir, the
 * newest unfinished job of the same input and options is resumed instead of a new one (unless
 * `fresh`).
 */
export async function runLocally(options: RunOptions, input: CheckedInput, outPath: string): Promise<number> {
  const sessions = options.runtime.dataDir ? new JobSessions(options.runtime.dataDir) : undefined;
  return onLocalRuntime({ ...options, out: outPath }, sessions, (runtime) =>
    newOrResumedJob(runtime, input, { file: options.file, out: outPath, fresh: options.fresh ?? false }, sessions),
  ).then(({ code }) => code);
}

/** A job of the data dir, by id: resumed when unfinished; its results written and its summary printed either way. */
export async function resumeLocally(options: ResumeOptions, dataDir: string): Promise<number> {
  const sessions = new JobSessions(dataDir);
  const session = await sessions.read(options.jobId);
  const outPath = options.out ?? session?.out ?? defaultOutPath(`${options.jobId}.jsonl`);
  await checkOutPath(outPath, session?.input ?? '');
  return (
    await onLocalRuntime({ ...options, out: outPath }, sessions, (runtime) =>
      existingJob(runtime, options.jobId, sessions, dataDir),
    )
  ).code;
}

async function onLocalRuntime(
  options: Pick<RunOptions, 'runtime' | 'json' | 'pollMs'> & { out: string },
  sessions: JobSessions | undefined,
  pickJob: (runtime: LocalRuntime) => Promise<LocalJob>,
): Promise<{ code: number }> {
  const startedAt = Date.now();
  const dataDir = options.runtime.dataDir;
  const interrupts = handleInterrupts();
  const progress = createProgressReporter({ quiet: options.json });
  let runtime: LocalRuntime | undefined;
  try {
    runtime = await LocalRuntime.start({
      ...options.runtime,
      ...(sessions && { onSubmitCall: (jobId: string) => sessions.countCall(jobId) }),
    });
    const { store } = runtime.deps;
    const picked = await pickJob(runtime);
    const { jobId } = picked;
    const outPath = options.out;
    const before = await store.getJob(jobId);
    let execution: Awaited<ReturnType<LocalRuntime['engine']['waitForExecution']>> | undefined;
    if (before && !TERMINAL_JOB_STATUSES.includes(before.status)) {
      // The execution is named after the job: a resumed job's new execution is the one its record names, so
      // Prepare job lets it run the job again. Every batch runs again; what is done is skipped.
      const executionArn = await runtime.startJob(jobId);
      if (picked.resumed) for (const line of picked.resumed) process.stderr.write(`llm-batch: ${line}\n`);
      else announceStart(jobId);
      if (options.runtime.apiPort !== undefined && runtime.apiUrl)
        process.stderr.write(`llm-batch: console at ${runtime.apiUrl}/#/jobs/${jobId} while the run lasts\n`);
      interrupts.jobStarted(
        jobId,
        async () => {
          await store.requestCancel(jobId);
        },
        dataDir && `resume it with: llm-batch resume ${jobId} --data-dir ${dataDir}`,
      );
      const ended = runtime.engine.waitForExecution(executionArn);
      let done = false;
      void ended.finally(() => (done = true));
      while (!done) {
        const current = await store.getJob(jobId);
        if (current) progress.update(current.counts, current.status);
        await Promise.race([ended.then(() => undefined), sleep(options.pollMs ?? 250)]);
      }
      execution = await ended;
    } else {
      process.stderr.write(`llm-batch: job ${jobId} has already ended (${before?.status ?? 'unknown'})\n`);
    }
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
      ...(execution && execution.status !== 'SUCCEEDED'
        ? [`  execution: ${execution.status}${execution.error ? ` (${execution.error})` : ''}`]
        : []),
      ...(runtime.usesMockProvider ? ['  provider: the built-in mock (set OPENAI_API_KEY to use a real one)'] : []),
    ];
    printSummary(summary, wrote, options.json, extra);
    return { code: exitCodeOf(summary) };
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
