import type { Clock } from '../../shared/clock.js';
import type { PreparedDefinition, TaskPlan } from './definition.js';

/**
 * An execution's history, shaped like Step Functions' GetExecutionHistory events (ids, types and
 * the `*EventDetails` objects), derived from the engine's event log plus what the local handlers
 * add (task scheduling, map runs). Reasonable, not exhaustive: no Parallel branch or aborted map
 * iteration events, no StateRetried equivalents (a retry shows as a new Scheduled/Started pair).
 * As in Step Functions, a state whose failure is caught exits once (a failed Map or Parallel
 * without a Succeeded event), and a state whose failure is not caught does not exit.
 */

export interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: Date;
  type: string;
  /** One `<type>EventDetails` field (camel case), as the API has, when the type has details. */
  [details: string]: unknown;
}

/** The events of the engine's event log the history reads (the engine does not export the type). */
export interface EngineEvent {
  type: string;
  timestamp: number;
  input?: unknown;
  output?: unknown;
  Error?: string;
  Cause?: unknown;
  index?: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  parentState?: { name: string };
}

const NOT_TRUNCATED = { truncated: false } as const;

function json(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

function causeText(cause: unknown): string {
  return typeof cause === 'string' ? cause : cause instanceof Error ? cause.message : json(cause);
}

/** `arn:aws:states:::lambda:invoke` -> lambda / invoke; `arn:aws:lambda:...` -> lambda / function name. */
function resourceParts(resource: string): { resourceType: string; resource: string } {
  const integration = /^arn:[^:]+:states:::([^:]+):(.+)$/.exec(resource);
  if (integration?.[1] && integration[2]) return { resourceType: integration[1], resource: integration[2] };
  const parts = resource.split(':');
  return { resourceType: parts[2] ?? 'unknown', resource: parts.slice(5).join(':') || resource };
}

/**
 * `TaskSucceeded` -> `taskSucceededEventDetails`; every `*StateEntered`/`*StateExited` shares
 * `stateEntered`/`stateExitedEventDetails`.
 */
function detailsKey(type: string): string {
  if (type.endsWith('StateEntered')) return 'stateEnteredEventDetails';
  if (type.endsWith('StateExited')) return 'stateExitedEventDetails';
  return `${type.charAt(0).toLowerCase()}${type.slice(1)}EventDetails`;
}

export class ExecutionHistory {
  readonly events: HistoryEvent[] = [];
  /** Set by StopExecution before the engine reports the abort. */
  abortDetails: { error?: string; cause?: string } = {};
  private closed = false;
  /** Set by a redrive: the engine's ExecutionStarted of the redriven run is not a new start. */
  private skipStart = false;
  /** Map and Parallel entries that failed and have not been retried, keyed by `entryKey`. */
  private readonly failedEntries = new Set<string>();

  constructor(
    private readonly prepared: PreparedDefinition,
    private readonly region: string,
    private readonly roleArn: string,
    /** The runtime's clock: every event is dated by it, as the execution's start and stop dates are. */
    private readonly clock: Clock,
  ) {}

  add(type: string, details?: Record<string, unknown>, timestamp = this.clock.now().getTime()): void {
    // Nothing follows the execution's last event (a task finishing after a stop, say).
    if (this.closed) return;
    if (/^Execution(Succeeded|Failed|Aborted|TimedOut)$/.test(type)) this.closed = true;
    const id = this.events.length + 1;
    const event: HistoryEvent = { id, previousEventId: id - 1, timestamp: new Date(timestamp), type };
    if (details) event[detailsKey(type)] = details;
    this.events.push(event);
  }

  /**
   * A redrive continues this history: ExecutionRedriven follows the execution's last event, and
   * the redriven run's own ExecutionStarted is not repeated.
   */
  redriven(redriveCount: number): void {
    this.closed = false;
    this.abortDetails = {};
    this.skipStart = true;
    this.add('ExecutionRedriven', { redriveCount });
  }

  /** The state type as Step Functions shows it (rewritten Waits and Distributed Maps keep theirs). */
  private stateType(name: string, engineType: string): string {
    if (this.prepared.waits.has(name)) return 'Wait';
    if (this.prepared.maps.has(name)) return 'Map';
    return engineType;
  }

  /** Map iterations run states of the same name side by side; the engine tags their events with the index. */
  private entryKey(event: EngineEvent, name: string): string {
    return `${event.index ?? ''}/${name}`;
  }

  fromEngine(event: EngineEvent): void {
    // Dated when read (within the same turn of the event loop), on the runtime's clock rather
    // than the engine's wall-clock stamp.
    const at = this.clock.now().getTime();
    const state = event.state;
    switch (event.type) {
      case 'ExecutionStarted':
        if (this.skipStart) {
          this.skipStart = false;
          return;
        }
        return this.add(
          'ExecutionStarted',
          { input: json(event.input), inputDetails: NOT_TRUNCATED, roleArn: this.roleArn },
          at,
        );
      case 'ExecutionSucceeded':
        return this.add('ExecutionSucceeded', { output: json(event.output), outputDetails: NOT_TRUNCATED }, at);
      case 'ExecutionFailed':
        return this.add('ExecutionFailed', { error: event.Error, cause: causeText(event.Cause) }, at);
      case 'ExecutionAborted':
        return this.add('ExecutionAborted', { ...this.abortDetails }, at);
      case 'ExecutionTimeout':
        return this.add(
          'ExecutionTimedOut',
          { error: 'States.Timeout', cause: 'The execution ran past its TimeoutSeconds' },
          at,
        );
      case 'StateEntered': {
        if (!state) return;
        const type = this.stateType(state.name, state.type);
        this.add(
          `${type}StateEntered`,
          { name: state.name, input: json(state.input), inputDetails: NOT_TRUNCATED },
          at,
        );
        // An inline Map (the engine's own) starts as it enters; a Distributed Map's handler records its start.
        if (state.type === 'Map') this.add('MapStateStarted', undefined, at);
        return;
      }
      case 'StateExited': {
        if (!state) return;
        const type = this.stateType(state.name, state.type);
        // After a caught failure the engine exits the state with the Catch's output: no Succeeded.
        const failed = this.failedEntries.delete(this.entryKey(event, state.name));
        if ((type === 'Map' || type === 'Parallel') && !failed) this.add(`${type}StateSucceeded`, undefined, at);
        return this.add(
          `${type}StateExited`,
          { name: state.name, output: json(state.output), outputDetails: NOT_TRUNCATED },
          at,
        );
      }
      case 'StateFailed': {
        if (!state) return;
        const type = this.stateType(state.name, state.type);
        const task = this.prepared.tasks.get(state.name);
        if (task && event.Error === 'States.Timeout')
          return this.taskEvent(task, 'TimedOut', { error: event.Error, cause: causeText(event.Cause) }, at);
        if (type !== 'Map' && type !== 'Parallel') return;
        this.failedEntries.add(this.entryKey(event, state.name));
        return this.add(`${type}StateFailed`, undefined, at);
      }
      case 'StateRetried':
        if (state) this.failedEntries.delete(this.entryKey(event, state.name));
        return;
      // A caught failure needs no event of its own: the engine then exits the state (StateExited).
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
        return this.add(event.type, { name: event.parentState?.name, index: event.index }, at);
      case 'MapIterationFailed':
        return this.add(
          event.type,
          { name: event.parentState?.name, index: event.index, error: event.Error, cause: causeText(event.Cause) },
          at,
        );
      default:
        return;
    }
  }

  private taskEvent(
    task: TaskPlan,
    what: 'Scheduled' | 'Started' | 'Succeeded' | 'Failed' | 'TimedOut',
    details: Record<string, unknown> | undefined,
    at = this.clock.now().getTime(),
  ): void {
    if (task.kind === 'lambda') {
      // A Lambda ARN as the Resource: Step Functions reports LambdaFunction* events.
      return this.add(`LambdaFunction${what}`, what === 'Started' ? undefined : details, at);
    }
    const parts = resourceParts(task.resource);
    return this.add(`Task${what}`, { ...parts, ...details }, at);
  }

  taskScheduled(task: TaskPlan, parameters: unknown): void {
    if (task.kind === 'lambda') {
      this.taskEvent(task, 'Scheduled', {
        resource: task.resource,
        input: json(parameters),
        inputDetails: NOT_TRUNCATED,
        timeoutInSeconds: task.timeoutSeconds,
      });
    } else {
      this.taskEvent(task, 'Scheduled', {
        region: this.region,
        parameters: json(parameters),
        timeoutInSeconds: task.timeoutSeconds,
      });
    }
    this.taskEvent(task, 'Started', {});
  }

  taskSucceeded(task: TaskPlan, output: unknown): void {
    this.taskEvent(task, 'Succeeded', { output: json(output), outputDetails: NOT_TRUNCATED });
  }

  taskFailed(task: TaskPlan, error: string, cause: string): void {
    this.taskEvent(task, 'Failed', { error, cause });
  }
}
