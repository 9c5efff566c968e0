/**
 * What the console shows of a job's execution that the HTTP API does not: where the execution is
 * (its top-level states, from its history), each map run's counts (as DescribeMapRun gives them)
 * and how many child executions (batches) are in each state of the ItemProcessor now, and the
 * newest history events.
 */
import type { HistoryEvent, LocalStepFunctions } from '../engine/local-step-functions.js';
import { mapRunCounts, type MapRunRecord } from '../engine/map-run-records.js';

/** Where top-level states stand: entered and not left (active), left, or where a failed execution stopped. */
export type StatePhase = 'active' | 'done' | 'failed';

export interface MapRunView {
  mapRunArn: string;
  stateName: string;
  status: MapRunRecord['status'];
  startDate: string;
  stopDate?: string;
  itemCounts: ReturnType<typeof mapRunCounts>;
  executionCounts: ReturnType<typeof mapRunCounts>;
  /** Child executions by the state they are in (running) or ended in, keyed by state name. */
  states: Record<string, { running: number; ended: number }>;
}

export interface EventView {
  id: number;
  timestamp: string;
  type: string;
  /** The state's name, for state events. */
  state?: string;
  /** The error and cause, or the resource, in one line. */
  detail?: string;
}

export interface RunView {
  executionArn: string;
  status: string;
  startDate: string;
  stopDate?: string;
  error?: string;
  cause?: string;
  states: Record<string, StatePhase>;
  mapRuns: MapRunView[];
  /** Newest first. */
  events: EventView[];
  eventCount: number;
}

const MAX_EVENTS = 200;

function allEvents(engine: LocalStepFunctions, executionArn: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = engine.getExecutionHistory(executionArn, { maxResults: 1000, ...(nextToken ? { nextToken } : {}) });
    events.push(...page.events);
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

function detailsOf(event: HistoryEvent): Record<string, unknown> | undefined {
  const key = Object.keys(event).find((name) => name.endsWith('EventDetails'));
  return key ? (event[key] as Record<string, unknown>) : undefined;
}

function eventView(event: HistoryEvent): EventView {
  const details = detailsOf(event);
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const state = text(details?.name);
  const error = text(details?.error);
  const detail = error
    ? [error, text(details?.cause)].filter(Boolean).join(': ')
    : (text(details?.resource) ?? text(details?.mapRunArn));
  return {
    id: event.id,
    timestamp: event.timestamp.toISOString(),
    type: event.type,
    ...(state ? { state } : {}),
    ...(detail ? { detail: detail.length > 300 ? `${detail.slice(0, 300)}…` : detail } : {}),
  };
}

/**
 * Top-level states by phase: the history's *StateEntered/*StateExited pairs. Once the execution
 * has ended, a state left open is where it stopped: done if it succeeded, failed otherwise.
 */
function statePhases(events: HistoryEvent[], status: string): Record<string, StatePhase> {
  const phases: Record<string, StatePhase> = {};
  for (const event of events) {
    const name = detailsOf(event)?.name;
    if (typeof name !== 'string') continue;
    if (event.type.endsWith('StateEntered')) phases[name] = 'active';
    else if (event.type.endsWith('StateExited')) phases[name] = 'done';
  }
  if (status !== 'RUNNING')
    for (const [name, phase] of Object.entries(phases))
      if (phase === 'active') phases[name] = status === 'SUCCEEDED' ? 'done' : 'failed';
  return phases;
}

function mapRunView(run: MapRunRecord, startAt: (stateName: string) => string | undefined): MapRunView {
  const states: MapRunView['states'] = {};
  for (const child of run.children) {
    const name = child.currentState ?? startAt(run.stateName);
    if (!name) continue;
    const counts = (states[name] ??= { running: 0, ended: 0 });
    if (child.status === 'RUNNING') counts.running++;
    else counts.ended++;
  }
  return {
    mapRunArn: run.mapRunArn,
    stateName: run.stateName,
    status: run.status,
    startDate: run.startDate.toISOString(),
    ...(run.stopDate ? { stopDate: run.stopDate.toISOString() } : {}),
    itemCounts: mapRunCounts(run, (child) => child.itemCount),
    executionCounts: mapRunCounts(run, () => 1),
    states,
  };
}

export function runView(
  engine: LocalStepFunctions,
  executionArn: string,
  startAt: (mapStateName: string) => string | undefined,
): RunView {
  const execution = engine.describeExecution(executionArn);
  const events = allEvents(engine, executionArn);
  return {
    executionArn,
    status: execution.status,
    startDate: execution.startDate.toISOString(),
    ...(execution.stopDate ? { stopDate: execution.stopDate.toISOString() } : {}),
    ...(execution.error ? { error: execution.error } : {}),
    ...(execution.cause ? { cause: execution.cause } : {}),
    states: statePhases(events, execution.status),
    mapRuns: engine.mapRuns.ofExecution(executionArn).map((run) => mapRunView(run, startAt)),
    events: events.slice(-MAX_EVENTS).reverse().map(eventView),
    eventCount: events.length,
  };
}
