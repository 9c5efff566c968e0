import { describe, expect, test } from '@jest/globals';
import { scaledClock } from '../../../shared/clock.js';
import {
  LocalStepFunctions,
  type HistoryEvent,
  type TaskImplementation,
} from '../../../local/engine/local-step-functions.js';

/** GetExecutionHistory follows the event sequences Step Functions records around failures, catches and retries. */

const INVOKE = 'arn:aws:states:::lambda:invoke';
const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:history';
const CATCH_ALL = [{ ErrorEquals: ['States.ALL'], Next: 'Recover' }];
const RECOVER = { Type: 'Pass', End: true };

class ItemFailed extends Error {
  override readonly name = 'ItemFailed';
}

const fails: TaskImplementation = () => {
  throw new ItemFailed('the item could not be processed');
};

function mapOverNumbers(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    Type: 'Map',
    ItemsPath: '$.numbers',
    ItemProcessor: { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: INVOKE, End: true } } },
    End: true,
    ...extra,
  };
}

async function historyOf(
  definition: Record<string, unknown>,
  tasks: Record<string, TaskImplementation>,
): Promise<HistoryEvent[]> {
  const sfn = new LocalStepFunctions({ definition, stateMachineArn: ARN, tasks, clock: scaledClock(10_000) });
  const { executionArn } = sfn.startExecution({ input: { numbers: [1, 2] } });
  await sfn.waitForExecution(executionArn);
  return sfn.getExecutionHistory(executionArn).events;
}

/** The Map state's own events, without its iterations' (whose interleaving is not fixed). */
function mapStateTypes(events: HistoryEvent[]): string[] {
  return events.map((e) => e.type).filter((type) => type.startsWith('MapState'));
}

describe('the execution history around failures', () => {
  test('GIVEN a Task whose failure is caught WHEN it runs THEN the Task exits once and the Catch target follows', async () => {
    // Arrange
    const definition = {
      StartAt: 'Work',
      States: { Work: { Type: 'Task', Resource: INVOKE, Catch: CATCH_ALL, End: true }, Recover: RECOVER },
    };

    // Act
    const events = await historyOf(definition, { Work: fails });

    // Assert
    expect(events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'TaskStateExited',
      'PassStateEntered',
      'PassStateExited',
      'ExecutionSucceeded',
    ]);
    const exited = events.find((e) => e.type === 'TaskStateExited');
    // The exit carries the Catch's output: the error, and a cause that names the failure.
    const details = exited?.stateExitedEventDetails as { name: string; output: string };
    expect(details.name).toBe('Work');
    expect(JSON.parse(details.output)).toEqual({
      Error: 'ItemFailed',
      Cause: expect.stringContaining('the item could not be processed'),
    });
  });

  test('GIVEN a Task that fails twice and then succeeds WHEN it is retried THEN every attempt sits inside one entry and exit', async () => {
    // Arrange
    let attempts = 0;
    const definition = {
      StartAt: 'Work',
      States: {
        Work: {
          Type: 'Task',
          Resource: INVOKE,
          Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 3 }],
          End: true,
        },
      },
    };
    const failsTwice: TaskImplementation = (input) => (++attempts < 3 ? fails(input) : 'done');

    // Act
    const events = await historyOf(definition, { Work: failsTwice });

    // Assert
    const attempt = ['TaskScheduled', 'TaskStarted'];
    expect(events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      ...[...attempt, 'TaskFailed'],
      ...[...attempt, 'TaskFailed'],
      ...[...attempt, 'TaskSucceeded'],
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
  });

  test('GIVEN a Map whose iteration failure is caught WHEN it runs THEN the Map fails and exits once, without succeeding', async () => {
    // Arrange
    const definition = { StartAt: 'Each', States: { Each: mapOverNumbers({ Catch: CATCH_ALL }), Recover: RECOVER } };

    // Act
    const events = await historyOf(definition, { Work: fails });

    // Assert
    expect(mapStateTypes(events)).toEqual(['MapStateEntered', 'MapStateStarted', 'MapStateFailed', 'MapStateExited']);
    const types = events.map((e) => e.type);
    expect(types.indexOf('MapStateStarted')).toBe(types.indexOf('MapStateEntered') + 1);
    expect(types.indexOf('MapIterationFailed')).toBeLessThan(types.indexOf('MapStateFailed'));
    expect(types.slice(types.indexOf('MapStateExited'))).toEqual([
      'MapStateExited',
      'PassStateEntered',
      'PassStateExited',
      'ExecutionSucceeded',
    ]);
  });

  test('GIVEN a Map that succeeds WHEN it runs THEN it starts, succeeds and exits once', async () => {
    // Arrange
    const definition = { StartAt: 'Each', States: { Each: mapOverNumbers({}) } };

    // Act
    const events = await historyOf(definition, { Work: (n) => n });

    // Assert
    expect(mapStateTypes(events)).toEqual([
      'MapStateEntered',
      'MapStateStarted',
      'MapStateSucceeded',
      'MapStateExited',
    ]);
    expect(events.map((e) => e.type).filter((type) => type === 'MapIterationSucceeded')).toHaveLength(2);
  });

  test('GIVEN an uncaught Task failure WHEN it runs THEN the execution fails with no exit of the failing state', async () => {
    // Arrange
    const definition = { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: INVOKE, End: true } } };

    // Act
    const events = await historyOf(definition, { Work: fails });

    // Assert
    expect(events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'ExecutionFailed',
    ]);
    expect(events.at(-1)?.executionFailedEventDetails).toMatchObject({
      error: 'ItemFailed',
      cause: expect.stringContaining('the item could not be processed'),
    });
  });

  test('GIVEN an uncaught Map failure WHEN it runs THEN the Map fails and the execution fails, with no Map exit', async () => {
    // Arrange
    const definition = { StartAt: 'Each', States: { Each: mapOverNumbers({}) } };

    // Act
    const events = await historyOf(definition, { Work: fails });

    // Assert
    expect(mapStateTypes(events)).toEqual(['MapStateEntered', 'MapStateStarted', 'MapStateFailed']);
    expect(events.map((e) => e.type).slice(-2)).toEqual(['MapStateFailed', 'ExecutionFailed']);
  });
});
