import {
  DescribeExecutionCommand,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, test } from '@jest/globals';
import { scaledClock } from '../../../shared/clock.js';
import { LocalStepFunctions, type TaskImplementation } from '../../../local/engine/local-step-functions.js';
import { startStepFunctionsApi } from '../../../local/engine/sfn-api-server.js';

/** RedriveExecution on the local runtime: where a redriven execution resumes, and what it does not run again. */

const fn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;
const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:redrive';

/** Prepare -> a Distributed Map (First -> Second per name) -> After. */
const DEFINITION = {
  StartAt: 'Prepare',
  States: {
    Prepare: { Type: 'Task', Resource: fn('prepare'), ResultPath: '$.prepared', Next: 'Each' },
    Each: {
      Type: 'Map',
      ItemsPath: '$.names',
      MaxConcurrency: 3,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'First',
        States: {
          First: { Type: 'Task', Resource: fn('first'), Next: 'Second' },
          Second: { Type: 'Task', Resource: fn('second'), End: true },
        },
      },
      ResultPath: '$.results',
      Next: 'After',
    },
    After: { Type: 'Task', Resource: fn('after'), End: true },
  },
};

/** Counts each task's calls by the name it got, and holds Second for the names in `held` until released. */
class Tasks {
  readonly calls: string[] = [];
  private release: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));
  private readonly arrived = new Set<string>();
  private allHeld: () => void = () => undefined;
  readonly held: Promise<void>;

  constructor(private readonly holdNames: readonly string[]) {
    this.held = new Promise((resolve) => (this.allHeld = resolve));
  }

  open(): void {
    this.release();
  }

  count(task: string): number {
    return this.calls.filter((call) => call.startsWith(`${task}:`)).length;
  }

  implementations(): Record<string, TaskImplementation> {
    return {
      Prepare: () => {
        this.calls.push('Prepare:');
        return 'ready';
      },
      First: (input) => {
        this.calls.push(`First:${String(input)}`);
        return `${String(input)}-1`;
      },
      Second: async (input) => {
        const name = String(input).replace(/-1$/, '');
        this.calls.push(`Second:${name}`);
        if (this.holdNames.includes(name)) {
          this.arrived.add(name);
          if (this.arrived.size === this.holdNames.length) this.allHeld();
          await this.gate;
        }
        return `${name}-2`;
      },
      After: (input) => {
        this.calls.push('After:');
        return (input as { results: string[] }).results;
      },
    };
  }
}

const engines: LocalStepFunctions[] = [];
function engineWith(tasks: Tasks, definition: Record<string, unknown> = DEFINITION): LocalStepFunctions {
  const engine = new LocalStepFunctions({
    definition,
    stateMachineArn: ARN,
    tasks: tasks.implementations(),
    clock: scaledClock(100),
  });
  engines.push(engine);
  return engine;
}

afterAll(async () => {
  await Promise.all(engines.map((engine) => engine.shutdown()));
});

describe('RedriveExecution on the local runtime', () => {
  test('GIVEN an execution stopped while two of three map children run WHEN it is redriven THEN only those two resume, at the state they were in, and the rest runs once', async () => {
    const tasks = new Tasks(['b', 'c']);
    const sfn = engineWith(tasks);
    const { executionArn } = sfn.startExecution({ input: { names: ['a', 'b', 'c'] } });
    await tasks.held;
    // a's child has finished by now or finishes on its own: b and c are held in Second.
    sfn.stopExecution(executionArn, { error: 'Stopped', cause: 'by hand' });
    const stopped = await sfn.waitForExecution(executionArn);
    expect(stopped.status).toBe('ABORTED');

    tasks.open();
    sfn.redriveExecution(executionArn);
    const redriven = await sfn.waitForExecution(executionArn);

    expect(redriven.status).toBe('SUCCEEDED');
    expect(JSON.parse(redriven.output ?? 'null')).toEqual(['a-2', 'b-2', 'c-2']);
    expect(redriven.redriveCount).toBe(1);
    expect(tasks.count('Prepare')).toBe(1);
    expect(tasks.count('First')).toBe(3);
    expect(tasks.calls.filter((call) => call === 'Second:a')).toHaveLength(1);
    expect(tasks.calls.filter((call) => call === 'Second:b')).toHaveLength(2);
    expect(tasks.calls.filter((call) => call === 'Second:c')).toHaveLength(2);
    expect(tasks.count('After')).toBe(1);
    const types = sfn.getExecutionHistory(executionArn, { maxResults: 1000 }).events.map((event) => event.type);
    expect(types.filter((type) => type === 'ExecutionStarted')).toHaveLength(1);
    expect(types.indexOf('ExecutionRedriven')).toBe(types.indexOf('ExecutionAborted') + 1);
    expect(types).toContain('MapRunRedriven');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
  });

  test('GIVEN an execution that failed in a task past the map WHEN it is redriven THEN it resumes at that task with its input and the map does not run again', async () => {
    const tasks = new Tasks([]);
    let afterFails = true;
    const implementations = tasks.implementations();
    const sfn = new LocalStepFunctions({
      definition: DEFINITION,
      stateMachineArn: ARN,
      clock: scaledClock(100),
      tasks: {
        ...implementations,
        After: (input) => {
          if (afterFails) {
            afterFails = false;
            throw Object.assign(new Error('down'), { name: 'DownstreamDown' });
          }
          return (implementations.After as TaskImplementation)(input);
        },
      },
    });
    engines.push(sfn);
    const { executionArn } = sfn.startExecution({ input: { names: ['a', 'b'] } });
    const failed = await sfn.waitForExecution(executionArn);
    expect(failed).toMatchObject({ status: 'FAILED', error: 'DownstreamDown' });

    sfn.redriveExecution(executionArn);
    const redriven = await sfn.waitForExecution(executionArn);

    expect(redriven.status).toBe('SUCCEEDED');
    expect(JSON.parse(redriven.output ?? 'null')).toEqual(['a-2', 'b-2']);
    expect(tasks.count('Prepare')).toBe(1);
    expect(tasks.count('First')).toBe(2);
    expect(tasks.count('Second')).toBe(2);
  });

  test('GIVEN the Step Functions API endpoint WHEN the SDK redrives THEN a running or succeeded execution is refused with ExecutionNotRedrivable and its reason, and DescribeExecution reports the redrive', async () => {
    const tasks = new Tasks(['a']);
    const engine = engineWith(tasks);
    const api = await startStepFunctionsApi(engine);
    const sfn = new SFNClient({
      endpoint: api.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const { executionArn } = engine.startExecution({ input: { names: ['a'] } });
      await tasks.held;
      const running = sfn.send(new RedriveExecutionCommand({ executionArn }));
      await expect(running).rejects.toBeInstanceOf(ExecutionNotRedrivable);
      await expect(running).rejects.toThrow('Execution is RUNNING and cannot be redriven');
      expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
        redriveStatus: 'NOT_REDRIVABLE',
        redriveCount: 0,
      });

      engine.stopExecution(executionArn);
      await engine.waitForExecution(executionArn);
      expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
        status: 'ABORTED',
        redriveStatus: 'REDRIVABLE',
      });
      tasks.open();
      const { redriveDate } = await sfn.send(new RedriveExecutionCommand({ executionArn }));
      expect(redriveDate).toBeInstanceOf(Date);
      await engine.waitForExecution(executionArn);
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      expect(described).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1, redriveStatus: 'NOT_REDRIVABLE' });
      const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
      expect(history.events?.filter((event) => event.type === 'ExecutionRedriven')).toHaveLength(1);

      await expect(sfn.send(new RedriveExecutionCommand({ executionArn }))).rejects.toThrow(
        'Execution is SUCCEEDED and cannot be redriven',
      );
    } finally {
      sfn.destroy();
      await api.close();
    }
  });
});
