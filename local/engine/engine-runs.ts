/**
 * The runs on aws-local-stepfunctions: one engine StateMachine per prepared machine (the root, and
 * each Distributed Map's ItemProcessor), every run given its local handlers (Tasks, Waits,
 * Distributed Maps), the child executions of map runs, and the counters behind stats().
 */
import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Clock } from '../../shared/clock.js';
import type { DistributedMapPlan, PreparedDefinition, PreparedMachine } from './definition.js';
import {
  runDistributedMap,
  type ChildIdentity,
  type ChildOutcome,
  type ChildRun,
  type MapRunHost,
  type ReadItems,
  type WriteResults,
} from './distributed-map.js';
import { errorMessageOf, executionStoppedError, LocalRuntimeError } from './errors.js';
import { outcomeOf, type ExecutionStatus, type LocalStepFunctionsStats } from './executions.js';
import type { EngineEvent, ExecutionHistory } from './history.js';
import type { Json } from './json-path.js';
import type { MapRunRecords } from './map-run-records.js';
import { ResumeTracker, type MapRunMemories, type ResumePoint } from './redrive.js';
import { RunScope, taskHandler, waitHandler, type Handler, type TaskImplementation } from './state-handlers.js';

type Handlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

/** Definitions already checked by the engine's validator (about 0.5 s per check). */
const validated = new Set<string>();

/** The engine's own validation (asl-validator), on the definition as given. */
export function validateWithEngine(definition: unknown): void {
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

export interface EngineRunsOptions {
  prepared: PreparedDefinition;
  /** Implementations by Task state name; each Task state needs one, and nothing else may have one. */
  tasks: Record<string, TaskImplementation>;
  /** Required when a Distributed Map has an ItemReader. */
  readItems: ReadItems | undefined;
  /** Required when a Distributed Map has a ResultWriter. */
  writeResults: WriteResults | undefined;
  clock: Clock;
  /** The execution role in the children's context objects. */
  roleArn: string;
  /** Records map runs and where their children are, for DescribeMapRun and the console. */
  mapRuns?: MapRunRecords;
}

/** How a top-level run ended. */
export interface ExecutionOutcome {
  status: ExecutionStatus;
  /** JSON text, when SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
}

export interface ExecutionRun {
  scope: RunScope;
  /** Never rejects. */
  outcome: Promise<ExecutionOutcome>;
  /** Resolves once the engine's events are all in the history. */
  logged: Promise<void>;
  /** Stops the run and its local handlers. */
  abort(): void;
  /** The state the run is in (or ended in): where a redrive resumes it. */
  resumeAt(): ResumePoint | undefined;
}

/** How a redrive restarts a run: at the state that failed, with its input, continuing the map runs it had. */
export interface RedriveFrom {
  from: ResumePoint | undefined;
  mapRuns: MapRunMemories;
}

export class EngineRuns {
  private readonly prepared: PreparedDefinition;
  private readonly tasks: Record<string, TaskImplementation>;
  private readonly clock: Clock;
  private readonly roleArn: string;
  private readonly rootMachine: StateMachine;
  private readonly childMachines = new Map<DistributedMapPlan, StateMachine>();
  /** Machines that start at another state than StartAt (redriven runs), by machine and state. */
  private readonly resumedMachines = new Map<PreparedMachine, Map<string, StateMachine>>();
  private readonly mapHost: MapRunHost;
  readonly counters: LocalStepFunctionsStats = {
    executions: 0,
    childExecutions: 0,
    stateTransitions: 0,
    taskInvocations: 0,
    runningChildren: 0,
    peakRunningChildren: 0,
  };

  constructor(options: EngineRunsOptions) {
    this.prepared = options.prepared;
    this.tasks = { ...options.tasks };
    this.clock = options.clock;
    this.roleArn = options.roleArn;
    this.checkImplementations();
    const { readItems, writeResults } = options;
    for (const plan of this.prepared.maps.values()) {
      if (plan.itemReader && !readItems)
        throw new LocalRuntimeError(
          `State "${plan.stateName}" has an ItemReader: pass readItems`,
          plan.stateName,
          'ItemReader',
        );
      if (plan.resultWriter && !writeResults)
        throw new LocalRuntimeError(
          `State "${plan.stateName}" has a ResultWriter: pass writeResults`,
          plan.stateName,
          'ResultWriter',
        );
    }
    this.rootMachine = this.engineMachine(this.prepared.root);
    this.mapHost = {
      readItems: (reader) => {
        if (!readItems) throw new Error('no readItems was given to the local runtime');
        return readItems(reader);
      },
      writeResults,
      startChild: (plan, input, identity, from) => this.startChild(plan, input, identity, from),
      now: () => this.clock.now(),
      ...(options.mapRuns ? { mapRuns: options.mapRuns } : {}),
    };
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

  /**
   * The machine to run from `from` (a redrive), or from its StartAt. A copy of the definition
   * with another StartAt runs the same states with the same handlers.
   */
  private machineFrom(machine: PreparedMachine, base: StateMachine, from: ResumePoint | undefined): StateMachine {
    if (!from) return base;
    let byState = this.resumedMachines.get(machine);
    if (!byState) this.resumedMachines.set(machine, (byState = new Map<string, StateMachine>()));
    let resumed = byState.get(from.stateName);
    if (!resumed) {
      resumed = this.engineMachine({ ...machine, definition: { ...machine.definition, StartAt: from.stateName } });
      byState.set(from.stateName, resumed);
    }
    return resumed;
  }

  /**
   * Runs the root machine as a top-level execution whose events go to `history`; with `redrive`,
   * from the state that failed, with that state's input, continuing its map runs.
   */
  startExecution(
    input: Json,
    context: Record<string, unknown>,
    stateMachineArn: string,
    history: ExecutionHistory,
    redrive: RedriveFrom = { from: undefined, mapRuns: new Map() },
  ): ExecutionRun {
    const scope = new RunScope(this.prepared.root, context, stateMachineArn, history);
    scope.mapRuns = redrive.mapRuns;
    const tracker = new ResumeTracker();
    const machine = this.machineFrom(this.prepared.root, this.rootMachine, redrive.from);
    const execution = machine.run(redrive.from ? redrive.from.input : input, {
      overrides: { taskResourceLocalHandlers: this.handlersFor(scope) },
      context,
      noThrowOnAbort: true,
    });
    this.counters.executions++;
    const logged = this.consumeEvents(execution.eventLogs as AsyncIterable<EngineEvent>, history, tracker);
    const outcome = execution.result.then(
      (output): ExecutionOutcome =>
        scope.signal.aborted
          ? { status: 'ABORTED' as const }
          : { status: 'SUCCEEDED' as const, output: JSON.stringify(output ?? null) },
      (error: unknown) => outcomeOf(error),
    );
    return {
      scope,
      outcome,
      logged,
      abort: () => {
        scope.controller.abort();
        execution.abort();
      },
      resumeAt: () => tracker.point,
    };
  }

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
        scope.mapRuns,
      );
    };
  }

  private startChild(
    plan: DistributedMapPlan,
    input: Json,
    identity: ChildIdentity,
    from: ResumePoint | undefined,
  ): ChildRun {
    let base = this.childMachines.get(plan);
    if (!base) {
      base = this.engineMachine(plan.processor);
      this.childMachines.set(plan, base);
    }
    const machine = this.machineFrom(plan.processor, base, from);
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
    const tracker = new ResumeTracker();
    const execution = machine.run(from ? from.input : input, {
      overrides: { taskResourceLocalHandlers: this.handlersFor(scope) },
      context,
      noThrowOnAbort: true,
    });
    this.counters.childExecutions++;
    this.counters.runningChildren++;
    this.counters.peakRunningChildren = Math.max(this.counters.peakRunningChildren, this.counters.runningChildren);
    void this.consumeEvents(execution.eventLogs as AsyncIterable<EngineEvent>, undefined, tracker, (state) =>
      this.mapHost.mapRuns?.childEntered(identity.executionArn, state),
    );
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
      resumeAt: () => tracker.point,
    };
  }

  private async consumeEvents(
    events: AsyncIterable<EngineEvent>,
    history: ExecutionHistory | undefined,
    tracker: ResumeTracker,
    onEntered?: (stateName: string) => void,
  ): Promise<void> {
    try {
      for await (const event of events) {
        tracker.see(event);
        if (event.type === 'StateEntered') this.counters.stateTransitions++;
        if (event.type === 'StateEntered' && event.state && !event.parentState) onEntered?.(event.state.name);
        history?.fromEngine(event);
      }
    } catch {
      // the engine's event log does not fail; nothing to record if it did
    }
  }
}
