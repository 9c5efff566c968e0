import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../shared/clock.js';
import { checkName, parseInput, sameInput } from './api-requests.js';
import { prepareDefinition, type PreparedDefinition } from './definition.js';
import type { ReadItems, WriteResults } from './distributed-map.js';
import { EngineRuns, validateWithEngine } from './engine-runs.js';
import { ExecutionRecords, type ExecutionRecord } from './execution-records.js';
import { LocalRuntimeError, StepFunctionsApiError } from './errors.js';
import type {
  ExecutionDescription,
  ExecutionEndedListener,
  ExecutionListItem,
  ExecutionStatus,
  LocalStepFunctionsStats,
} from './executions.js';
import { ExecutionHistory, type HistoryEvent } from './history.js';
import { MapRunRecords } from './map-run-records.js';
import { redriveRefusal, type ResumePoint } from './redrive.js';
import type { TaskImplementation } from './state-handlers.js';

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
  writeMapRunResultFiles,
  type PutPieces,
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

const DEFAULT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:local';

/**
 * Step Functions on one machine: runs a state machine definition with aws-local-stepfunctions,
 * after rewriting what that engine ignores or gets wrong (see definition.ts), with task
 * implementations in process (see engine-runs.ts), and answers the API's calls (start, describe,
 * stop, list, history).
 */
export class LocalStepFunctions {
  readonly stateMachineArn: string;
  readonly clock: Clock;
  private readonly prepared: PreparedDefinition;
  private readonly roleArn: string;
  private readonly region: string;
  private readonly runs: EngineRuns;
  private readonly executions = new ExecutionRecords();
  private readonly listeners = new Set<ExecutionEndedListener>();
  /** Every map run and its children (DescribeMapRun, ListMapRuns, ListExecutions by mapRunArn). */
  readonly mapRuns = new MapRunRecords();

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
    validateWithEngine(definition);
    this.runs = new EngineRuns({
      prepared: this.prepared,
      tasks: options.tasks,
      readItems: options.readItems,
      writeResults: options.writeResults,
      clock: this.clock,
      roleArn: this.roleArn,
      mapRuns: this.mapRuns,
    });
  }

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
    const existing = this.executions.find(executionArn);
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
    const description: ExecutionDescription = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate,
      input: text,
      redriveCount: 0,
    };
    const record: ExecutionRecord = {
      description,
      history,
      settled: false,
      abort: () => undefined,
      done: Promise.resolve(description),
      input: value,
      context,
      mapRuns: new Map(),
      resumeAt: () => undefined,
    };
    this.launch(record, undefined);
    this.executions.add(record);
    return { executionArn, startDate };
  }

  /** Runs the execution's machine (from `from` on a redrive) and records how the run ends. */
  private launch(record: ExecutionRecord, from: ResumePoint | undefined): void {
    const { description } = record;
    const run = this.runs.startExecution(record.input, record.context, this.stateMachineArn, record.history, {
      from,
      mapRuns: record.mapRuns,
    });
    record.settled = false;
    record.abort = () => run.abort();
    record.resumeAt = () => run.resumeAt();
    record.done = run.outcome.then(async (outcome) => {
      record.settled = true;
      // Whatever ended the run, local handlers still going (a sleeping Wait, a map run after a timeout) stop now.
      run.scope.controller.abort();
      await run.logged;
      if (description.status === 'RUNNING') {
        description.status = outcome.status;
        description.stopDate = this.clock.now();
        if (outcome.output !== undefined) description.output = outcome.output;
        if (outcome.error !== undefined) description.error = outcome.error;
        if (outcome.cause !== undefined) description.cause = outcome.cause;
      }
      // A succeeded execution cannot be redriven: what its map runs remembered for that goes.
      if (description.status === 'SUCCEEDED') record.mapRuns.clear();
      this.notifyEnded(description);
      return { ...description };
    });
  }

  /**
   * RedriveExecution: restarts a FAILED, TIMED_OUT or ABORTED execution (within 14 days of its
   * end) at the state it ended in, with that state's input, as Step Functions does. A Distributed
   * Map it was in continues its map run: children that succeeded keep their results and only the
   * others run again, each from the state it ended in.
   */
  redriveExecution(executionArn: string): { redriveDate: Date } {
    const record = this.executions.get(executionArn);
    const refusal = redriveRefusal(record, this.clock.now());
    if (refusal) throw new StepFunctionsApiError('ExecutionNotRedrivable', refusal);
    const { description } = record;
    const redriveDate = this.clock.now();
    description.status = 'RUNNING';
    description.redriveCount++;
    description.redriveDate = redriveDate;
    delete description.stopDate;
    delete description.error;
    delete description.cause;
    delete description.output;
    record.history.redriven(description.redriveCount);
    this.launch(record, record.resumeAt());
    return { redriveDate };
  }

  /** The execution, with why it cannot be redriven now (`redriveStatusReason`) unless it can. */
  describeExecution(executionArn: string): ExecutionDescription & { redriveStatusReason?: string } {
    const record = this.executions.get(executionArn);
    const refusal = redriveRefusal(record, this.clock.now());
    return { ...record.description, ...(refusal === undefined ? {} : { redriveStatusReason: refusal }) };
  }

  /**
   * Stops a running execution (status ABORTED at once; running tasks are not interrupted, their results are dropped).
   */
  stopExecution(executionArn: string, options: { error?: string; cause?: string } = {}): { stopDate: Date } {
    const record = this.executions.get(executionArn);
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
    return this.executions.list(options);
  }

  getExecutionHistory(
    executionArn: string,
    options: { maxResults?: number; nextToken?: string; reverseOrder?: boolean } = {},
  ): { events: HistoryEvent[]; nextToken?: string } {
    return this.executions.history(executionArn, options);
  }

  /** Resolves with the description once the execution has ended (and its history is complete). */
  async waitForExecution(executionArn: string): Promise<ExecutionDescription> {
    await this.executions.get(executionArn).done;
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
    return { ...this.runs.counters };
  }

  /** Stops every running execution (ABORTED, listeners notified) and resolves once they have ended. */
  async shutdown(): Promise<void> {
    const running = this.executions.running();
    for (const record of running)
      this.stopExecution(record.description.executionArn, {
        error: 'LocalRuntimeShutdown',
        cause: 'the local runtime was shut down',
      });
    await Promise.allSettled(running.map((record) => record.done));
  }
}
