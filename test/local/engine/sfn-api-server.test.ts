import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ExecutionDescription } from '../../../local/engine/local-step-functions.js';
import { startStepFunctionsApi, type StepFunctionsApi } from '../../../local/engine/sfn-api-server.js';
import { STATE } from '../../../workflows/state-names.js';
import { Harness, makeItems, STATE_MACHINE_ARN, type BatchState, type ChildInput } from './harness.js';

/** The real SFNClient against the local endpoint. */

let h: Harness;
let api: StepFunctionsApi;
let sfn: SFNClient;
const ended: ExecutionDescription[] = [];

beforeAll(async () => {
  h = new Harness({
    items: makeItems(6),
    tasks: {
      [STATE.submitBatch]: (input) => {
        const { Items } = input as ChildInput;
        const state: BatchState = { jobId: 'job', items: Items.map((i) => i.customId), pending: 0, waitSeconds: 5 };
        return state;
      },
    },
  });
  h.engine.onExecutionEnded((execution) => {
    ended.push(execution);
  });
  api = await startStepFunctionsApi(h.engine);
  sfn = new SFNClient({
    endpoint: api.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  sfn.destroy();
  await h.engine.shutdown();
  await api.close();
});

async function describeUntilEnded(executionArn: string): Promise<DescribeExecutionCommandOutput> {
  for (let i = 0; i < 200; i++) {
    const description = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (description.status !== 'RUNNING') return description;
    await delay(10);
  }
  throw new Error('the execution did not end');
}

describe('the Step Functions API server', () => {
  test('start, describe until SUCCEEDED, list, history', async () => {
    const input = JSON.stringify({ jobId: 'job-api-1' });
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'job-api-1', input }),
    );
    expect(started.executionArn).toBe('arn:aws:states:us-east-1:000000000000:execution:llm-batch-jobs:job-api-1');
    expect(started.startDate).toBeInstanceOf(Date);

    const description = await describeUntilEnded(started.executionArn ?? '');
    expect(description).toMatchObject({
      status: 'SUCCEEDED',
      name: 'job-api-1',
      input,
      stateMachineArn: STATE_MACHINE_ARN,
    });
    expect(description.stopDate).toBeInstanceOf(Date);
    expect(JSON.parse(description.output ?? '{}')).toMatchObject({ summary: { status: 'SUCCEEDED' } });

    const listed = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'SUCCEEDED' }),
    );
    expect(listed.executions?.map((e) => e.name)).toContain('job-api-1');

    const firstPage = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn: started.executionArn, maxResults: 5 }),
    );
    expect(firstPage.events?.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
    ]);
    expect(firstPage.events?.[0]?.timestamp).toBeInstanceOf(Date);
    expect(firstPage.events?.[1]?.stateEnteredEventDetails?.name).toBe(STATE.prepareJob);
    expect(firstPage.nextToken).toBeDefined();
    const rest = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: started.executionArn,
        maxResults: 1000,
        nextToken: firstPage.nextToken,
      }),
    );
    const types = rest.events?.map((e) => e.type) ?? [];
    expect(types).toContain('MapRunStarted');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
    const mapRun = rest.events?.find((e) => e.type === 'MapRunStarted');
    expect(mapRun?.mapRunStartedEventDetails?.mapRunArn).toMatch(/:mapRun:llm-batch-jobs\/Batches:/);
    await h.engine.waitForExecution(started.executionArn ?? '');
    expect(ended.map((e) => e.name)).toContain('job-api-1');
  });

  test('stop a long-running execution: ABORTED, its children aborted', async () => {
    // timeScale 1,000: the child's one-hour wait for the provider lasts 3.6 s.
    const slow = new Harness({
      items: [{ customId: 'slow', index: 0 }],
      timeScale: 1000,
      tasks: {
        [STATE.submitBatch]: () => ({ pending: 1, waitSeconds: 3600 }),
      },
    });
    const slowApi = await startStepFunctionsApi(slow.engine);
    const client = new SFNClient({
      endpoint: slowApi.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const { executionArn } = await client.send(
        new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'slow-1', input: '{"jobId":"slow"}' }),
      );
      while (slow.callsOf(STATE.submitBatch).length === 0) await delay(5);
      expect(slow.engine.stats().runningChildren).toBe(1);

      const stopped = await client.send(
        new StopExecutionCommand({ executionArn, error: 'UserCancelled', cause: 'stopped by the test' }),
      );
      expect(stopped.stopDate).toBeInstanceOf(Date);
      const description = await client.send(new DescribeExecutionCommand({ executionArn }));
      expect(description).toMatchObject({ status: 'ABORTED', error: 'UserCancelled', cause: 'stopped by the test' });

      const started = Date.now();
      await slow.engine.waitForExecution(executionArn ?? '');
      expect(Date.now() - started).toBeLessThan(1000); // not the 3.6 s wait
      await delay(20);
      expect(slow.engine.stats().runningChildren).toBe(0);
      expect(slow.callsOf(STATE.pollBatch)).toHaveLength(0);
      const history = await client.send(
        new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 2 }),
      );
      expect(history.events?.[0]).toMatchObject({
        type: 'ExecutionAborted',
        executionAbortedEventDetails: { error: 'UserCancelled', cause: 'stopped by the test' },
      });
      expect(history.events?.[1]?.type).toBe('MapRunAborted');
    } finally {
      client.destroy();
      await slow.engine.shutdown();
      await slowApi.close();
    }
  });

  test('the same name: same input returns the execution, another input is ExecutionAlreadyExists', async () => {
    const input = JSON.stringify({ jobId: 'job-api-2' });
    const first = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'job-api-2', input }),
    );
    const again = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'job-api-2', input }),
    );
    expect(again.executionArn).toBe(first.executionArn);
    expect(again.startDate?.getTime()).toBe(first.startDate?.getTime());

    const conflict = await sfn
      .send(
        new StartExecutionCommand({
          stateMachineArn: STATE_MACHINE_ARN,
          name: 'job-api-2',
          input: '{"jobId":"other"}',
        }),
      )
      .catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(ExecutionAlreadyExists);
    expect((conflict as ExecutionAlreadyExists).$metadata.httpStatusCode).toBe(400);
  });

  test('an unknown execution is ExecutionDoesNotExist', async () => {
    const error = await sfn
      .send(
        new DescribeExecutionCommand({
          executionArn: 'arn:aws:states:us-east-1:000000000000:execution:llm-batch-jobs:nope',
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionDoesNotExist);
  });

  test('an unknown operation is a 400 UnknownOperationException', async () => {
    const response = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.CreateStateMachine' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });
});
