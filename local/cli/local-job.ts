import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { writeJob } from '../../shared/job-intake.js';
import { providerKeyId } from '../../shared/rate-limit/bucket-table.js';
import { TERMINAL_JOB_STATUSES, type JobRecord } from '../../shared/types.js';
import { inputDigest, type JobSession, type JobSessions } from '../data-dir/job-sessions.js';
import { settleSubmitCalls, takeOverJob } from '../data-dir/take-over.js';
import type { LocalRuntime } from '../local-stack.js';
import { UsageError } from './exit-codes.js';
import type { CheckedInput } from './input.js';

/** The job a local run works on: new, or an unfinished one resumed. */
export interface LocalJob {
  jobId: string;
  /** The session file of the job in the data dir (the input, the results path of its first run). */
  session?: JobSession;
  /** What the resume says on stderr (absent for a new job). */
  resumed?: string[];
}

/** A job id that the data dir does not hold. */
export class UnknownLocalJobError extends Error {
  override readonly name = 'UnknownLocalJobError';
  constructor(jobId: string, dataDir: string) {
    super(`job ${jobId} is not in data dir ${dataDir}; llm-batch jobs --data-dir ${dataDir} lists the jobs there`);
  }
}

/** Which provider a runtime sends to: `mock` (in process, state in the data dir) or the key's id at its endpoint. */
export function providerOf(runtime: LocalRuntime): string {
  if (runtime.usesMockProvider) return 'mock';
  return `openai:${providerKeyId(runtime.config.openai.baseURL, runtime.config.openai.apiKey ?? '')}`;
}

/**
 * `run <file>`: resumes the newest unfinished job of the same input and options in the data dir
 * (unless `fresh`), else creates a new job.
 */
export async function newOrResumedJob(
  runtime: LocalRuntime,
  validated: CheckedInput,
  input: { file: string; out: string; fresh: boolean },
  sessions: JobSessions | undefined,
): Promise<LocalJob> {
  const digest = sessions ? await inputDigest(input.file, validated.jobType, validated.options) : undefined;
  if (sessions && !input.fresh) {
    const candidates = (await sessions.all())
      .filter((session) => session.inputDigest === digest)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
    for (const candidate of candidates) {
      const job = await runtime.deps.store.getJob(candidate.jobId);
      if (job && !TERMINAL_JOB_STATUSES.includes(job.status)) return resumeJob(runtime, job, sessions);
    }
  }
  const jobId = `job-${randomUUID()}`;
  // The session first: a process killed right after writing the job leaves it findable by the next run.
  const session = await sessions?.begin({
    jobId,
    input: resolve(input.file),
    ...(digest && { inputDigest: digest }),
    out: resolve(input.out),
    provider: providerOf(runtime),
    submitCallsAtStart: 0,
  });
  await writeJob(
    { jobId, jobType: validated.jobType, options: validated.options, source: 'api' },
    { ...validated, items: validated.items() },
    runtime.deps,
  );
  return { jobId, ...(session && { session }) };
}

/** `resume <jobId>`: the job of the data dir, made ready to run again when it has not ended. */
export async function existingJob(runtime: LocalRuntime, jobId: string, sessions: JobSessions, dataDir: string) {
  const job = await runtime.deps.store.getJob(jobId);
  if (!job) throw new UnknownLocalJobError(jobId, dataDir);
  if (TERMINAL_JOB_STATUSES.includes(job.status)) {
    const session = await sessions.read(jobId);
    return { jobId, ...(session && { session }) } satisfies LocalJob;
  }
  return resumeJob(runtime, job, sessions);
}

/**
 * Gets an unfinished job of a dead process ready for a new execution here: its create calls that
 * never reached the job record are added, its leases are taken over, its live counters are set
 * from its items, and a new session starts counting this process's calls.
 */
async function resumeJob(runtime: LocalRuntime, job: JobRecord, sessions: JobSessions): Promise<LocalJob> {
  const { jobId } = job;
  const { dynamo } = runtime.clients;
  const table = runtime.config.tableName;
  const previous = await sessions.read(jobId);
  const provider = providerOf(runtime);
  const lastProvider = previous?.provider ?? provider;
  if (lastProvider !== 'mock' && lastProvider !== provider) {
    throw new UsageError(
      `job ${jobId} was sent to another provider (${lastProvider}, this run has ${provider}); ` +
        'resume it with the same OPENAI_API_KEY and OPENAI_BASE_URL, so its submitted requests can be polled',
    );
  }
  if (previous) await settleSubmitCalls(dynamo, table, jobId, previous.submitCallsAtStart + sessions.callsOf(previous));
  // The built-in mock keeps its work in the data dir, so only a move from it to a real provider loses it.
  const providerLost = lastProvider === 'mock' && provider !== 'mock';
  const takenOver = await takeOverJob(dynamo, table, jobId, { providerLost });
  const current = (await runtime.deps.store.getJob(jobId)) ?? job;
  const session = await sessions.begin({
    ...(previous ?? {}),
    jobId,
    provider,
    submitCallsAtStart: current.providerSubmitCalls ?? 0,
  });
  const resumed = [`resuming job ${jobId} (${takenOver.done} of ${current.counts.total} items done)`];
  if (takenOver.requeued > 0) {
    resumed.push(
      `${takenOver.requeued} submitted item(s) are sent again: the built-in mock provider they were sent to is not this provider`,
    );
  }
  if (current.cancelRequested) resumed.push('its cancel was requested before the process died: it ends cancelled');
  return { jobId, session, resumed };
}
