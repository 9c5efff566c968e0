import { randomUUID } from 'node:crypto';
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { prepareDefinition, type DistributedMapPlan, type PreparedDefinition, type PreparedMachine, type TaskPlan, type WaitPlan } from './definition.js';
import {
  runDistributedMap,
  type ChildIdentity,
  type ChildOutcome,
  type ChildRun,
  type MapRunHost,
  type ReadItems,
  type WriteResults,
} from './distributed-map.js';
import { errorMessageOf, executionStoppedError, LocalRuntimeError, StepFunctionsApiError, statesRuntimeError } from './errors.js';
import { ExecutionHistory, type EngineEvent, type HistoryEvent } from './history.js';
import { evaluateIntegerPath, evaluatePath, type Json } from './json-path.js';
import { sleep, tick } from './time.js';
import { isRecord } from '../../shared/is-record.js';

export { LocalRuntimeError } from './errors.js';
export type { HistoryEvent } from './history.js';
export {
  mapRunResultFiles,
  type ItemReaderRequest,
  type MapRunChildResult,
  type MapRunResults,
  type ReadItems,
  type ResultWriterDetails,
  type ResultWriterTarget,
  type WriteResults,
} from './distributed-map.js';

/**
 * A Task state's implementation: gets the state's input after Parameters (for
 * `arn:aws:states:::lambda:invoke`, its Payload), returns its result or a promise of it. An error
 * it throws is matched by Retry/Catch on its `name`.
 */
export type TaskImplementation = (input: unknown) => unknown;

export interface LocalStepFunctionsOptions {
  /** The plain ASL definition (an object, or its JSON text). */
  definition: Record<string, unknown> | string;
  /** Default arn:aws:states:us-east-1:000000000000:stateMachine:local. */
  stateMachineArn?: string;
  /** Implementations by state name, for every Task state at any depth (ItemProcessors included). */
  tasks: Record<string, TaskImplementation>;
  /** Reads a Distributed Map's ItemReader object; required when the definition has an ItemReader. */
  readItems?: ReadItems;
  /** Writes a Distributed Map's results; required when the definition has a ResultWriter. */
  writeResults?: WriteResults;
  /** Local time runs this many times faster: Wait durations and Retry intervals are divided by it. Default 1. */
  timeScale?: number;
  /** Reported as the execution role in ExecutionStarted events. */
  roleArn?: string;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  /** JSON text, as Step Functions returns it. */
  input: string;
  /** JSON text, when SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
}

export interface ExecutionListItem {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
}

export interface LocalStepFunctionsStats {
  /** Top-level executions started. */
  executions: number;
  /** Distributed Map child executions started. */
  childExecutions: number;
  /** States entered, in every execution (children and inline Map iterations included). */
  stateTransitions: number;
  /** Calls of the task implementations (retries included). */
  taskInvocations: number;
  /** Distributed Map children running now, and the most there ever were at once. */
  runningChildren: number;
  peakRunningChildren: number;
}

export type ExecutionEndedListener = (execution: ExecutionDescription) => void | Promise<void>;

type Handler = (input: unknown) => Promise<Json>;
type Handlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

interface ExecutionRecord {
  description: ExecutionDescription;
  scope: RunScope;
  history: ExecutionHistory;
  /** The engine run has ended (its status is being recorded). */
  settled: boolean;
  abort: () => void;
  done: Promise<ExecutionDescription>;
}

/** One engine run (a top-level execution or a map child): its context, abort signal and history. */
class RunScope {
  readonly controller = new AbortController();
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

const DEFAULT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:local';
/** Definitions already checked by the engine's validator (about 0.5 s per check). */
const validated = new Set<string>();

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
      : JSON.stringify({ errorType: name, errorMessage: message, trace: error instanceof Error ? (error.stack ?? '').split('\n') : [] });
  const failure = new Error(cause);
  failure.name = name;
  return failure;
}

/** AWS: 1-80 characters, no whitespace, brackets, wildcards or special characters. */
function checkName(name: string): void {
  if (name.length < 1 || name.length > 80 || /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new StepFunctionsApiError('InvalidName', `Invalid Name: '${name}'`);
  }
}

function parseInput(input: unknown): { text: string; value: Json } {
  if (input === undefined || input === null) return { text: '{}', value: {} };
  if (typeof input === 'string') {
    try {
      return { text: input, value: JSON.parse(input) as Json };
    } catch {
      throw new StepFunctionsApiError('InvalidExecutionInput', 'Invalid State Machine Execution Input: the input is not JSON');
    }
  }
  const text = JSON.stringify(input);
  return { text, value: JSON.parse(text) as Json };
}

function sameInput(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

function readPageToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64url').toString()) as { offset?: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new StepFunctionsApiError('InvalidToken', 'Invalid Token: the nextToken is not one this endpoint handed out');
}

function pageSize(maxResults: number | undefined, fallback: number, max: number): number {
  if (maxResults === undefined || maxResults === 0) return fallback;
  if (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > max) {
    throw new StepFunctionsApiError('ValidationException', `maxResults must be an integer from 0 to ${max}`);
  }
  return maxResults;
}

/** What a finished engine run ended as. */
function outcomeOf(error: unknown): { status: ExecutionStatus; error?: string; cause?: string } {
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution ran past its TimeoutSeconds' };
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    return { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
  }
  return { status: 'FAILED', error: 'States.Runtime', cause: errorMessageOf(error) };
}

/**
 * Step Functions on one machine: runs a state machine definition with aws-local-stepfunctions,
 * after rewriting what that engine ignores or gets wrong (see definition.ts), with task
 * implementations in process, and answers the API's calls (start, describe, stop, list, history).
 */
export class LocalStepFunctions {
  readonly stateMachineArn: string;
  readonly timeScale: number;
  private readonly prepared: PreparedDefinition;
  private readonly tasks: Record<string, TaskImplementation>;
  private readonly readItems: ReadItems | undefined;
  private readonly writeResults: WriteResults | undefined;
  private readonly roleArn: string;
  private readonly region: string;
  private readonly rootMachine: StateMachine;
  private readonly childMachines = new Map<DistributedMapPlan, StateMachine>();
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly order: ExecutionRecord[] = [];
  private readonly listeners = new Set<ExecutionEndedListener>();
  private readonly counters = { executions: 0, childExecutions: 0, stateTransitions: 0, taskInvocations: 0, runningChildren: 0, peakRunningChildren: 0 };
  private readonly mapHost: MapRunHost;

  constructor(options: LocalStepFunctionsOptions) {
    this.stateMachineArn = options.stateMachineArn ?? DEFAULT_STATE_MACHINE_ARN;
    if (!/^arn:[^:]+:states:[^:]*:[^:]*:stateMachine:[^:]+$/.test(this.stateMachineArn)) {
      throw new LocalRuntimeError(`stateMachineArn ${this.stateMachineArn} is not a state machine ARN`);
    }
    this.region = this.stateMachineArn.split(':')[3] ?? 'us-east-1';
    this.roleArn = options.roleArn ?? `arn:aws:iam::${this.stateMachineArn.split(':')[4] ?? '000000000000'}:role/local-step-functions`;
    this.timeScale = options.timeScale ?? 1;
    let definition: unknown = options.definition;
    if (typeof definition === 'string') {
      try {
        definition = JSON.parse(definition);
      } catch (error) {
        throw new LocalRuntimeError('The definition is not JSON', undefined, undefined, { cause: error });
      }
    }
    this.prepared = prepareDefinition(definition, this.timeScale);
    this.validateWithEngine(definition);
    this.tasks = { ...options.tasks };
    this.checkImplementations();
    this.readItems = options.readItems;
    this.writeResults = options.writeResults;
    for (const plan of this.prepared.maps.values()) {
      if (plan.itemReader && !this.readItems) throw new LocalRuntimeError(`State "${plan.stateName}" has an ItemReader: pass readItems`, plan.stateName, 'ItemReader');
      if (plan.resultWriter && !this.writeResults) throw new LocalRuntimeError(`State "${plan.stateName}" has a ResultWriter: pass writeResults`, plan.stateName, 'ResultWriter');
    }
    this.rootMachine = this.engineMachine(this.prepared.root);
    this.mapHost = {
      readItems: (reader) => {
        if (!this.readItems) throw new Error('no readItems was given to the local runtime');
        return this.readItems(reader);
      },
      writeResults: this.writeResults,
      startChild: (plan, input, identity) => this.startChild(plan, input, identity),
    };
  }

  /** The engine's own validation (asl-validator), on the definition as given. */
  private validateWithEngine(definition: unknown): void {
    const text = JSON.stringify(definition);
    if (validated.has(text)) return;
    try {
      new StateMachine(definition as StateMachineDefinition);
    } catch (error) {
      throw new LocalRuntimeError(`The definition is invalid: ${errorMessageOf(error)}`, undefined, undefined, { cause: error });
    }
    validated.add(text);
  }

  private checkImplementations(): void {
    const missing = [...this.prepared.tasks.keys()].filter((name) => typeof this.tasks[name] !== 'function');
    if (missing.length > 0) {
      throw new LocalRuntimeError(
        `No task implementation for the Task state(s) ${missing.map((name) => `"${name}"`).join(', ')}: pass one per Task state name in tasks`,
        missing[0],
        'Resource',
      );
    }
    const unknown = Object.keys(this.tasks).filter((name) => !this.prepared.tasks.has(name));
    if (unknown.length > 0) {
      throw new LocalRuntimeError(`tasks has implementations for ${unknown.map((name) => `"${name}"`).join(', ')}, which the definition has no Task state for`);
    }
  }

  private engineMachine(machine: PreparedMachine): StateMachine {
    return new StateMachine(machine.definition as unknown as StateMachineDefinition, { validationOptions: { noValidate: true } });
  }

  // ---------------------------------------------------------------- handlers

  private handlersFor(scope: RunScope): Handlers {
    const handlers: Record<string, Handler> = {};
    for (const name of scope.machine.handlerStates) {
      const task = this.prepared.tasks.get(name);
      const wait = this.prepared.waits.get(name);
      const map = this.prepared.maps.get(name);
      if (task) handlers[name] = this.taskHandler(task, scope);
      else if (wait) handlers[name] = this.waitHandler(wait, scope);
      else if (map) handlers[name] = this.mapHandler(map, scope);
    }
    return handlers;
  }

  private taskHandler(task: TaskPlan, scope: RunScope): Handler {
    const implementation = this.tasks[task.stateName] as TaskImplementation;
    return async (input) => {
      if (scope.signal.aborted) throw executionStoppedError();
      this.counters.taskInvocations++;
      const history = scope.history;
      // The engine races the task against TimeoutSeconds; a late answer stays out of the history.
      const deadline = Date.now() + task.timeoutSeconds * 1000;
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
        if (history && Date.now() < deadline) history.taskFailed(task, failure.name, failure.message);
        throw failure;
      }
      if (history && Date.now() < deadline) history.taskSucceeded(task, output);
      return task.kind === 'lambda-invoke' ? { ExecutedVersion: '$LATEST', Payload: output, StatusCode: 200 } : output;
    };
  }

  private waitHandler(wait: WaitPlan, scope: RunScope): Handler {
    return async (input) => {
      if (scope.signal.aborted) throw executionStoppedError();
      let ms: number;
      if (wait.seconds !== undefined) ms = wait.seconds * 1000;
      else if (wait.secondsPath !== undefined) ms = evaluateIntegerPath(wait.secondsPath, input, scope.context, 0) * 1000;
      else {
        const timestamp = wait.timestamp ?? evaluatePath(wait.timestampPath ?? '$', input, scope.context);
        const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
        if (Number.isNaN(at)) throw statesRuntimeError(`the Wait "${wait.stateName}" got ${JSON.stringify(timestamp)}, not a timestamp`);
        ms = Math.max(0, at - Date.now());
      }
      await sleep(ms / this.timeScale, scope.signal);
      if (scope.signal.aborted) throw executionStoppedError();
      return input as Json;
    };
  }

  private mapHandler(plan: DistributedMapPlan, scope: RunScope): Handler {
    return async (input) => {
      if (scope.signal.aborted) throw executionStoppedError();
      return runDistributedMap(
        plan,
        { input: input as Json, context: scope.context, stateMachineArn: scope.stateMachineArn, signal: scope.signal, history: scope.history },
        this.mapHost,
      );
    };
  }

  private startChild(plan: DistributedMapPlan, input: Json, identity: ChildIdentity): ChildRun {
    let machine = this.childMachines.get(plan);
    if (!machine) {
      machine = this.engineMachine(plan.processor);
      this.childMachines.set(plan, machine);
    }
    const context = {
      Execution: { Id: identity.executionArn, Name: identity.name, Input: input, StartTime: new Date().toISOString(), RoleArn: this.roleArn },
      StateMachine: { Id: identity.stateMachineArn, Name: identity.stateMachineArn.slice(identity.stateMachineArn.indexOf(':stateMachine:') + 14) },
    };
    const scope = new RunScope(plan.processor, context, identity.stateMachineArn, undefined);
    const execution = machine.run(input, { overrides: { taskResourceLocalHandlers: this.handlersFor(scope) }, context, noThrowOnAbort: true });
    this.counters.childExecutions++;
    this.counters.runningChildren++;
    this.counters.peakRunningChildren = Math.max(this.counters.peakRunningChildren, this.counters.runningChildren);
    void this.consumeEvents(execution.eventLogs as AsyncIterable<EngineEvent>, undefined);
    const result = execution.result.then(
      (output): ChildOutcome => (scope.signal.aborted ? { status: 'ABORTED' } : { status: 'SUCCEEDED', output }),
      (error: unknown): ChildOutcome => {
        // A failed or timed-out child may leave local handlers behind (a sleeping Wait, a nested map run): stop them.
        scope.controller.abort();
        const outcome = outcomeOf(error);
        return { status: outcome.status === 'RUNNING' ? 'FAILED' : outcome.status, ...(outcome.error === undefined ? {} : { error: outcome.error }), ...(outcome.cause === undefined ? {} : { cause: outcome.cause }) };
      },
    );
    void result.finally(() => this.counters.runningChildren--);
    return {
      result,
      abort: () => {
        scope.controller.abort();
        execution.abort();
      },
    };
  }

  private async consumeEvents(events: AsyncIterable<EngineEvent>, history: ExecutionHistory | undefined): Promise<void> {
    try {
      for await (const event of events) {
        if (event.type === 'StateEntered') this.counters.stateTransitions++;
        history?.fromEngine(event);
      }
    } catch {
      // the engine's event log does not fail; nothing to record if it did
    }
  }

  // ---------------------------------------------------------------- API

  /**
   * Starts an execution. `input` is JSON text (as StartExecution takes it) or a value to serialize.
   * The same name with the same input returns the existing execution (running or ended); with a
   * different input it throws ExecutionAlreadyExists.
   */
  startExecution(request: { name?: string; input?: unknown }): { executionArn: string; startDate: Date } {
    const name = request.name ?? randomUUID();
    checkName(name);
    const { text, value } = parseInput(request.input);
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (sameInput(existing.description.input, text)) return { executionArn, startDate: existing.description.startDate };
      throw new StepFunctionsApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const startDate = new Date();
    const smName = this.stateMachineArn.slice(this.stateMachineArn.indexOf(':stateMachine:') + 14);
    const context = {
      Execution: { Id: executionArn, Name: name, Input: value, StartTime: startDate.toISOString(), RoleArn: this.roleArn },
      StateMachine: { Id: this.stateMachineArn, Name: smName },
    };
    const history = new ExecutionHistory(this.prepared, this.region, this.roleArn);
    const scope = new RunScope(this.prepared.root, context, this.stateMachineArn, history);
    const description: ExecutionDescription = { executionArn, stateMachineArn: this.stateMachineArn, name, status: 'RUNNING', startDate, input: text };
    const execution = this.rootMachine.run(value, { overrides: { taskResourceLocalHandlers: this.handlersFor(scope) }, context, noThrowOnAbort: true });
    this.counters.executions++;
    const logged = this.consumeEvents(execution.eventLogs as AsyncIterable<EngineEvent>, history);
    const done = execution.result
      .then(
        (output) => (scope.signal.aborted ? { status: 'ABORTED' as const } : { status: 'SUCCEEDED' as const, output: JSON.stringify(output ?? null) }),
        (error: unknown) => outcomeOf(error),
      )
      .then(async (outcome) => {
        record.settled = true;
        // Whatever ended the run, local handlers still going (a sleeping Wait, a map run after a timeout) stop now.
        scope.controller.abort();
        await logged;
        if (description.status === 'RUNNING') {
          description.status = outcome.status;
          description.stopDate = new Date();
          if ('output' in outcome && outcome.output !== undefined) description.output = outcome.output;
          if ('error' in outcome && outcome.error !== undefined) description.error = outcome.error;
          if ('cause' in outcome && outcome.cause !== undefined) description.cause = outcome.cause;
        }
        this.notifyEnded(description);
        return { ...description };
      });
    const record: ExecutionRecord = {
      description,
      scope,
      history,
      settled: false,
      abort: () => {
        scope.controller.abort();
        execution.abort();
      },
      done,
    };
    this.executions.set(executionArn, record);
    this.order.push(record);
    return { executionArn, startDate };
  }

  private record(executionArn: string): ExecutionRecord {
    const record = this.executions.get(executionArn);
    if (!record) throw new StepFunctionsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  describeExecution(executionArn: string): ExecutionDescription {
    return { ...this.record(executionArn).description };
  }

  /** Stops a running execution (status ABORTED at once; running tasks are not interrupted, their results are dropped). */
  stopExecution(executionArn: string, options: { error?: string; cause?: string } = {}): { stopDate: Date } {
    const record = this.record(executionArn);
    const { description } = record;
    if (description.status !== 'RUNNING' || record.settled) return { stopDate: description.stopDate ?? new Date() };
    description.status = 'ABORTED';
    description.stopDate = new Date();
    if (options.error !== undefined) description.error = options.error;
    if (options.cause !== undefined) description.cause = options.cause;
    record.history.abortDetails = { ...(options.error === undefined ? {} : { error: options.error }), ...(options.cause === undefined ? {} : { cause: options.cause }) };
    record.abort();
    return { stopDate: description.stopDate };
  }

  /** Newest first, as Step Functions lists them. */
  listExecutions(options: { statusFilter?: ExecutionStatus; maxResults?: number; nextToken?: string } = {}): { executions: ExecutionListItem[]; nextToken?: string } {
    const size = pageSize(options.maxResults, 100, 1000);
    const offset = readPageToken(options.nextToken);
    const all = this.order
      .map((record) => record.description)
      .filter((d) => options.statusFilter === undefined || d.status === options.statusFilter)
      .reverse();
    const page = all.slice(offset, offset + size).map((d) => ({
      executionArn: d.executionArn,
      stateMachineArn: d.stateMachineArn,
      name: d.name,
      status: d.status,
      startDate: d.startDate,
      ...(d.stopDate ? { stopDate: d.stopDate } : {}),
    }));
    return offset + size < all.length ? { executions: page, nextToken: pageToken(offset + size) } : { executions: page };
  }

  getExecutionHistory(executionArn: string, options: { maxResults?: number; nextToken?: string; reverseOrder?: boolean } = {}): { events: HistoryEvent[]; nextToken?: string } {
    const record = this.record(executionArn);
    const size = pageSize(options.maxResults, 100, 1000);
    const offset = readPageToken(options.nextToken);
    const events = options.reverseOrder ? [...record.history.events].reverse() : record.history.events;
    const page = events.slice(offset, offset + size).map((event) => ({ ...event }));
    return offset + size < events.length ? { events: page, nextToken: pageToken(offset + size) } : { events: page };
  }

  /** Resolves with the description once the execution has ended (and its history is complete). */
  async waitForExecution(executionArn: string): Promise<ExecutionDescription> {
    await this.record(executionArn).done;
    return this.describeExecution(executionArn);
  }

  /** Called once per ended execution (any status), like an EventBridge rule on execution status changes. Returns an unsubscribe function. */
  onExecutionEnded(listener: ExecutionEndedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notifyEnded(description: ExecutionDescription): void {
    for (const listener of this.listeners) {
      try {
        const pending = listener({ ...description });
        if (pending instanceof Promise) pending.catch((error: unknown) => console.error('an onExecutionEnded listener failed', error));
      } catch (error) {
        console.error('an onExecutionEnded listener failed', error);
      }
    }
  }

  stats(): LocalStepFunctionsStats {
    return { ...this.counters };
  }

  /** Stops every running execution (ABORTED, listeners notified) and resolves once they have ended. */
  async shutdown(): Promise<void> {
    const running = this.order.filter((record) => record.description.status === 'RUNNING');
    for (const record of running) this.stopExecution(record.description.executionArn, { error: 'LocalRuntimeShutdown', cause: 'the local runtime was shut down' });
    await Promise.allSettled(running.map((record) => record.done));
  }
}
