import {
  DescribeExecutionCommand,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  SFNServiceException,
} from '@aws-sdk/client-sfn';
import { describe, expect, test } from '@jest/globals';
import { batchInputOf } from '../../shared/job-lifecycle.js';
import type { LogEntry } from '../../shared/types.js';
import { onExecutionEnded } from '../../tasks/execution-ended.js';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import { errorOf, jobOf, postJob, promptJobBody, useApiTestEnv, type ApiTestEnv } from '../support/api.js';
import type { BatchState } from '../../shared/workflow-state.js';
import { completeResponse, itemsOf, pollState, requireJob } from '../support/deps.js';
import { manifestOf } from './manifest-of.js';

const env = useApiTestEnv();

/**
 * GIVEN a job of 3 items in batches of 2 whose execution was stopped: item-0 succeeded, item-1
 * was submitted, item-2's batch never ran; then the safety net (execution ended) marked the job
 * FAILED and ended item-1 and item-2 FAILED.
 */
async function stoppedJob(
  e: ApiTestEnv,
): Promise<{ jobId: string; executionArn: string; providerId: string; firstBatch: BatchState }> {
  const created = await postJob(e, promptJobBody(3, { batchSize: 2 }));
  const executionArn = created.execution?.arn ?? '';
  const context = await prepareJob({ input: { jobId: created.jobId }, executionArn }, e.deps);
  const lines = await manifestOf(e, created.jobId);
  const state = pollState(await submitBatch({ Items: lines.slice(0, 2), BatchInput: batchInputOf(context) }, e.deps));
  const [first, second] = await itemsOf(e, created.jobId);
  completeResponse(e.openai, first?.providerId ?? '');
  const firstBatch = pollState(await pollBatch(state, e.deps));
  await onExecutionEnded(
    {
      detail: {
        executionArn,
        name: created.jobId,
        status: 'ABORTED',
        input: JSON.stringify({ jobId: created.jobId }),
      },
    },
    e.deps,
  );
  return { jobId: created.jobId, executionArn, providerId: second?.providerId ?? '', firstBatch };
}

/** Step Functions says the execution is `status` and may be redriven. */
function redrivable(e: ApiTestEnv, status = 'ABORTED'): void {
  e.sfnMock.on(DescribeExecutionCommand).resolves({ status: status as 'ABORTED', redriveStatus: 'REDRIVABLE' });
  e.sfnMock.on(RedriveExecutionCommand).resolves({ redriveDate: new Date() });
}

async function logMessages(e: ApiTestEnv, jobId: string): Promise<string[]> {
  const response = await e.request('GET', `/jobs/${jobId}/logs`, { query: { limit: '1000' } });
  return (response.json as { logs: LogEntry[] }).logs.map((log) => log.message);
}

describe('POST /jobs/{id}/redrive', () => {
  test('GIVEN a job whose execution was stopped WHEN it is redriven THEN the job is RUNNING again, the submitted item is SUBMITTED with its provider id, the unsent item is QUEUED again, and the finished one is untouched', async () => {
    const e = env();
    const { jobId, executionArn, providerId } = await stoppedJob(e);
    expect(await requireJob(e, jobId)).toMatchObject({ status: 'FAILED', counts: { succeeded: 1, failed: 2 } });
    redrivable(e);

    const response = await e.request('POST', `/jobs/${jobId}/redrive`);

    expect(response.status).toBe(202);
    expect(jobOf(response)).toMatchObject({ jobId, status: 'RUNNING', redriveCount: 1 });
    expect(jobOf(response).error).toBeUndefined();
    expect(jobOf(response).completedAt).toBeUndefined();
    expect(e.sfnMock.commandCalls(RedriveExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn },
    ]);
    // An ABORTED execution did not end in a Fail state: its history is not read.
    expect(e.sfnMock.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
    const items = await itemsOf(e, jobId);
    expect(items.map(({ customId, status, providerId: id, error }) => ({ customId, status, id, error }))).toEqual([
      { customId: 'item-000', status: 'SUCCEEDED', id: expect.any(String) as unknown, error: undefined },
      { customId: 'item-001', status: 'SUBMITTED', id: providerId, error: undefined },
      { customId: 'item-002', status: 'QUEUED', id: undefined, error: undefined },
    ]);
    expect((await requireJob(e, jobId)).counts).toMatchObject({ total: 3, succeeded: 1, failed: 0 });
    expect(await logMessages(e, jobId)).toContain('job redriven: 2 items reopened');
  });

  test('GIVEN a redriven job WHEN its redriven execution runs THEN the unsent item is sent once, the submitted one only polled, and the reducer counts each item once', async () => {
    const e = env();
    const { jobId, executionArn, firstBatch } = await stoppedJob(e);
    redrivable(e);
    await e.request('POST', `/jobs/${jobId}/redrive`);
    const createsBefore = e.openai.calls.filter((call) => call.method === 'responses.create').length;

    // WHEN the redriven children resume: the first batch at its poll, the second from its submit
    const context = await prepareJob({ input: { jobId }, executionArn }, e.deps);
    const lines = await manifestOf(e, jobId);
    const second = pollState(await submitBatch({ Items: lines.slice(2), BatchInput: batchInputOf(context) }, e.deps));
    for (const item of await itemsOf(e, jobId))
      if (item.status === 'SUBMITTED') completeResponse(e.openai, item.providerId ?? '');
    await pollBatch(second, e.deps);
    await pollBatch(firstBatch, e.deps);

    const creates = e.openai.calls.filter((call) => call.method === 'responses.create');
    expect(creates.length - createsBefore).toBe(1);
    expect((await itemsOf(e, jobId)).map((item) => item.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const summary = await finalizeJob({ job: context }, e.deps);
    expect(summary).toMatchObject({ status: 'COMPLETED' });
    expect((await requireJob(e, jobId)).counts).toMatchObject({ total: 3, succeeded: 3, failed: 0, cancelled: 0 });
  });

  test.each([
    ['QUEUED', 'it is QUEUED; only a job whose execution failed, timed out or was stopped can be redriven'],
    ['RUNNING', 'it is RUNNING; only a job whose execution failed, timed out or was stopped can be redriven'],
  ])('409 JobNotRedrivable on a %s job, saying why', async (status, reason) => {
    const e = env();
    const job = await postJob(e, promptJobBody(1));
    if (status === 'RUNNING')
      await prepareJob({ input: { jobId: job.jobId }, executionArn: job.execution?.arn }, e.deps);

    const response = await e.request('POST', `/jobs/${job.jobId}/redrive`);

    expect(response.status).toBe(409);
    expect(response.json).toEqual({
      error: { code: 'JobNotRedrivable', message: `job ${job.jobId} cannot be redriven: ${reason}`, reason },
    });
  });

  test('409 on a job that ended COMPLETED_WITH_ERRORS: its execution succeeded, and the answer points at retry', async () => {
    const e = env();
    const job = await postJob(e, promptJobBody(2));
    await e.store.finishJob(job.jobId, {
      status: 'COMPLETED_WITH_ERRORS',
      counts: { total: 2, submitted: 2, succeeded: 1, failed: 1, cancelled: 0 },
      usage: { inputTokens: 0, outputTokens: 0 },
    });

    const response = await e.request('POST', `/jobs/${job.jobId}/redrive`);

    expect(response.status).toBe(409);
    expect(errorOf(response).message).toBe(
      `job ${job.jobId} cannot be redriven: it ended COMPLETED_WITH_ERRORS and its execution succeeded; ` +
        `POST /jobs/${job.jobId}/retry runs its failed items as a new job`,
    );
  });

  test('409 when the workflow ended in a Fail state (its reducer or Mark job failed ran): nothing is reopened', async () => {
    const e = env();
    const { jobId } = await stoppedJob(e);
    redrivable(e, 'FAILED');
    e.sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 9, timestamp: new Date(), type: 'ExecutionFailed' },
        { id: 8, timestamp: new Date(), type: 'FailStateEntered', stateEnteredEventDetails: { name: 'Job failed' } },
      ],
    });

    const response = await e.request('POST', `/jobs/${jobId}/redrive`);

    expect(response.status).toBe(409);
    expect(errorOf(response).message).toBe(
      `job ${jobId} cannot be redriven: its workflow handled the failure and ended in the Fail state "Job failed" ` +
        `after ending the items; a redrive would only fail there again: POST /jobs/${jobId}/retry runs the failed items as a new job`,
    );
    expect(e.sfnMock.commandCalls(GetExecutionHistoryCommand)[0]?.args[0].input).toMatchObject({
      reverseOrder: true,
      maxResults: 2,
    });
    expect(e.sfnMock.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
    expect((await requireJob(e, jobId)).status).toBe('FAILED');
    expect((await itemsOf(e, jobId)).map((item) => item.status)).toEqual(['SUCCEEDED', 'FAILED', 'FAILED']);
  });

  test("409 with Step Functions' own reason when the execution is not redrivable (past 14 days, say)", async () => {
    const e = env();
    const { jobId } = await stoppedJob(e);
    e.sfnMock.on(DescribeExecutionCommand).resolves({
      status: 'ABORTED',
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution has exceeded the redrivable period of 14 days',
    });

    const response = await e.request('POST', `/jobs/${jobId}/redrive`);

    expect(response.status).toBe(409);
    expect(errorOf(response).message).toBe(
      `job ${jobId} cannot be redriven: Execution has exceeded the redrivable period of 14 days`,
    );
  });

  test('GIVEN RedriveExecution fails WHEN redriving THEN 503 and the job and its items are FAILED as before, counted once', async () => {
    const e = env();
    const { jobId } = await stoppedJob(e);
    const before = await itemsOf(e, jobId);
    redrivable(e);
    e.sfnMock
      .on(RedriveExecutionCommand)
      .rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {} }));

    const response = await e.request('POST', `/jobs/${jobId}/redrive`);

    expect(response.status).toBe(503);
    expect(errorOf(response).code).toBe('StartFailed');
    const job = await requireJob(e, jobId);
    expect(job.status).toBe('FAILED');
    expect(job.counts).toMatchObject({ succeeded: 1, failed: 2 });
    expect((await itemsOf(e, jobId)).map(({ customId, status, error }) => ({ customId, status, error }))).toEqual(
      before.map(({ customId, status, error }) => ({ customId, status, error })),
    );
  });

  test('GIVEN Step Functions refuses the redrive itself THEN 409 with its message, and the job is FAILED as before', async () => {
    const e = env();
    const { jobId } = await stoppedJob(e);
    redrivable(e);
    e.sfnMock
      .on(RedriveExecutionCommand)
      .rejects(new ExecutionNotRedrivable({ message: 'Execution is SUCCEEDED and cannot be redriven', $metadata: {} }));

    const response = await e.request('POST', `/jobs/${jobId}/redrive`);

    expect(response.status).toBe(409);
    expect(errorOf(response).code).toBe('JobNotRedrivable');
    expect((await requireJob(e, jobId)).status).toBe('FAILED');
  });

  test('two redrives at once: one 202, the other 409, and the execution is redriven once', async () => {
    const e = env();
    const { jobId } = await stoppedJob(e);
    redrivable(e);

    const answers = await Promise.all([
      e.request('POST', `/jobs/${jobId}/redrive`),
      e.request('POST', `/jobs/${jobId}/redrive`),
    ]);

    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
    expect(e.sfnMock.commandCalls(RedriveExecutionCommand)).toHaveLength(1);
  });

  test('404 for a job that does not exist', async () => {
    const e = env();

    const response = await e.request('POST', '/jobs/job-nobody/redrive');

    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe('JobNotFound');
  });
});
