import { randomUUID } from 'node:crypto';
import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { systemClock, type Clock } from '../../shared/clock.js';
import { checkName, pageSize, pageToken, parseInput, readPageToken, sameInput } from './api-requests.js';
import {
  prepareDefinition,
  type DistributedMapPlan,
  type PreparedDefinition,
  type PreparedMachine,
} from './definition.js';
import {
  runDistributedMap,
  type ChildIdentity,
  type ChildOutcome,
  type ChildRun,
  type MapRunHost,
  type ReadItems,
  type WriteResults,
} from './distributed-map.js';
import { errorMessageOf, executionStoppedError, LocalRuntimeError, StepFunctionsApiError } from './errors.js';
import {
  outcomeOf,
  type ExecutionDescription,
  type ExecutionEndedListener,
  type ExecutionListItem,
  type ExecutionStatus,
  type LocalStepFunctionsStats,
} from './executions.js';
import { ExecutionHistory, type EngineEvent, type HistoryEvent } from './history.js';
import type { Json } from './json-path.js';
import { RunScope, taskHandler, waitHandler, type Handler, type TaskImplementation } from './state-handlers.js';

export { LocalRuntimeError } from './errors.js';
export type {
  ExecutionDescription,
  ExecutionEndedListener,
  ExecutionListItem,
  ExecutionStatus,
  LocalStepFunctionsStats,
} from './executions.js';
export type { HistoryEvent } from './history.js';
export type { TaskImplementation } from './state-handlers.js';
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
  /**
   * The runtime's one clock (default: the wall clock): Waits sleep on it, Retry intervals are in
   * its time, and execution dates come from it.
   */
  clock?: Clock;
  /** Reported as the execution role in ExecutionStarted events. */
  roleArn?: string;
}

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

const DEFAULT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:local';
/** Definitions already checked by the engine's validator (about 0.5 s per check). */
const validated = new Set<string>();

/**
 * Step Functions on one machine: runs a state machine definition with aws-local-stepfunctions,
 * after rewriting what that engine ignores or gets wrong (see definition.ts), with task
 * implementations in process, and answers the API's calls (start, describe, stop, list, history).
 */
export class LocalStepFunctions {
  readonly stateMachineArn: string;
  readonly clock: Clock;
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
  private readonly counters = {
    executions: 0,
    childExecutions: 0,
    stateTransitions: 0,
    taskInvocations: 0,
    runningChildren: 0,
    peakRunningChildren: 0,
  };
  private readonly mapHost: MapRunHost;

  constructor(options: LocalStepFunctionsOptions) {
    this.stateMachineArn = options.stateMachineArn ?? DEFAULT_STATE_MACHINE_ARN;
    if (!/^arn:[^:]+:states:[^:]*:[^:]*:stateMachine:[^:]+$/.test(this.stateMachineArn)) {
      throw new LocalRuntimeError(`stateMachineArn ${this.stateMachineArn} is not a state machine ARN`);
    }
    this.region = this.stateMachineArn.split(':')[3] ?? 'us-east-1';
    this.roleArn =
      options.roleArn ??
      `arn:aws:iam::${this.stateMachineArn.split(':')[4] ?? '000000000000'}:role/local-step-functions`;
    this.clock = options.clock ?? systemClock;
    let definition: unknown = options.definition;
    if (typeof definition === 'string') {
      try {
        definition = JSON.parse(definition);
      } catch (error) {
        throw new LocalRuntimeError('The definition is not JSON', undefined, undefined, { cause: error });
      }
    }
    this.prepared = prepareDefinition(definition, this.clock.timeScale ?? 1);
    this.validateWithEngine(definition);
    this.tasks = { ...options.tasks };
    this.checkImplementations();
    this.readItems = options.readItems;
    this.writeResults = options.writeResults;
    for (const plan of this.prepared.maps.values()) {
      if (plan.itemReader && !this.readItems)
        throw new LocalRuntimeError(
          `State "${plan.stateName}" has an ItemReader: pass readItems`,
          plan.stateName,
          'ItemReader',
        );
      if (plan.resultWriter && !this.writeResults)
        throw new LocalRuntimeError(
          `State "${plan.stateName}" has a ResultWriter: pass writeResults`,
          plan.stateName,
          'ResultWriter',
        );
    }
    this.rootMachine = this.engineMachine(this.prepared.root);
    this.mapHost = {
      readItems: (reader) => {
        if (!this.readItems) throw new Error('no readItems was given to the local runtime');
        return this.readItems(reader);
      },
      writeResults: this.writeResults,
      startChild: (plan, input, identity) => this.startChild(plan, input, identity),
      now: () => this.clock.now(),
    };
  }

  /** The engine's own validation (asl-validator), on the definition as given. */
  private validateWithEngine(definition: unknown): void {
    const text = JSON.stringify(definition);
    if (validated.has(text)) return;
    try {
      new StateMachine(definition as StateMachineDefinition);
    } catch (error) {
      throw new LocalRuntimeError(`The definition is invalid: ${errorMessageOf(error)}`, undefined, undefined, {
        cause: error,
      });
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
      throw new LocalRuntimeError(
        `tasks has implementations for ${unknown.map((name) => `"${name}"`).join(', ')}, which the definition has no Task state for`,
      );
    }
  }

  private engineMachine(machine: PreparedMachine): StateMachine {
    return new StateMachine(machine.definition as unknown as StateMachineDefinition, {
      validationOptions: { noValidate: true },
    });
  }

  // ---------------------------------------------------------------- handlers

  private handlersFor(scope: RunScope): Handlers {
    const handlers: Record<string, Handler> = {};
    for (const name of scope.machine.handlerStates) {
      const task = this.prepared.tasks.get(name);
      const wait = this.prepared.waits.get(name);
      const map = this.prepared.maps.get(name);
      if (task)
        handlers[name] = taskHandler(
          task,
          this.tasks[name] as TaskImplementation,
          scope,
          () => this.counters.taskInvocations++,
        );
      else if (wait) handlers[name] = waitHandler(wait, scope, this.clock);
      else if (map) handlers[name] = this.mapHandler(map, scope);
    }
    return handlers;
  }

  private mapHandler(plan: DistributedMapPlan, scope: RunScope): Handler {
    return async (input) => {
      if (scope.signal.aborted) throw executionStoppedError();
      return runDistributedMap(
        plan,
        {
          input: input as Json,
          context: scope.context,
          stateMachineArn: scope.stateMachineArn,
          signal: scope.signal,
          history: scope.history,
        },
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
      Execution: {
        Id: identity.executionArn,
        Name: identity.name,
        Input: input,
        StartTime: this.clock.now().toISOString(),
        RoleArn: this.roleArn,
      },
      StateMachine: {
        Id: identity.stateMachineArn,
        Name: identity.stateMachineArn.slice(identity.stateMachineArn.indexOf(':stateMachine:') + 14),
      },
    };
    const scope = new RunScope(plan.processor, context, identity.stateMachineArn, undefined);
    const execution = machine.run(input, {
      overrides: { taskResourceLocalHandlers: this.handlersFor(scope) },
      context,
      noThrowOnAbort: true,
    });
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
        return {
          status: outcome.status === 'RUNNING' ? 'FAILED' : outcome.status,
          ...(outcome.error === undefined ? {} : { error: outcome.error }),
          ...(outcome.cause === undefined ? {} : { cause: outcome.cause }),
        };
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

  private async consumeEvents(
    events: AsyncIterable<EngineEvent>,
    history: ExecutionHistory | undefined,
  ): Promise<void> {
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
      if (sameInput(existing.description.input, text))
        return { executionArn, startDate: existing.description.startDate };
      throw new StepFunctionsApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const startDate = this.clock.now();
    const smName = this.stateMachineArn.slice(this.stateMachineArn.indexOf(':stateMachine:') + 14);
    const context = {
      Execution: {
        Id: executionArn,
        Name: name,
        Input: value,
        StartTime: startDate.toISOString(),
        RoleArn: this.roleArn,
      },
      StateMachine: { Id: this.stateMachineArn, Name: smName },
    };
    const history = new ExecutionHistory(this.prepared, this.region, this.roleArn, this.clock);
    const scope = new RunScope(this.prepared.root, context, this.stateMachineArn, history);
    const description: ExecutionDescription = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate,
      input: text,
    };
    const execution = this.rootMachine.run(value, {
      overrides: { taskResourceLocalHandlers: this.handlersFor(scope) },
      context,
      noThrowOnAbort: true,
    });
    this.counters.executions++;
    const logged = this.consumeEvents(execution.eventLogs as AsyncIterable<EngineEvent>, history);
    const done = execution.result
      .then(
        (output) =>
          scope.signal.aborted
            ? { status: 'ABORTED' as const }
            : { status: 'SUCCEEDED' as const, output: JSON.stringify(output ?? null) },
        (error: unknown) => outcomeOf(error),
      )
      .then(async (outcome) => {
        record.settled = true;
        // Whatever ended the run, local handlers still going (a sleeping Wait, a map run after a timeout) stop now.
        scope.controller.abort();
        await logged;
        if (description.status === 'RUNNING') {
          description.status = outcome.status;
          description.stopDate = this.clock.now();
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
    if (!record)
      throw new StepFunctionsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  describeExecution(executionArn: string): ExecutionDescription {
    return { ...this.record(executionArn).description };
  }

  /**
   * Stops a running execution (status ABORTED at once; running tasks are not interrupted, their results are dropped).
   */
  stopExecution(executionArn: string, options: { error?: string; cause?: string } = {}): { stopDate: Date } {
    const record = this.record(executionArn);
    const { description } = record;
    if (description.status !== 'RUNNING' || record.settled)
      return { stopDate: description.stopDate ?? this.clock.now() };
    description.status = 'ABORTED';
    description.stopDate = this.clock.now();
    if (options.error !== undefined) description.error = options.error;
    if (options.cause !== undefined) description.cause = options.cause;
    record.history.abortDetails = {
      ...(options.error === undefined ? {} : { error: options.error }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    };
    record.abort();
    return { stopDate: description.stopDate };
  }

  /** Newest first, as Step Functions lists them. */
  listExecutions(options: { statusFilter?: ExecutionStatus; maxResults?: number; nextToken?: string } = {}): {
    executions: ExecutionListItem[];
    nextToken?: string;
  } {
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
    return offset + size < all.length
      ? { executions: page, nextToken: pageToken(offset + size) }
      : { executions: page };
  }

  getExecutionHistory(
    executionArn: string,
    options: { maxResults?: number; nextToken?: string; reverseOrder?: boolean } = {},
  ): { events: HistoryEvent[]; nextToken?: string } {
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

  /**
   * Called once per ended execution (any status), like an EventBridge rule on execution status changes. Returns an
   * unsubscribe function.
   */
  onExecutionEnded(listener: ExecutionEndedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notifyEnded(description: ExecutionDescription): void {
    for (const listener of this.listeners) {
      try {
        const pending = listener({ ...description });
        if (pending instanceof Promise)
          pending.catch((error: unknown) => console.error('an onExecutionEnded listener failed', error));
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
    for (const record of running)
      this.stopExecution(record.description.executionArn, {
        error: 'LocalRuntimeShutdown',
        cause: 'the local runtime was shut down',
      });
    await Promise.allSettled(running.map((record) => record.done));
  }
}
