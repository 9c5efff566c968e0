import { PutObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from '@jest/globals';
import { keys } from '../../shared/store/keys.js';
import { finalizeJob, type JobSummary } from '../../tasks/finalize-job.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { prepareJob, type JobContext } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  RESPONSE_USAGE,
  TEST_BUCKET,
  chatLines,
  completeResponse,
  createJob,
  itemsOf,
  promptLines,
  requireItem,
  requireJob,
  resultsOf,
  responseFor,
  submitInput,
  useTaskTestEnv,
  type CreatedJob,
  pollState,
} from '../support/deps.js';

const env = useTaskTestEnv();
const RESPONSE_COST = (RESPONSE_USAGE.input_tokens * 0.25 + RESPONSE_USAGE.output_tokens * 2) / 1e6;

async function started(created: CreatedJob): Promise<JobContext> {
  return prepareJob(
    { input: { jobId: created.job.jobId }, executionArn: 'arn:aws:states:us-east-1:123456789012:execution:jobs:x' },
    env().deps,
  );
}

/** A chat job whose first `ran` items ran (and succeeded, synchronously); the rest never got a record. */
async function chatJob(total: number, ran: number) {
  const created = await createJob(env(), { jobType: 'openai-batch', options: {}, lines: chatLines(total) });
  const context = await started(created);
  if (ran > 0) pollState(await submitBatch(submitInput(created.job, created.items.slice(0, ran)), env().deps));
  return { ...created, context };
}

function resultUploads(jobId: string) {
  return env()
    .s3Mock.commandCalls(PutObjectCommand)
    .filter((call) => call.args[0].input.Key === `jobs/${jobId}/results.jsonl`);
}

describe('finalize job (the reducer)', () => {
  test('counts the items, sums usage and cost, and writes one OpenAI Batch output line per manifest item', async () => {
    // Arrange: 7 items; the first batch (4) ran: 2 succeeded, 1 failed, 1 still running; the second batch (3) never ran
    const created = await createJob(env(), { lines: promptLines(7) });
    const context = await started(created);
    const state = pollState(await submitBatch(submitInput(created.job, created.items.slice(0, 4)), env().deps));
    const [first, second, third] = await itemsOf(env(), created.job.jobId);
    if (!first || !second || !third) throw new Error('missing items');
    completeResponse(env().openai, responseFor(env().openai, first).id);
    completeResponse(env().openai, responseFor(env().openai, second).id);
    env().openai.setResponse(responseFor(env().openai, third).id, {
      status: 'failed',
      error: { code: 'content_filter', message: 'boom' },
    });
    await pollBatch(state, env().deps);

    // Act
    const summary = await finalizeJob({ job: context }, env().deps);

    // Assert
    const counts = { total: 7, submitted: 4, succeeded: 2, failed: 5, cancelled: 0 };
    expect(summary).toMatchObject({
      jobId: created.job.jobId,
      status: 'COMPLETED_WITH_ERRORS',
      counts,
      usage: { inputTokens: 200, outputTokens: 40 },
    });
    expect(summary.estimatedCostUsd).toBeCloseTo(2 * RESPONSE_COST, 12);
    expect(summary.error).toBeUndefined();
    const job = await requireJob(env(), created.job.jobId);
    expect(job).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      counts,
      results: { bucket: TEST_BUCKET, key: `jobs/${created.job.jobId}/results.jsonl` },
    });
    expect(job.completedAt).toBe(env().clock.now().toISOString());

    const lines = resultsOf(env(), created.job.jobId);
    expect(lines.map((line) => line.custom_id).sort()).toEqual(created.items.map((item) => item.customId));
    for (const line of lines) expect(Object.keys(line).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
    const byId = new Map(lines.map((line) => [line.custom_id, line]));
    expect(byId.get('item-000')).toMatchObject({
      error: null,
      response: { status_code: 200, body: { status: 'completed' } },
    });
    expect(byId.get('item-002')).toMatchObject({ response: null, error: { code: 'content_filter', message: 'boom' } });
    expect(byId.get('item-003')).toMatchObject({ response: null, error: { code: 'not_finished' } }); // was still running
    expect(byId.get('item-005')).toMatchObject({ response: null, error: { code: 'not_finished' } }); // never had a record
    // items that never had a record now have one, FAILED
    expect(await requireItem(env(), created.job.jobId, 'item-005')).toMatchObject({ status: 'FAILED', index: 5 });
    expect(
      (await itemsOf(env(), created.job.jobId)).filter(
        (item) => item.status === 'SUBMITTED' || item.status === 'QUEUED',
      ),
    ).toEqual([]);
  });

  test('every item succeeded: COMPLETED', async () => {
    // Arrange
    const { job, context } = await chatJob(3, 3);

    // Act
    const summary = await finalizeJob({ job: context }, env().deps);

    // Assert
    expect(summary).toMatchObject({
      status: 'COMPLETED',
      counts: { total: 3, succeeded: 3, failed: 0, cancelled: 0 },
      usage: { inputTokens: 36, outputTokens: 9 },
    });
    expect(summary.error).toBeUndefined();
    expect(resultsOf(env(), job.jobId).every((line) => line.error === null && line.response?.status_code === 200)).toBe(
      true,
    );
  });

  test('every item failed: FAILED with AllItemsFailed', async () => {
    // Arrange
    const { context } = await chatJob(2, 0);

    // Act
    const summary = await finalizeJob({ job: context }, env().deps);

    // Assert
    expect(summary).toMatchObject({
      status: 'FAILED',
      counts: { total: 2, succeeded: 0, failed: 2 },
      error: { name: 'AllItemsFailed' },
    });
  });

  test('the map failed: FAILED with its error, even though some items succeeded; unfinished items carry it', async () => {
    // Arrange
    const { job, context } = await chatJob(3, 2);
    const mapError = {
      Error: 'States.ExceedToleratedFailureThreshold',
      Cause: 'The specified tolerated failure threshold was exceeded',
    };

    // Act
    const summary = await finalizeJob({ job: context, mapError }, env().deps);

    // Assert
    expect(summary).toMatchObject({
      status: 'FAILED',
      counts: { total: 3, succeeded: 2, failed: 1 },
      error: {
        name: 'States.ExceedToleratedFailureThreshold',
        message: 'The specified tolerated failure threshold was exceeded',
      },
    });
    const item = await requireItem(env(), job.jobId, 'chat-002');
    expect(item.error?.code).toBe('workflow_failed');
    expect(item.error?.message).toContain('States.ExceedToleratedFailureThreshold');
  });

  test('a cancelled job: CANCELLED, with the unfinished items CANCELLED', async () => {
    // Arrange
    const { job, context } = await chatJob(3, 1);
    await env().store.requestCancel(job.jobId);

    // Act
    const summary = await finalizeJob({ job: context }, env().deps);

    // Assert
    expect(summary).toMatchObject({ status: 'CANCELLED', counts: { total: 3, succeeded: 1, cancelled: 2, failed: 0 } });
    const lines = resultsOf(env(), job.jobId);
    expect(
      lines
        .filter((line) => line.error?.code === 'job_cancelled')
        .map((line) => line.custom_id)
        .sort(),
    ).toEqual(['chat-001', 'chat-002']);
  });

  test('run twice, the second run changes nothing and counts nothing twice', async () => {
    // Arrange
    const { job, context } = await chatJob(4, 2);
    const first = await finalizeJob({ job: context }, env().deps);
    const recordAfterFirst = await requireJob(env(), job.jobId);
    const resultsAfterFirst = resultsOf(env(), job.jobId);
    env().clock.advance(60_000);

    // Act
    const second = await finalizeJob({ job: context }, env().deps);

    // Assert
    const outcome = (summary: JobSummary) => [
      summary.status,
      summary.counts,
      summary.usage,
      summary.estimatedCostUsd,
      summary.error,
    ];
    expect(outcome(second)).toEqual(outcome(first));
    expect(first.counts).toMatchObject({ total: 4, succeeded: 2, failed: 2 });
    expect(await requireJob(env(), job.jobId)).toEqual(recordAfterFirst);
    expect(resultsOf(env(), job.jobId)).toEqual(resultsAfterFirst);
    expect(resultUploads(job.jobId)).toHaveLength(1);
  });

  test('the final counts come from the items, even if the live counters drifted', async () => {
    // Arrange
    const { job, context } = await chatJob(3, 3);
    await env().dynamo.send(
      new UpdateCommand({
        TableName: env().tableName,
        Key: keys.job(job.jobId),
        UpdateExpression: 'SET counts.succeeded = :wrong, counts.failed = :wrong, #usage.inputTokens = :wrong',
        ExpressionAttributeNames: { '#usage': 'usage' },
        ExpressionAttributeValues: { ':wrong': 99 },
      }),
    );

    // Act
    const summary = await finalizeJob({ job: context }, env().deps);

    // Assert
    const counts = { total: 3, submitted: 3, succeeded: 3, failed: 0, cancelled: 0 };
    expect(summary).toMatchObject({ status: 'COMPLETED', counts, usage: { inputTokens: 36, outputTokens: 9 } });
    expect(await requireJob(env(), job.jobId)).toMatchObject({ counts, usage: { inputTokens: 36, outputTokens: 9 } });
  });
});
