import { describe, expect, jest, test } from '@jest/globals';
import { MAX_BATCH_CONTEXT_BYTES } from '../../shared/job-lifecycle.js';
import { promptJobType } from '../../shared/job-types/prompt.js';
import type { BatchInput } from '../../shared/workflow-state.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  TEST_MODEL,
  advanceResponses,
  createJob,
  promptLines,
  submitInput,
  useTaskTestEnv,
  pollState,
} from '../support/deps.js';

/**
 * The job's fixed options travel in the workflow state: Prepare job reads the job once, every
 * child gets its context as BatchInput, and the batch tasks read from DynamoDB only what changes
 * while the job runs.
 */

const env = useTaskTestEnv();

/** What the Map hands every child of the job: these four fields of the context (see the workflow's ItemBatcher). */
function childContextOf({ jobId, jobType, options, paramsInRecord }: BatchInput): BatchInput {
  return { jobId, jobType, options, paramsInRecord };
}

/** A prompt template of `bytes` characters around the prompt. */
function templateOf(bytes: number): string {
  return `${'Answer briefly. '.repeat(Math.ceil(bytes / 16)).slice(0, bytes)}{{prompt}}`;
}

describe('the batch context in the workflow state', () => {
  test('GIVEN a job WHEN Prepare job runs THEN its context carries the job type and options for every batch', async () => {
    // Arrange
    const options = { model: TEST_MODEL, params: { template: templateOf(100) } };
    const { job } = await createJob(env(), { lines: promptLines(2), options });

    // Act
    const context = await prepareJob({ input: { jobId: job.jobId } }, env().deps);

    // Assert
    expect(childContextOf(context)).toEqual({
      jobId: job.jobId,
      jobType: 'prompt',
      options: job.options,
      paramsInRecord: false,
    });
  });

  test('GIVEN a classify job of 100 labels WHEN Prepare job runs THEN the labels ride in the state', async () => {
    // Arrange
    const labels = Array.from({ length: 100 }, (_, i) => `category-${String(i).padStart(3, '0')}-of-the-taxonomy`);
    const lines = [{ id: 'c-1', text: 'some text' }];
    const { job } = await createJob(env(), {
      jobType: 'classify',
      lines,
      options: { model: TEST_MODEL, params: { labels } },
    });

    // Act
    const context = await prepareJob({ input: { jobId: job.jobId } }, env().deps);

    // Assert
    expect(context.paramsInRecord).toBe(false);
    expect(context.options.params).toEqual({ labels });
  });

  test('GIVEN params too large for the state WHEN Prepare job runs THEN the context leaves them in the record and stays bounded', async () => {
    // Arrange
    const options = { model: TEST_MODEL, params: { template: templateOf(MAX_BATCH_CONTEXT_BYTES) } };
    const { job } = await createJob(env(), { lines: promptLines(2), options });

    // Act
    const context = await prepareJob({ input: { jobId: job.jobId } }, env().deps);

    // Assert
    const batchInput = childContextOf(context);
    expect(batchInput).toEqual({
      jobId: job.jobId,
      jobType: 'prompt',
      options: { ...job.options, params: {} },
      paramsInRecord: true,
    });
    expect(Buffer.byteLength(JSON.stringify(batchInput))).toBeLessThanOrEqual(MAX_BATCH_CONTEXT_BYTES);
  });

  test('GIVEN params left in the record WHEN a batch is submitted THEN its requests are built with them', async () => {
    // Arrange
    const template = templateOf(MAX_BATCH_CONTEXT_BYTES);
    const { job, items } = await createJob(env(), {
      lines: promptLines(1),
      options: { model: TEST_MODEL, params: { template } },
    });
    const input = submitInput(job, items);
    expect(input.BatchInput.paramsInRecord).toBe(true);

    // Act
    pollState(await submitBatch(input, env().deps));

    // Assert
    const [[body] = []] = env().openai.callsOf('responses.create') as [Record<string, unknown>][];
    expect(body?.input).toBe(template.replace('{{prompt}}', 'say hello to number 0'));
  });

  test('GIVEN a responses-mode child WHEN it submits and polls THEN it reads neither the whole job record nor a batch record, only what changes', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(2), options: { model: TEST_MODEL } });
    const getJob = jest.spyOn(env().deps.store, 'getJob');
    const getLiveJob = jest.spyOn(env().deps.store, 'getLiveJob');
    const getBatch = jest.spyOn(env().deps.store, 'getBatch');

    // Act
    let state = pollState(await submitBatch(submitInput(job, items), env().deps));
    while (state.pending > 0) {
      advanceResponses(env().openai);
      state = await pollBatch(state, env().deps);
    }

    // Assert
    expect(getJob).not.toHaveBeenCalled();
    expect(getBatch).not.toHaveBeenCalled();
    expect(getLiveJob).toHaveBeenCalledWith(job.jobId, { params: false });
  });

  test('GIVEN a running job WHEN its live state is read THEN only the cancel flag, latency estimate and counts come back', async () => {
    // Arrange
    const { job } = await createJob(env(), {
      lines: promptLines(2),
      options: { model: TEST_MODEL, params: { template: '{{prompt}}!' } },
    });
    await env().store.requestCancel(job.jobId);

    // Act
    const live = await env().store.getLiveJob(job.jobId);
    const withParams = await env().store.getLiveJob(job.jobId, { params: true });

    // Assert
    expect(live).toEqual({ cancelRequested: true, counts: job.counts });
    expect(withParams).toEqual({ cancelRequested: true, counts: job.counts, params: { template: '{{prompt}}!' } });
    expect(await env().store.getLiveJob('job-missing')).toBeUndefined();
  });
});

describe('the job type, compiled once per batch', () => {
  test.each(['responses', 'batch'] as const)(
    'GIVEN a %s-mode batch of 5 items WHEN it is submitted and polled THEN its options are compiled once per task, not per item',
    async (mode) => {
      // Arrange
      const { job, items } = await createJob(env(), { lines: promptLines(5), options: { model: TEST_MODEL, mode } });
      const compile = jest.spyOn(promptJobType, 'compile');

      // Act
      const submitted = pollState(await submitBatch(submitInput(job, items), env().deps));
      const compiledBySubmit = compile.mock.calls.length;
      advanceResponses(env().openai);
      advanceResponses(env().openai);
      await pollBatch(submitted, env().deps);

      // Assert
      expect(compiledBySubmit).toBe(1);
      expect(compile).toHaveBeenCalledTimes(2);
      compile.mockRestore();
    },
  );
});
