import { describe, expect, test } from '@jest/globals';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { markJobFailed } from '../../tasks/mark-job-failed.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { prepareJob, type JobContext } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  chatLines,
  completeResponse,
  createJob,
  itemsOf,
  lambdaCause,
  promptLines,
  requireItem,
  requireJob,
  responseFor,
  submitInput,
  useTaskTestEnv,
  pollState,
} from '../support/deps.js';

const env = useTaskTestEnv();

/** A RUNNING job: 3 items submitted, the first of them succeeded. */
async function runningJob(): Promise<JobContext> {
  const created = await createJob(env(), { lines: promptLines(3) });
  const context = await prepareJob({ input: { jobId: created.job.jobId } }, env().deps);
  const state = pollState(await submitBatch(submitInput(created.job, created.items), env().deps));
  const first = await requireItem(env(), created.job.jobId, 'item-000');
  completeResponse(env().openai, responseFor(env().openai, first).id);
  await pollBatch(state, env().deps);
  return context;
}

describe('mark job failed', () => {
  test('a RUNNING job ends FAILED with the error from the Cause JSON, and its unfinished items FAILED', async () => {
    // Arrange
    const context = await runningJob();
    const error = {
      Error: 'ProviderAuthError',
      Cause: lambdaCause('ProviderAuthError', 'provider answered 401 Incorrect API key provided'),
    };

    // Act
    const result = await markJobFailed({ input: { jobId: context.jobId }, job: context, error }, env().deps);

    // Assert
    expect(result).toEqual({ jobId: context.jobId, marked: true });
    const job = await requireJob(env(), context.jobId);
    expect(job.status).toBe('FAILED');
    expect(job.error).toEqual({
      name: 'ProviderAuthError',
      message: 'provider answered 401 Incorrect API key provided',
    });
    expect(job.completedAt).toBe(env().clock.now().toISOString());
    const items = await itemsOf(env(), context.jobId);
    expect(items.map((item) => item.status)).toEqual(['SUCCEEDED', 'FAILED', 'FAILED']);
    expect(items[1]?.error).toEqual({
      code: 'workflow_failed',
      message: "the job's workflow failed: ProviderAuthError: provider answered 401 Incorrect API key provided",
    });
    expect(job.counts).toMatchObject({ succeeded: 1, failed: 2 });
  });

  test('before Prepare job set $.job, the job is found from the execution input', async () => {
    // Arrange
    const { job } = await createJob(env(), { lines: promptLines(1) });

    // Act
    const result = await markJobFailed(
      { jobId: job.jobId, error: { Error: 'States.Timeout', Cause: 'Task timed out' } },
      env().deps,
    );

    // Assert
    expect(result).toEqual({ jobId: job.jobId, marked: true });
    expect(await requireJob(env(), job.jobId)).toMatchObject({
      status: 'FAILED',
      error: { name: 'States.Timeout', message: 'Task timed out' },
    });
  });

  test('a job already terminal is left as it is', async () => {
    // Arrange
    const created = await createJob(env(), { jobType: 'openai-batch', options: {}, lines: chatLines(2) });
    const context = await prepareJob({ input: { jobId: created.job.jobId } }, env().deps);
    pollState(await submitBatch(submitInput(created.job, created.items), env().deps));
    await finalizeJob({ job: context }, env().deps);
    const before = await requireJob(env(), context.jobId);
    env().clock.advance(1_000);

    // Act
    const result = await markJobFailed(
      { job: context, error: { Error: 'Error', Cause: lambdaCause('Error', 'late failure') } },
      env().deps,
    );

    // Assert
    expect(result).toEqual({ jobId: context.jobId, marked: false });
    expect(before.status).toBe('COMPLETED');
    expect(await requireJob(env(), context.jobId)).toEqual(before);
  });

  test('an input that names no job is logged and reported unmarked', async () => {
    // Act
    const result = await markJobFailed(
      { error: { Error: 'ValidationError', Cause: lambdaCause('ValidationError', 'bad input') } },
      env().deps,
    );

    // Assert
    expect(result).toEqual({ marked: false });
    expect(env().logger.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'job failed before it had an id' }),
    );
  });

  test('submitted work is cancelled at the provider, and items whose batch never ran end FAILED too', async () => {
    // Arrange: 4 items, only the first batch of 2 was ever submitted
    const created = await createJob(env(), { lines: promptLines(4) });
    const context = await prepareJob({ input: { jobId: created.job.jobId } }, env().deps);
    pollState(await submitBatch(submitInput(created.job, created.items.slice(0, 2)), env().deps));
    const submitted = await itemsOf(env(), context.jobId);

    // Act
    await markJobFailed(
      { job: context, error: { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'too many failed batches' } },
      env().deps,
    );

    // Assert
    for (const item of submitted) expect(responseFor(env().openai, item).status).toBe('cancelled');
    const items = await itemsOf(env(), context.jobId);
    expect(items.map((item) => [item.customId, item.status])).toEqual([
      ['item-000', 'FAILED'],
      ['item-001', 'FAILED'],
      ['item-002', 'FAILED'],
      ['item-003', 'FAILED'],
    ]);
    expect((await requireJob(env(), context.jobId)).counts).toMatchObject({ failed: 4, succeeded: 0 });
  });
});
