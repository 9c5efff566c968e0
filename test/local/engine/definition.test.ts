import { describe, expect, test } from '@jest/globals';
import {
  LOCAL_MAP_RESOURCE,
  LOCAL_WAIT_RESOURCE,
  MAX_TIMER_SECONDS,
  prepareDefinition,
} from '../../../local/engine/definition.js';
import { LocalRuntimeError } from '../../../local/engine/errors.js';
import { STATE } from '../../../workflows/state-names.js';
import { Harness, jobDefinition } from './harness.js';

/** What the local runtime refuses (instead of the engine ignoring it) and how it rewrites the rest. */

type States = Record<string, Record<string, unknown>>;

function definitionWith(change: (root: States, processor: States) => void): Record<string, unknown> {
  const definition = jobDefinition();
  const root = definition.States as States;
  const map = root[STATE.processBatches] as { ItemProcessor: { States: States } };
  change(root, map.ItemProcessor.States);
  return definition;
}

function refusal(definition: Record<string, unknown>): LocalRuntimeError {
  try {
    new Harness({ definition });
  } catch (error) {
    if (error instanceof LocalRuntimeError) return error;
    throw error;
  }
  throw new Error('the definition was accepted');
}

function state(states: States, name: string): Record<string, unknown> {
  const found = states[name];
  if (!found) throw new Error(`no state ${name}`);
  return found;
}

describe('fields the engine would ignore are refused at construction', () => {
  test('JSONata (QueryLanguage) on a state', () => {
    const error = refusal(definitionWith((root) => (state(root, STATE.finalizeJob).QueryLanguage = 'JSONata')));
    expect(error.name).toBe('LocalRuntimeError');
    expect(error.stateName).toBe(STATE.finalizeJob);
    expect(error.field).toBe('QueryLanguage');
    expect(error.message).toContain('"Finalize job"');
    expect(error.message).toContain('"QueryLanguage"');
  });

  test('Assign inside the ItemProcessor', () => {
    const error = refusal(definitionWith((_, processor) => (state(processor, STATE.pollBatch).Assign = { turns: 1 })));
    expect(error).toMatchObject({ stateName: STATE.pollBatch, field: 'Assign' });
    expect(error.message).toContain('ItemProcessor of "Process items in batches"');
  });

  test('HeartbeatSeconds, .waitForTaskToken, Arguments', () => {
    expect(refusal(definitionWith((_, p) => (state(p, STATE.submitBatch).HeartbeatSeconds = 60)))).toMatchObject({
      stateName: STATE.submitBatch,
      field: 'HeartbeatSeconds',
    });
    expect(
      refusal(
        definitionWith(
          (_, p) => (state(p, STATE.submitBatch).Resource = 'arn:aws:states:::lambda:invoke.waitForTaskToken'),
        ),
      ),
    ).toMatchObject({ stateName: STATE.submitBatch, field: 'Resource' });
    expect(refusal(definitionWith((root) => (state(root, STATE.prepareJob).Arguments = {})))).toMatchObject({
      field: 'Arguments',
    });
  });

  test('a tolerated failure threshold on an inline Map', () => {
    const error = refusal(
      definitionWith((root) => {
        const map = state(root, STATE.processBatches) as Record<string, unknown> & {
          ItemProcessor: { ProcessorConfig: Record<string, unknown> };
        };
        map.ItemProcessor.ProcessorConfig = { Mode: 'INLINE' };
        delete map.ItemReader;
        delete map.ItemBatcher;
        delete map.ResultWriter;
        delete map.Label;
        map.ItemsPath = '$.items';
      }),
    );
    expect(error).toMatchObject({ stateName: STATE.processBatches, field: 'ToleratedFailurePercentagePath' });
  });

  test('a CSV ItemReader with headers', () => {
    const error = refusal(
      definitionWith((root) => {
        const reader = state(root, STATE.processBatches).ItemReader as { ReaderConfig: Record<string, unknown> };
        reader.ReaderConfig = { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' };
      }),
    );
    expect(error).toMatchObject({
      stateName: STATE.processBatches,
      field: 'ItemReader.ReaderConfig.CSVHeaderLocation',
    });
  });

  test('a JSONPath the runtime does not evaluate itself (a filter in BatchInput)', () => {
    const error = refusal(
      definitionWith((root) => {
        const batcher = state(root, STATE.processBatches).ItemBatcher as { BatchInput: Record<string, unknown> };
        batcher.BatchInput['ids.$'] = '$.items[?(@.x)]';
      }),
    );
    expect(error).toMatchObject({ stateName: STATE.processBatches, field: 'ItemBatcher.BatchInput' });
  });

  test('a Task state without an implementation, named', () => {
    expect(() => new Harness({ tasks: { [STATE.recordBatchFailure]: undefined } })).toThrow(
      /No task implementation for the Task state\(s\) "Record batch failure"/,
    );
  });
});

describe('the rewrite', () => {
  const { root, maps, waits, tasks } = prepareDefinition(jobDefinition(), 1000);
  const rootStates = root.definition.States;
  const map = maps.get(STATE.processBatches);
  const processorStates = map?.processor.definition.States ?? {};

  test("the Distributed Map becomes a local Task that keeps the Map's Catch, ResultPath and Next", () => {
    expect(rootStates[STATE.processBatches]).toMatchObject({
      Type: 'Task',
      Resource: LOCAL_MAP_RESOURCE,
      ResultPath: '$.mapRun',
      Next: STATE.finalizeJob,
    });
    expect(rootStates[STATE.processBatches]?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.mapError', Next: STATE.finalizeJob },
    ]);
    expect(map).toMatchObject({
      label: 'Batches',
      maxConcurrencyPath: '$.job.maxConcurrency',
      toleratedFailurePercentagePath: '$.job.toleratedFailurePercentage',
      itemReader: { inputType: 'JSONL' },
      itemBatcher: { maxItemsPerBatchPath: '$.job.batchSize', maxInputBytesPerBatch: 250_000 },
    });
    expect(map?.processor.handlerStates.sort()).toEqual(
      [
        STATE.pollBatch,
        STATE.recordBatchFailure,
        STATE.submitBatch,
        STATE.waitForProvider,
        STATE.waitForTurn,
        STATE.waitForQueueRoom,
      ].sort(),
    );
  });

  test('the Wait becomes a local Task with the same name and transitions', () => {
    expect(processorStates[STATE.waitForProvider]).toEqual({
      Type: 'Task',
      Resource: LOCAL_WAIT_RESOURCE,
      TimeoutSeconds: MAX_TIMER_SECONDS,
      Next: STATE.pollBatch,
    });
    expect(waits.get(STATE.waitForProvider)).toEqual({
      stateName: STATE.waitForProvider,
      secondsPath: '$.waitSeconds',
    });
    expect(processorStates[STATE.waitForTurn]).toMatchObject({
      Type: 'Task',
      Resource: LOCAL_WAIT_RESOURCE,
      Next: STATE.submitBatch,
    });
  });

  test('retry intervals and delay caps are divided by timeScale; backoff and jitter stay', () => {
    const [rateLimited] = (processorStates[STATE.submitBatch]?.Retry ?? []) as Record<string, unknown>[];
    expect(rateLimited).toEqual({
      ErrorEquals: ['RateLimitedError'],
      IntervalSeconds: 0.005,
      MaxAttempts: 8,
      BackoffRate: 2,
      MaxDelaySeconds: 0.12,
      JitterStrategy: 'FULL',
    });
  });

  test('task timeouts are set and clamped to the 32-bit timer', () => {
    expect(tasks.get(STATE.submitBatch)).toMatchObject({ kind: 'lambda', timeoutSeconds: 330 });
    const definition = jobDefinition() as { States: States };
    state(definition.States, STATE.prepareJob).TimeoutSeconds = 99_999_999;
    delete state(definition.States, STATE.finalizeJob).TimeoutSeconds;
    const prepared = prepareDefinition(definition, 1);
    expect(prepared.root.definition.States[STATE.prepareJob]?.TimeoutSeconds).toBe(MAX_TIMER_SECONDS);
    expect(prepared.root.definition.States[STATE.finalizeJob]?.TimeoutSeconds).toBe(MAX_TIMER_SECONDS);
  });

  test('the given definition is not modified', () => {
    const definition = jobDefinition();
    const before = JSON.stringify(definition);
    prepareDefinition(definition, 50);
    expect(JSON.stringify(definition)).toBe(before);
  });
});
