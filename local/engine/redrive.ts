/**
 * What a redrive needs to know about an execution that ended badly: the state it was in (where
 * RedriveExecution restarts it, with that state's input), and, for each Distributed Map it ran,
 * how each child execution ended (a redriven map run starts only the children that did not
 * succeed, each from its own failed state).
 */
import type { Json } from './json-path.js';
import type { ChildIdentity, PackedChildResult } from './map-run-results.js';

/** The state an execution was in when it ended, with the input it entered with. */
export interface ResumePoint {
  stateName: string;
  input: Json;
}

/** Follows a run's engine events: the last top-level state entered is where a redrive resumes. */
export class ResumeTracker {
  private last: ResumePoint | undefined;

  /** Reads one engine event (events of inline Map iterations carry an index and are skipped). */
  see(event: { type: string; index?: number; state?: { name: string; input?: unknown } }): void {
    if (event.type !== 'StateEntered' || !event.state || event.index !== undefined) return;
    this.last = { stateName: event.state.name, input: (event.state.input ?? null) as Json };
  }

  get point(): ResumePoint | undefined {
    return this.last;
  }
}

/**
 * One child execution of a map run, as the map run last saw it end. A child that succeeded keeps
 * only its result (the same object the map run holds for its ResultWriter or output anyway), so
 * remembering a map run costs little more than running it.
 */
export interface RememberedChild {
  /** Its result line (with a ResultWriter) or its output, when it succeeded: a redrive keeps it. */
  succeeded?: { result?: PackedChildResult; output?: Json };
  /** Kept only for a child that did not succeed: a redrive runs it again under the same name. */
  identity?: ChildIdentity;
  startDate?: Date;
  /** Where it was when it ended unsuccessfully: a redrive resumes it there. */
  resumeAt?: ResumePoint | undefined;
  redriveCount: number;
}

/** A Distributed Map's run within one execution: kept so that a redrive continues the same map run. */
export interface MapRunMemory {
  mapRunId: string;
  mapRunArn: string;
  /** By the child's position in the run (the items are read and batched the same way again). */
  children: (RememberedChild | undefined)[];
  redriveCount: number;
}

/** The map runs of one execution, by Map state name. */
export type MapRunMemories = Map<string, MapRunMemory>;

/** Step Functions redrives an execution for 14 days after it ended. */
export const REDRIVE_PERIOD_MS = 14 * 24 * 60 * 60 * 1000;
/** At most this many redrives of one map run (a Step Functions hard limit). */
export const MAX_MAP_RUN_REDRIVES = 1000;

const REDRIVABLE_STATUSES: readonly string[] = ['FAILED', 'TIMED_OUT', 'ABORTED'];

/** Why an execution cannot be redriven now (the API's redriveStatusReason), or undefined when it can. */
export function redriveRefusal(
  record: { description: { status: string; stopDate?: Date; executionArn: string }; settled: boolean },
  now: Date,
): string | undefined {
  const { status, stopDate, executionArn } = record.description;
  if (!REDRIVABLE_STATUSES.includes(status)) return `Execution is ${status} and cannot be redriven`;
  // Stopped, but its run is still winding down: nothing may resume it before it has ended.
  if (!record.settled) return `Execution ${executionArn} is still stopping; redrive it once it has ended`;
  if (stopDate && now.getTime() - stopDate.getTime() > REDRIVE_PERIOD_MS)
    return 'Execution can be redriven only within 14 days of its end';
  return undefined;
}
