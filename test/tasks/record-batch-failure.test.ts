import { describe, expect, test } from '@jest/globals';
import { pollBatch } from '../../tasks/poll-batch.js';
import { recordBatchFailure } from '../../tasks/record-batch-failure.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  TEST_MODEL,
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

describe('record batch failure', () => {
  test('from the submit input: unfinished items end FAILED with the error, finished ones are untouched, missing ones are created', async () => {
    // Arrange: 3 of 4 items were submitted and 1 of those succeeded before the batch task ran out of retries
    const { job, items } = await createJob(env(), { lines: promptLines(4) });
    const state = pollState(await submitBatch(submitInput(job, items.slice(0, 3)), env().deps));
    const succeeded = await requireItem(env(), job.jobId, 'item-000');
    completeResponse(env().openai, responseFor(env().openai, succeeded).id);
    await pollBatch(state, env().deps);
    const finishedBefore = await requireItem(env(), job.jobId, 'item-000');
    const input = {
      ...submitInput(job, items),
      error: {
        Error: 'ProviderUnavailableError',
        Cause: lambdaCause('ProviderUnavailableError', 'provider answered 503 Service Unavailable'),
      },
    };

    // Act
    const record = await recordBatchFailure(input, env().deps);

    // Assert
    const error = { name: 'ProviderUnavailableError', message: 'provider answered 503 Service Unavailable' };
    expect(record).toEqual({ jobId: job.jobId, batchId: 'batch-0000000', failed: 3, error });
    expect(await requireItem(env(), job.jobId, 'item-000')).toEqual(finishedBefore);
    for (const customId of ['item-001', 'item-002', 'item-003']) {
      const item = await requireItem(env(), job.jobId, customId);
      expect(item.status).toBe('FAILED');
      expect(item.error).toEqual({
        code: 'batch_failed',
        message: 'ProviderUnavailableError: provider answered 503 Service Unavailable',
      });
      expect(item.output).toMatchObject({ custom_id: customId, response: null, error: item.error });
    }
    expect(await requireItem(env(), job.jobId, 'item-003')).toMatchObject({
      index: 3,
      batchId: 'batch-0000000',
      attempts: 0,
    });
    // the submitted ones were withdrawn from the provider
    const withdrawn = (await itemsOf(env(), job.jobId)).filter(
      (item) => item.customId === 'item-001' || item.customId === 'item-002',
    );
    expect(withdrawn.every((item) => responseFor(env().openai, item).status === 'cancelled')).toBe(true);
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ succeeded: 1, failed: 3 });
  });

  test('from the poll state of a provider batch: the batch is cancelled and its items end FAILED', async () => {
    // Arrange
    const { job, items } = await createJob(env(), {
      lines: promptLines(3),
      options: { model: TEST_MODEL, mode: 'batch' },
    });
    const state = pollState(await submitBatch(submitInput(job, items), env().deps));

    // Act
    const record = await recordBatchFailure(
      { ...state, error: { Error: 'States.Timeout', Cause: 'Task timed out after 300.00 seconds' } },
      env().deps,
    );

    // Assert
    expect(record).toMatchObject({ jobId: job.jobId, batchId: state.batchId, failed: 3 });
    expect(env().openai.callsOf('batches.cancel')).toHaveLength(1);
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => item.status)).toEqual(['FAILED', 'FAILED', 'FAILED']);
    expect(records[0]?.error).toEqual({
      code: 'batch_failed',
      message: 'States.Timeout: Task timed out after 300.00 seconds',
    });
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ submitted: 3, failed: 3 });
  });

  test('GIVEN the poll state of a responses batch (no batch record) WHEN it is recorded failed THEN its unfinished items are withdrawn and end FAILED', async () => {
    // Arrange: 1 of 3 items finished before the poll task ran out of retries
    const { job, items } = await createJob(env(), { lines: promptLines(3) });
    const state = pollState(await submitBatch(submitInput(job, items), env().deps));
    completeResponse(env().openai, responseFor(env().openai, await requireItem(env(), job.jobId, 'item-000')).id);
    await pollBatch(state, env().deps);

    // Act
    const record = await recordBatchFailure(
      { ...state, error: { Error: 'States.Timeout', Cause: 'Task timed out after 300.00 seconds' } },
      env().deps,
    );

    // Assert
    expect(record).toMatchObject({ jobId: job.jobId, batchId: state.batchId, failed: 2 });
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => [item.customId, item.status])).toEqual([
      ['item-000', 'SUCCEEDED'],
      ['item-001', 'FAILED'],
      ['item-002', 'FAILED'],
    ]);
    expect(records.slice(1).every((item) => responseFor(env().openai, item).status === 'cancelled')).toBe(true);
  });

  test('recorded twice, the items are counted once', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(2) });
    const input = {
      ...submitInput(job, items),
      error: { Error: 'RateLimitedError', Cause: lambdaCause('RateLimitedError', 'slow down') },
    };
    await recordBatchFailure(input, env().deps);

    // Act
    const again = await recordBatchFailure(input, env().deps);

    // Assert
    expect(again.failed).toBe(0);
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ failed: 2, succeeded: 0 });
    expect(env().openai.calls).toHaveLength(0);
  });
});
