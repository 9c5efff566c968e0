import {
  DescribeMapRunCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
  ResourceNotFound,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, test } from '@jest/globals';
import { startStepFunctionsApi, type StepFunctionsApi } from '../../../local/engine/sfn-api-server.js';
import { InvalidRequestError } from '../../../shared/errors.js';
import { STATE } from '../../../workflows/state-names.js';
import { Harness, makeItems, type ChildInput } from './harness.js';

/** DescribeMapRun, ListMapRuns and ListExecutions(mapRunArn) through the real SFNClient, counted as AWS counts. */

const opened: { api: StepFunctionsApi; sfn: SFNClient; h: Harness }[] = [];

async function open(h: Harness) {
  const api = await startStepFunctionsApi(h.engine);
  const sfn = new SFNClient({
    endpoint: api.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  opened.push({ api, sfn, h });
  return sfn;
}

afterEach(async () => {
  for (const { api, sfn, h } of opened.splice(0)) {
    sfn.destroy();
    await h.engine.shutdown();
    await api.close();
  }
});

const hasItem = (input: unknown, customId: string) =>
  (input as ChildInput).Items.some((item) => item.customId === customId);

describe('map runs in the local Step Functions API', () => {
  test('GIVEN 7 items in batches of 3 and one batch refused WHEN the run ends THEN items and children are counted by status', async () => {
    const h = new Harness({
      items: makeItems(7),
      job: { batchSize: 3, maxConcurrency: 2, toleratedFailurePercentage: 50 },
      tasks: {
        [STATE.submitBatch]: (input) => {
          if (hasItem(input, 'item-6')) throw new InvalidRequestError('the provider refused the batch');
          return { pending: 0 };
        },
      },
    });
    const sfn = await open(h);

    const { executionArn } = await h.run();

    const { mapRuns } = await sfn.send(new ListMapRunsCommand({ executionArn }));
    expect(mapRuns).toHaveLength(1);
    const mapRunArn = mapRuns?.[0]?.mapRunArn;
    expect(mapRunArn).toMatch(/:mapRun:llm-batch-jobs\/Batches:/);
    const run = await sfn.send(new DescribeMapRunCommand({ mapRunArn }));
    expect(run).toMatchObject({
      executionArn,
      status: 'SUCCEEDED',
      maxConcurrency: 2,
      toleratedFailurePercentage: 50,
      toleratedFailureCount: 0,
    });
    expect(run.stopDate).toBeInstanceOf(Date);
    const zero = { pending: 0, running: 0, timedOut: 0, aborted: 0, failuresNotRedrivable: 0, pendingRedrive: 0 };
    expect(run.itemCounts).toEqual({ ...zero, succeeded: 6, failed: 1, total: 7, resultsWritten: 7 });
    expect(run.executionCounts).toEqual({ ...zero, succeeded: 2, failed: 1, total: 3, resultsWritten: 3 });

    const children = await sfn.send(new ListExecutionsCommand({ mapRunArn }));
    expect(children.executions?.map((child) => child.status).sort()).toEqual(['FAILED', 'SUCCEEDED', 'SUCCEEDED']);
    const failed = await sfn.send(new ListExecutionsCommand({ mapRunArn, statusFilter: 'FAILED' }));
    expect(failed.executions).toHaveLength(1);
    expect(h.engine.mapRuns.get(mapRunArn ?? '').children.find((c) => c.status === 'FAILED')?.currentState).toBe(
      STATE.batchFailed,
    );
  });

  test('GIVEN children held in Submit batch WHEN described THEN they count as running, in the state they are in', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    const h = new Harness({
      items: makeItems(5),
      job: { batchSize: 2, maxConcurrency: 2 },
      tasks: {
        [STATE.submitBatch]: async () => {
          entered++;
          await held;
          return { pending: 0 };
        },
      },
    });
    const sfn = await open(h);
    const { executionArn } = h.engine.startExecution({ input: JSON.stringify({ jobId: 'job-1' }) });
    while (entered < 2) await new Promise((resolve) => setTimeout(resolve, 5));

    const [summary] = (await sfn.send(new ListMapRunsCommand({ executionArn }))).mapRuns ?? [];
    const running = await sfn.send(new DescribeMapRunCommand({ mapRunArn: summary?.mapRunArn }));
    expect(running.status).toBe('RUNNING');
    expect(running.executionCounts).toMatchObject({ running: 2, succeeded: 0, total: 2, resultsWritten: 0 });
    expect(running.itemCounts).toMatchObject({ running: 4, total: 4 });
    const children = h.engine.mapRuns.get(summary?.mapRunArn ?? '').children;
    expect(children.map((child) => child.currentState)).toEqual([STATE.submitBatch, STATE.submitBatch]);

    release();
    await h.engine.waitForExecution(executionArn);
    const ended = await sfn.send(new DescribeMapRunCommand({ mapRunArn: summary?.mapRunArn }));
    expect(ended.executionCounts).toMatchObject({ running: 0, succeeded: 3, total: 3 });
    expect(ended.itemCounts).toMatchObject({ succeeded: 5, total: 5 });
  });

  test('GIVEN an unknown map run ARN WHEN described THEN the answer is ResourceNotFound', async () => {
    const sfn = await open(new Harness());
    const unknown = 'arn:aws:states:us-east-1:000000000000:mapRun:llm-batch-jobs/Batches:nobody';
    await expect(sfn.send(new DescribeMapRunCommand({ mapRunArn: unknown }))).rejects.toBeInstanceOf(ResourceNotFound);
  });
});
