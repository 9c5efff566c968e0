/**
 * The map runs a runtime has started and their child executions, for DescribeMapRun, ListMapRuns
 * and ListExecutions(mapRunArn): each child's status, the items it carries and the state it is in
 * now (the last state it entered).
 */
import { pageSize, pageToken, readPageToken } from './api-requests.js';
import { StepFunctionsApiError } from './errors.js';
import type { ExecutionStatus } from './executions.js';

export type MapRunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

/**
 * Kept for every child of every map run while the runtime lives, so kept small (about 300 bytes):
 * the name is the ARN's last part, the state machine is the run's, dates are epoch milliseconds.
 */
export interface MapRunChild {
  executionArn: string;
  status: ExecutionStatus;
  startMs: number;
  stopMs?: number;
  /** Items in this child's batch (1 without an ItemBatcher). */
  itemCount: number;
  /** The top-level state of the child it entered last: where it is while RUNNING, where it ended after. */
  currentState?: string;
}

export interface MapRunRecord {
  mapRunArn: string;
  /** The execution whose Map state started this run. */
  executionArn: string;
  stateName: string;
  stateMachineArn: string;
  status: MapRunStatus;
  startDate: Date;
  stopDate?: Date;
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  toleratedFailureCount: number;
  /** Children in start order. */
  children: MapRunChild[];
  /** Every item has been read and given to a child: the totals are final. */
  drained: boolean;
  /** The ResultWriter has written every child's result. */
  resultsWritten: boolean;
}

/** DescribeMapRun's MapRunItemCounts / MapRunExecutionCounts. */
export interface MapRunCounts {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  aborted: number;
  total: number;
  resultsWritten: number;
  failuresNotRedrivable: number;
  pendingRedrive: number;
}

const STATUS_FIELD: Record<ExecutionStatus, keyof MapRunCounts> = {
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  TIMED_OUT: 'timedOut',
  ABORTED: 'aborted',
};

/**
 * Counts as DescribeMapRun gives them: children (or their items) by status; `total` is every one
 * started plus `pending`. The local reader reads items only as the pool has room, so `pending` is
 * 0: a child that has not started is not known yet (AWS, reading ahead, counts it).
 */
export function mapRunCounts(
  run: Pick<MapRunRecord, 'children' | 'resultsWritten'>,
  weight: (child: MapRunChild) => number,
): MapRunCounts {
  const counts: MapRunCounts = {
    pending: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    timedOut: 0,
    aborted: 0,
    total: 0,
    resultsWritten: 0,
    failuresNotRedrivable: 0,
    pendingRedrive: 0,
  };
  for (const child of run.children) {
    counts[STATUS_FIELD[child.status]] += weight(child);
    counts.total += weight(child);
  }
  if (run.resultsWritten) counts.resultsWritten = counts.total - counts.running;
  return counts;
}

export class MapRunRecords {
  private readonly byArn = new Map<string, MapRunRecord>();
  private readonly childByArn = new Map<string, MapRunChild>();

  started(run: Omit<MapRunRecord, 'status' | 'children' | 'drained' | 'resultsWritten'>): void {
    this.byArn.set(run.mapRunArn, { ...run, status: 'RUNNING', children: [], drained: false, resultsWritten: false });
  }

  childStarted(mapRunArn: string, child: { executionArn: string; startDate: Date; itemCount: number }): void {
    // A redriven child runs again under its own name: the same record, running again.
    const known = this.childByArn.get(child.executionArn);
    if (known) {
      known.status = 'RUNNING';
      return;
    }
    const record: MapRunChild = {
      executionArn: child.executionArn,
      status: 'RUNNING',
      startMs: child.startDate.getTime(),
      itemCount: child.itemCount,
    };
    this.byArn.get(mapRunArn)?.children.push(record);
    this.childByArn.set(child.executionArn, record);
  }

  childEntered(executionArn: string, stateName: string): void {
    const child = this.childByArn.get(executionArn);
    if (child) child.currentState = stateName;
  }

  childEnded(executionArn: string, status: ExecutionStatus, stopDate: Date): void {
    const child = this.childByArn.get(executionArn);
    if (!child || child.status !== 'RUNNING') return;
    child.status = status;
    child.stopMs = stopDate.getTime();
  }

  update(mapRunArn: string, change: Partial<Pick<MapRunRecord, 'drained' | 'resultsWritten'>>): void {
    const run = this.byArn.get(mapRunArn);
    if (run) Object.assign(run, change);
  }

  ended(mapRunArn: string, status: Exclude<MapRunStatus, 'RUNNING'>, stopDate: Date): void {
    const run = this.byArn.get(mapRunArn);
    if (!run || run.status !== 'RUNNING') return;
    run.status = status;
    run.stopDate = stopDate;
  }

  /** Throws ResourceNotFound, as DescribeMapRun does, for an ARN no map run has. */
  get(mapRunArn: string): MapRunRecord {
    const run = this.byArn.get(mapRunArn);
    if (!run) throw new StepFunctionsApiError('ResourceNotFound', `Map Run Does Not Exist: '${mapRunArn}'`);
    return run;
  }

  /** The map runs an execution started, oldest first. */
  ofExecution(executionArn: string): MapRunRecord[] {
    return [...this.byArn.values()].filter((run) => run.executionArn === executionArn);
  }

  /** A map run's children, newest first and paged, as ListExecutions(mapRunArn) lists them. */
  listChildren(
    mapRunArn: string,
    options: { statusFilter?: ExecutionStatus; maxResults?: number; nextToken?: string } = {},
  ): { children: MapRunChild[]; nextToken?: string } {
    const size = pageSize(options.maxResults, 100, 1000);
    const offset = readPageToken(options.nextToken);
    const all = this.get(mapRunArn)
      .children.filter((child) => options.statusFilter === undefined || child.status === options.statusFilter)
      .reverse();
    const page = all.slice(offset, offset + size).map((child) => ({ ...child }));
    return offset + size < all.length ? { children: page, nextToken: pageToken(offset + size) } : { children: page };
  }
}
