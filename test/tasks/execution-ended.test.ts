import { describe, expect, test } from '@jest/globals';
import { scheduledJobId } from '../../shared/execution-input.js';
import { onExecutionEnded, type ExecutionStatusChange } from '../../tasks/execution-ended.js';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  TEST_BUCKET,
  TEST_MODEL,
  chatLines,
  createJob,
  itemsOf,
  jsonl,
  lambdaCause,
  newJobId,
  promptLines,
  requireJob,
  submitInput,
  useTaskTestEnv,
} from '../support/deps.js';

const env = useTaskTestEnv();

function statusChange(
  name: string,
  status: string,
  input: unknown,
  extra: { error?: string; cause?: string } = {},
): ExecutionStatusChange {
  return {
    detail: {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:llm-batch-job:${name}`,
      name,
      status,
      input: JSON.stringify(input),
      error: extra.error ?? null,
      cause: extra.cause ?? null,
    },
  };
}

/** A RUNNING job with its 2 items submitted. */
async function runningJob() {
  const created = await createJob(env(), { lines: promptLines(2) });
  await prepareJob({ input: { jobId: created.job.jobId } }, env().deps);
  await submitBatch(submitInput(created.job, created.items), env().deps);
  return created.job.jobId;
}

describe('execution ended (the safety net)', () => {
  test('a timed-out execution marks its RUNNING job FAILED and ends the unfinished items FAILED', async () => {
    // Arrange
    const jobId = await runningJob();

    // Act
    const result = await onExecutionEnded(statusChange(jobId, 'TIMED_OUT', { jobId }), env().deps);

    // Assert
    expect(result).toEqual({ jobId, marked: true });
    const job = await requireJob(env(), jobId);
    expect(job).toMatchObject({
      status: 'FAILED',
      error: { name: 'ExecutionTimedOut', message: "the job's execution ended TIMED_OUT" },
    });
    const items = await itemsOf(env(), jobId);
    expect(items.map((item) => [item.status, item.error?.code])).toEqual([
      ['FAILED', 'workflow_failed'],
      ['FAILED', 'workflow_failed'],
    ]);
    expect(job.counts.failed).toBe(2);
  });

  test('a failed execution keeps the error name and the message from the Lambda Cause JSON', async () => {
    // Arrange
    const jobId = await runningJob();
    const event = statusChange(
      jobId,
      'FAILED',
      { jobId },
      { error: 'ConfigurationError', cause: lambdaCause('ConfigurationError', 'JOBS_TABLE is not set') },
    );

    // Act
    await onExecutionEnded(event, env().deps);

    // Assert
    expect((await requireJob(env(), jobId)).error).toEqual({
      name: 'ConfigurationError',
      message: 'JOBS_TABLE is not set',
    });
  });

  test('a scheduled execution finds its job from the schedule in its input', async () => {
    // Arrange
    const name = newJobId('nightly');
    env().s3.put(TEST_BUCKET, 'templates/nightly.jsonl', jsonl(promptLines(1)));
    const input = {
      schedule: { name, time: '2026-03-02T00:00:00Z' },
      template: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key: 'templates/nightly.jsonl' } },
    };
    await prepareJob({ input }, env().deps);
    const jobId = scheduledJobId(name, '2026-03-02T00:00:00Z');

    // Act
    const result = await onExecutionEnded(statusChange('some-execution-name', 'ABORTED', input), env().deps);

    // Assert
    expect(result).toEqual({ jobId, marked: true });
    expect(await requireJob(env(), jobId)).toMatchObject({ status: 'FAILED', error: { name: 'ExecutionAborted' } });
  });

  test('a job already terminal, or an execution that succeeded, is left as it is', async () => {
    // Arrange
    const created = await createJob(env(), { jobType: 'openai-batch', options: {}, lines: chatLines(1) });
    const context = await prepareJob({ input: { jobId: created.job.jobId } }, env().deps);
    await submitBatch(submitInput(created.job, created.items), env().deps);
    await finalizeJob({ job: context }, env().deps);
    const before = await requireJob(env(), context.jobId);

    // Act
    const aborted = await onExecutionEnded(
      statusChange(context.jobId, 'ABORTED', { jobId: context.jobId }),
      env().deps,
    );
    const succeeded = await onExecutionEnded(
      statusChange(context.jobId, 'SUCCEEDED', { jobId: context.jobId }),
      env().deps,
    );

    // Assert
    expect(aborted).toEqual({ jobId: context.jobId, marked: false });
    expect(succeeded).toEqual({ jobId: context.jobId, marked: false });
    expect(await requireJob(env(), context.jobId)).toEqual(before);
  });

  test('an execution of no known job changes nothing', async () => {
    // Act
    const result = await onExecutionEnded(
      statusChange('stray-execution', 'FAILED', { hello: 'world' }, { error: 'Oops' }),
      env().deps,
    );

    // Assert
    expect(result).toEqual({ jobId: 'stray-execution', marked: false });
  });
});
