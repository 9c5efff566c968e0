import type { TaskDeps } from '../shared/deps.js';
import { JobNotFoundError, ValidationError } from '../shared/errors.js';
import { jobIdOf, parseExecutionInput } from '../shared/execution-input.js';
import { checkJobReadingTwice, writeJob } from '../shared/job-intake.js';
import { ObjectChangedError } from '../shared/store/object-store.js';
import { batchInputOf } from '../shared/job-lifecycle.js';
import type { JobRecord } from '../shared/types.js';
import type { JobContext } from '../shared/workflow-state.js';

export interface PrepareJobInput {
  /** The execution's input, as started by the API or a schedule. */
  input: unknown;
  executionArn?: string;
}

export type { JobContext } from '../shared/workflow-state.js';

/**
 * Makes sure the job record and its manifest exist, then marks the job RUNNING.
 * An API start wrote both already; a scheduled start creates them from its template, once per
 * scheduled time (the job id is derived from the schedule and time). The first execution to
 * start the job owns it; a second start of the same job (a retried schedule) is a duplicate.
 */
export async function prepareJob(event: PrepareJobInput, deps: TaskDeps): Promise<JobContext> {
  const input = parseExecutionInput(event.input);
  const jobId = jobIdOf(input);
  let job = await deps.store.getJob(jobId);
  if (!job && 'schedule' in input) {
    job = await createScheduledJob(jobId, input.schedule.name, input.template, deps);
  }
  if (!job) throw new JobNotFoundError(jobId);

  const { job: running = job, owned } = await deps.store.markJobRunning(jobId, event.executionArn);
  if (!owned) {
    deps.logger.warn('duplicate start ignored: the job belongs to another execution or has ended', {
      jobId,
      status: running.status,
      owner: running.executionArn,
      executionArn: event.executionArn,
    });
    return toContext(running, true);
  }
  if (job.status === 'QUEUED') {
    await deps.store.appendLog(jobId, 'INFO', `job started with ${job.counts.total} items`, {
      executionArn: event.executionArn,
      mode: job.options.mode,
    });
  }
  return toContext(running, false);
}

async function createScheduledJob(
  jobId: string,
  scheduleName: string,
  template: { jobType: string; options?: unknown; input: { key: string; bucket?: string } },
  deps: TaskDeps,
): Promise<JobRecord> {
  const source = { bucket: template.input.bucket ?? deps.objects.bucket, key: template.input.key };
  try {
    // Read twice rather than held: a scheduled file may hold a million items.
    const validated = await checkJobReadingTwice(template, deps.objects.rereadableJsonl(source), deps.jobTypes, {
      changed: () => new ObjectChangedError(source),
    });
    const { job } = await writeJob(
      { jobId, jobType: template.jobType, options: template.options, source: 'schedule', scheduleName },
      validated,
      deps,
    );
    return job;
  } catch (error) {
    if (error instanceof ValidationError) {
      deps.logger.error('scheduled job template is invalid', { jobId, scheduleName, error: error.message });
    }
    throw error;
  }
}

function toContext(job: JobRecord, duplicate: boolean): JobContext {
  return {
    ...batchInputOf(job),
    manifest: job.manifest,
    batchSize: job.options.batchSize,
    maxConcurrency: job.options.maxConcurrency,
    toleratedFailurePercentage: job.options.toleratedFailurePercentage,
    duplicate,
  };
}
