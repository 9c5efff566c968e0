import { describe, expect, test } from '@jest/globals';
import { scaledClock, systemClock, type Clock } from '../../../shared/clock.js';
import { LocalStepFunctions, type TaskImplementation } from '../../../local/engine/local-step-functions.js';

/** Paths of the runtime the job workflow does not take: top-level waits, inline maps, maps over the input, timeouts. */

const fn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;
const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:features';

function engine(
  definition: Record<string, unknown>,
  tasks: Record<string, TaskImplementation>,
  timeScale = 100,
): LocalStepFunctions {
  return new LocalStepFunctions({ definition, stateMachineArn: ARN, tasks, clock: scaledClock(timeScale) });
}

describe('the local runtime beyond the job workflow', () => {
  test('Waits (Seconds, TimestampPath) sleep on the runtime clock and show as waits in the history', async () => {
    const sfn = engine(
      {
        StartAt: 'Wait a second',
        States: {
          'Wait a second': { Type: 'Wait', Seconds: 2, Next: 'Wait until' },
          'Wait until': { Type: 'Wait', TimestampPath: '$.until', Next: 'Done' },
          Done: { Type: 'Task', Resource: fn('done'), End: true },
        },
      },
      { Done: (input) => ({ ...(input as object), done: true }) },
    );
    // A timestamp on the runtime's clock, which runs 100 times faster than the wall clock.
    const until = new Date(sfn.clock.now().getTime() + 3000).toISOString();
    const started = Date.now();
    const { executionArn } = sfn.startExecution({ input: { until } });
    const description = await sfn.waitForExecution(executionArn);
    const elapsed = Date.now() - started;

    expect(description.status).toBe('SUCCEEDED');
    expect(JSON.parse(description.output ?? '{}')).toEqual({ until, done: true });
    // The second Wait ends 3 s of the clock after the start (the first one's 2 s included): 30 ms.
    expect(elapsed).toBeGreaterThanOrEqual(29);
    expect(sfn.clock.now().getTime()).toBeGreaterThanOrEqual(Date.parse(until));
    expect(elapsed).toBeLessThan(1000);
    const { events } = sfn.getExecutionHistory(executionArn);
    expect(
      events
        .filter((e) => e.type.startsWith('Wait'))
        .map((e) => [e.type, e.stateEnteredEventDetails ?? e.stateExitedEventDetails]),
    ).toEqual([
      ['WaitStateEntered', expect.objectContaining({ name: 'Wait a second' })],
      ['WaitStateExited', expect.objectContaining({ name: 'Wait a second' })],
      ['WaitStateEntered', expect.objectContaining({ name: 'Wait until' })],
      ['WaitStateExited', expect.objectContaining({ name: 'Wait until' })],
    ]);
  });

  test('GIVEN a clock of its own WHEN Waits run THEN the engine sleeps their full durations on that clock and dates executions by it', async () => {
    // Arrange: a clock that stands still at a fixed instant and records what it is asked to sleep
    const at = Date.parse('2030-01-01T00:00:00.000Z');
    const slept: number[] = [];
    const clock: Clock = {
      now: () => new Date(at),
      sleep: (ms) => (slept.push(ms), Promise.resolve()),
      timeScale: 1_000,
    };
    const sfn = new LocalStepFunctions({
      definition: {
        StartAt: 'Wait',
        States: {
          Wait: { Type: 'Wait', Seconds: 90, Next: 'Wait until' },
          'Wait until': { Type: 'Wait', TimestampPath: '$.until', End: true },
        },
      },
      stateMachineArn: ARN,
      tasks: {},
      clock,
    });

    // Act
    const { executionArn, startDate } = sfn.startExecution({ input: { until: new Date(at + 5_000).toISOString() } });
    const description = await sfn.waitForExecution(executionArn);

    // Assert
    expect(description.status).toBe('SUCCEEDED');
    expect(slept).toEqual([90_000, 5_000]);
    expect(startDate.getTime()).toBe(at);
    expect(description.stopDate?.getTime()).toBe(at);
  });

  test('a Distributed Map over ItemsPath with an ItemSelector returns the child outputs in item order', async () => {
    const sfn = engine(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.names',
            ItemSelector: {
              'name.$': '$$.Map.Item.Value',
              'index.$': '$$.Map.Item.Index',
              'greeting.$': "States.Format('hello {}', $$.Map.Item.Value)",
              'tenant.$': '$.tenant',
            },
            MaxConcurrency: 2,
            ItemProcessor: {
              ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
              StartAt: 'Greet',
              States: { Greet: { Type: 'Task', Resource: fn('greet'), End: true } },
            },
            ResultPath: '$.greetings',
            End: true,
          },
        },
      },
      {
        Greet: async (input) => {
          const { name, index, greeting, tenant } = input as {
            name: string;
            index: number;
            greeting: string;
            tenant: string;
          };
          await new Promise((resolve) => setTimeout(resolve, (3 - index) * 5));
          return `${greeting} #${index} of ${tenant} (${name})`;
        },
      },
    );
    const { executionArn } = sfn.startExecution({ input: { tenant: 't1', names: ['a', 'b', 'c'] } });
    const description = await sfn.waitForExecution(executionArn);
    expect(description.status).toBe('SUCCEEDED');
    expect(JSON.parse(description.output ?? '{}')).toMatchObject({
      greetings: ['hello a #0 of t1 (a)', 'hello b #1 of t1 (b)', 'hello c #2 of t1 (c)'],
    });
  });

  test("ItemBatcher splits by MaxInputBytesPerBatch on the items' JSON; ToleratedFailureCount stops the run past the count", async () => {
    const batches: { Items: { id: string }[]; BatchInput: { tenant: string } }[] = [];
    const sfn = engine(
      {
        StartAt: 'Batches',
        States: {
          Batches: {
            Type: 'Map',
            ItemsPath: '$.items',
            ItemBatcher: { MaxInputBytesPerBatch: 50, BatchInput: { 'tenant.$': '$.tenant' } },
            MaxConcurrency: 1,
            ToleratedFailureCountPath: '$.tolerated',
            ItemProcessor: {
              ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
              StartAt: 'Work',
              States: { Work: { Type: 'Task', Resource: fn('work'), End: true } },
            },
            Catch: [
              { ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.mapError', Next: 'Caught' },
            ],
            End: true,
          },
          Caught: { Type: 'Pass', End: true },
        },
      },
      {
        Work: (input) => {
          const batch = input as (typeof batches)[number];
          batches.push(batch);
          if (batch.Items.some((item) => item.id.endsWith('x'))) throw new Error('bad item');
          return batch.Items.length;
        },
      },
    );
    // Each item is 17 bytes of JSON: two make [a,b] = 37 bytes, three would be 55 > 50.
    const items = ['00000', '11111', '2222x', '33333', '44444', '5555x', '66666', '77777'].map((id) => ({
      id: `item-${id}`,
    }));
    const { executionArn } = sfn.startExecution({ input: { tenant: 't1', items, tolerated: 2 } });
    const description = await sfn.waitForExecution(executionArn);

    expect(batches.map((b) => b.Items.length)).toEqual([2, 2, 2]);
    expect(batches[0]?.BatchInput).toEqual({ tenant: 't1' });
    // A failed child fails all its items: 2 after the second child (tolerated), 4 after the third (over
    // the count of 2): the run fails there and the fourth child never starts.
    expect(JSON.parse(description.output ?? '{}')).toMatchObject({
      mapError: { Error: 'States.ExceedToleratedFailureThreshold' },
    });
  });

  test('an inline Map runs its tasks by name too, with iteration events in the history', async () => {
    const sfn = engine(
      {
        StartAt: 'Inline',
        States: {
          Inline: {
            Type: 'Map',
            ItemsPath: '$.numbers',
            ItemProcessor: {
              StartAt: 'Double',
              States: { Double: { Type: 'Task', Resource: fn('double'), End: true } },
            },
            End: true,
          },
        },
      },
      { Double: (n) => (n as number) * 2 },
    );
    const { executionArn } = sfn.startExecution({ input: { numbers: [1, 2, 3] } });
    const description = await sfn.waitForExecution(executionArn);
    expect(description.output).toBe('[2,4,6]');
    const types = sfn.getExecutionHistory(executionArn).events.map((e) => e.type);
    expect(types.filter((t) => t === 'MapIterationSucceeded')).toHaveLength(3);
    expect(types.filter((t) => t === 'LambdaFunctionSucceeded')).toHaveLength(3);
  });

  test('a definition TimeoutSeconds ends the execution TIMED_OUT and stops its waits', async () => {
    // Arrange: the wall clock, watched: each sleep's signal, and whether the sleep has ended
    const sleeps: { signal: AbortSignal | undefined; ended: boolean }[] = [];
    const clock: Clock = {
      now: () => systemClock.now(),
      sleep: (ms, signal) => {
        const sleep = { signal, ended: false };
        sleeps.push(sleep);
        return systemClock.sleep(ms, signal).then(() => void (sleep.ended = true));
      },
    };
    const sfn = new LocalStepFunctions({
      definition: {
        StartAt: 'Long wait',
        TimeoutSeconds: 1,
        States: { 'Long wait': { Type: 'Wait', Seconds: 3600, End: true } },
      },
      stateMachineArn: ARN,
      tasks: {},
      clock,
    });

    // Act
    const { executionArn } = sfn.startExecution({ name: 'times-out' });
    const description = await sfn.waitForExecution(executionArn);
    await new Promise((resolve) => setImmediate(resolve));

    // Assert
    expect(description).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]?.signal?.aborted).toBe(true);
    expect(sleeps[0]?.ended).toBe(true); // the hour-long sleep is gone
    expect(sfn.getExecutionHistory(executionArn, { reverseOrder: true }).events[0]?.type).toBe('ExecutionTimedOut');
  });

  test('listExecutions pages newest first and filters by status', async () => {
    const sfn = engine({ StartAt: 'Pass', States: { Pass: { Type: 'Pass', End: true } } }, {});
    for (const name of ['one', 'two', 'three'])
      await sfn.waitForExecution(sfn.startExecution({ name, input: '{}' }).executionArn);
    const first = sfn.listExecutions({ maxResults: 2 });
    expect(first.executions.map((e) => e.name)).toEqual(['three', 'two']);
    const second = sfn.listExecutions({ maxResults: 2, ...(first.nextToken ? { nextToken: first.nextToken } : {}) });
    expect(second).toEqual({ executions: [expect.objectContaining({ name: 'one' })] });
    expect(sfn.listExecutions({ statusFilter: 'FAILED' }).executions).toEqual([]);
    expect(sfn.stats()).toMatchObject({ executions: 3, stateTransitions: 3 });
  });
});
