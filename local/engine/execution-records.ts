/** The executions a runtime has started: found by ARN, listed and paged as the Step Functions API answers. */
import { pageSize, pageToken, readPageToken } from './api-requests.js';
import { StepFunctionsApiError } from './errors.js';
import type { ExecutionDescription, ExecutionListItem, ExecutionStatus } from './executions.js';
import type { ExecutionHistory, HistoryEvent } from './history.js';
import type { Json } from './json-path.js';
import type { MapRunMemories, ResumePoint } from './redrive.js';

export interface ExecutionRecord {
  description: ExecutionDescription;
  history: ExecutionHistory;
  /** The engine run has ended (its status is being recorded). */
  settled: boolean;
  abort: () => void;
  done: Promise<ExecutionDescription>;
  /** The execution input and context object, which a redrive runs with again. */
  input: Json;
  context: Record<string, unknown>;
  /** The execution's map runs, which a redrive continues. */
  mapRuns: MapRunMemories;
  /** The state the current run is in, or ended in. */
  resumeAt: () => ResumePoint | undefined;
}

export class ExecutionRecords {
  private readonly byArn = new Map<string, ExecutionRecord>();
  /** Oldest first. */
  private readonly order: ExecutionRecord[] = [];

  add(record: ExecutionRecord): void {
    this.byArn.set(record.description.executionArn, record);
    this.order.push(record);
  }

  find(executionArn: string): ExecutionRecord | undefined {
    return this.byArn.get(executionArn);
  }

  /** Throws ExecutionDoesNotExist, as the API does, for an ARN it never started. */
  get(executionArn: string): ExecutionRecord {
    const record = this.byArn.get(executionArn);
    if (!record)
      throw new StepFunctionsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  running(): ExecutionRecord[] {
    return this.order.filter((record) => record.description.status === 'RUNNING');
  }

  /** Newest first, as Step Functions lists them. */
  list(options: { statusFilter?: ExecutionStatus; maxResults?: number; nextToken?: string } = {}): {
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

  history(
    executionArn: string,
    options: { maxResults?: number; nextToken?: string; reverseOrder?: boolean } = {},
  ): { events: HistoryEvent[]; nextToken?: string } {
    const record = this.get(executionArn);
    const size = pageSize(options.maxResults, 100, 1000);
    const offset = readPageToken(options.nextToken);
    const events = options.reverseOrder ? [...record.history.events].reverse() : record.history.events;
    const page = events.slice(offset, offset + size).map((event) => ({ ...event }));
    return offset + size < events.length ? { events: page, nextToken: pageToken(offset + size) } : { events: page };
  }
}
