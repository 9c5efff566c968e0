/**
 * The local handlers of Task and Wait states: what the engine calls in place of a Lambda
 * function, and a Wait that sleeps on the runtime's clock.
 */
import type { Clock } from '../../shared/clock.js';
import { isRecord } from '../../shared/is-record.js';
import type { PreparedMachine, TaskPlan, WaitPlan } from './definition.js';
import { errorMessageOf, executionStoppedError, statesRuntimeError } from './errors.js';
import type { ExecutionHistory } from './history.js';
import { evaluateIntegerPath, evaluatePath, type Json } from './json-path.js';
import type { MapRunMemories } from './redrive.js';
import { tick } from './time.js';

/**
 * A Task state's implementation: gets the state's input after Parameters (for
 * `arn:aws:states:::lambda:invoke`, its Payload), returns its result or a promise of it. An error
 * it throws is matched by Retry/Catch on its `name`.
 */
export type TaskImplementation = (input: unknown) => unknown;

export type Handler = (input: unknown) => Promise<Json>;

/** One engine run (a top-level execution or a map child): its context, abort signal and history. */
export class RunScope {
  readonly controller = new AbortController();
  /** The execution's Distributed Map runs, kept for a redrive (top-level executions only). */
  mapRuns: MapRunMemories | undefined;
  constructor(
    readonly machine: PreparedMachine,
    readonly context: Record<string, unknown>,
    readonly stateMachineArn: string,
    readonly history: ExecutionHistory | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }
}

/** A task result as Lambda would hand it on: JSON (undefined becomes null). */
function toJson(value: unknown): Json {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as Json;
}

/**
 * A task implementation's error as the engine's Retry/Catch should see it: the error's name, and
 * for Lambda resources the cause Lambda reports (`{"errorType","errorMessage","trace"}`).
 */
function taskError(error: unknown, task: TaskPlan): Error {
  const name = error instanceof Error && error.name ? error.name : 'Error';
  const message = errorMessageOf(error);
  const cause =
    task.kind === 'other'
      ? message
      : JSON.stringify({
          errorType: name,
          errorMessage: message,
          trace: error instanceof Error ? (error.stack ?? '').split('\n') : [],
        });
  const failure = new Error(cause);
  failure.name = name;
  return failure;
}

/** Calls the implementation, records it in the history, and answers as the resource does. */
export function taskHandler(
  task: TaskPlan,
  implementation: TaskImplementation,
  scope: RunScope,
  onInvoke: () => void,
): Handler {
  return async (input) => {
    if (scope.signal.aborted) throw executionStoppedError();
    onInvoke();
    const history = scope.history;
    // The engine races the task against TimeoutSeconds on its own wall-clock timer; a late answer
    // stays out of the history.
    const deadline = performance.now() + task.timeoutSeconds * 1000;
    if (history) {
      await tick(); // after the engine's TaskStateEntered
      history.taskScheduled(task, input);
    }
    const payload = task.kind === 'lambda-invoke' && isRecord(input) ? input.Payload : input;
    let output: Json;
    try {
      output = toJson(await implementation(payload));
    } catch (error) {
      const failure = taskError(error, task);
      if (history && performance.now() < deadline) history.taskFailed(task, failure.name, failure.message);
      throw failure;
    }
    if (history && performance.now() < deadline) history.taskSucceeded(task, output);
    return task.kind === 'lambda-invoke' ? { ExecutedVersion: '$LATEST', Payload: output, StatusCode: 200 } : output;
  };
}

/** Sleeps the Wait's duration, or until its timestamp, on the runtime's clock. */
export function waitHandler(wait: WaitPlan, scope: RunScope, clock: Clock): Handler {
  return async (input) => {
    if (scope.signal.aborted) throw executionStoppedError();
    let ms: number;
    if (wait.seconds !== undefined) ms = wait.seconds * 1000;
    else if (wait.secondsPath !== undefined) ms = evaluateIntegerPath(wait.secondsPath, input, scope.context, 0) * 1000;
    else {
      const timestamp = wait.timestamp ?? evaluatePath(wait.timestampPath ?? '$', input, scope.context);
      const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
      if (Number.isNaN(at))
        throw statesRuntimeError(`the Wait "${wait.stateName}" got ${JSON.stringify(timestamp)}, not a timestamp`);
      ms = Math.max(0, at - clock.now().getTime());
    }
    await clock.sleep(ms, scope.signal);
    if (scope.signal.aborted) throw executionStoppedError();
    return input as Json;
  };
}
