import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from '@jest/globals';
import { ITEM_SHARDS, itemKey } from '../../shared/store/item-shards.js';
import { jobView } from '../../tasks/api/jobs-api.js';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import { chatLines, createJob, pollState, requireJob, submitInput, useTaskTestEnv } from '../support/deps.js';

const env = useTaskTestEnv();

describe('the reducer records attempts per item', () => {
  test('GIVEN items sent once, one sent three times and one never sent WHEN the job ends THEN the job shows mean and max attempts', async () => {
    // Arrange: 4 chat items; 3 ran (synchronously, one attempt each), the 4th never got a record.
    const created = await createJob(env(), { jobType: 'openai-batch', options: {}, lines: chatLines(4) });
    const context = await prepareJob(
      { input: { jobId: created.job.jobId }, executionArn: 'arn:aws:states:us-east-1:123456789012:execution:jobs:x' },
      env().deps,
    );
    pollState(await submitBatch(submitInput(created.job, created.items.slice(0, 3)), env().deps));
    const retried = created.items[1]?.customId ?? '';
    await env().dynamo.send(
      new UpdateCommand({
        TableName: env().tableName,
        Key: itemKey(created.job.jobId, retried, ITEM_SHARDS),
        UpdateExpression: 'SET attempts = :three',
        ExpressionAttributeValues: { ':three': 3 },
      }),
    );

    // Act
    await finalizeJob({ job: context }, env().deps);

    // Assert: (1 + 3 + 1 + 0) / 4
    const job = await requireJob(env(), created.job.jobId);
    expect(job.attempts).toEqual({ mean: 1.25, max: 3 });
    expect(jobView(job, { region: 'us-east-1' })).toMatchObject({ attempts: { mean: 1.25, max: 3 } });
  });
});
