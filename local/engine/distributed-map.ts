import { randomUUID } from 'node:crypto';
import type { DistributedMapPlan } from './definition.js';
import { errorMessageOf, StatesError } from './errors.js';
import type { ExecutionHistory } from './history.js';
import type { Json } from './json-path.js';
import {
  childInputs,
  itemReaderFailed,
  readItems,
  resolveSettings,
  type ChildInput,
  type ReadItems,
} from './map-items.js';
import {
  childResult,
  packChildResult,
  type ChildIdentity,
  type ChildOutcome,
  type PackedChildResult,
  type ResultWriterDetails,
  type WriteResults,
} from './map-run-results.js';
import type { MapRunRecords } from './map-run-records.js';
import {
  MAX_MAP_RUN_REDRIVES,
  type MapRunMemories,
  type MapRunMemory,
  type RememberedChild,
  type ResumePoint,
} from './redrive.js';
import { tick } from './time.js';

/**
 * A Distributed Map, run by a local handler in place of the engine's inline Map: reads the items
 * (ItemReader, or ItemsPath), applies ItemSelector, batches them (ItemBatcher), runs one child
 * execution of the ItemProcessor per item or batch under a concurrency pool, enforces the
 * tolerated failure threshold and writes the results (ResultWriter).
 *
 * Items are pulled from the reader only as the pool has room: at most MaxConcurrency children
 * (and one batch being assembled) are alive at a time, whatever the item count.
 */

export { DEFAULT_MAX_BATCH_BYTES, MAX_MAP_CONCURRENCY, type ItemReaderRequest, type ReadItems } from './map-items.js';
export {
  writeMapRunResultFiles,
  type PutPieces,
  type ChildIdentity,
  type ChildOutcome,
  type MapRunChildResult,
  type MapRunResults,
  type ResultWriterDetails,
  type ResultWriterTarget,
  type WriteResults,
} from './map-run-results.js';

export interface ChildRun {
  /** Never rejects. */
  result: Promise<ChildOutcome>;
  abort(): void;
  /** The state the child is in (or ended in): where a redrive resumes it. */
  resumeAt(): ResumePoint | undefined;
}

/** What the map handler needs from the runtime. */
export interface MapRunHost {
  readItems: ReadItems;
  writeResults: WriteResults | undefined;
  /** Starts a child; `from` resumes a redriven one at the state it failed in. */
  startChild(plan: DistributedMapPlan, input: Json, identity: ChildIdentity, from: ResumePoint | undefined): ChildRun;
  /** The runtime's clock: the children's start and stop dates. */
  now(): Date;
  /** Where map runs and their children are recorded for DescribeMapRun. */
  mapRuns?: MapRunRecords;
}

export interface MapRunCall {
  /** The state input (after InputPath). */
  input: Json;
  /** The parent execution's context object, for `$$.` paths. */
  context: Record<string, unknown>;
  /** The parent execution's state machine ARN. */
  stateMachineArn: string;
  /** Aborts when the parent execution is stopped. */
  signal: AbortSignal;
  /** The parent's history, for a top-level execution. */
  history: ExecutionHistory | undefined;
}

/**
 * ARN pieces: arn:aws:states:<region>:<account>:stateMachine:<name> -> { prefix: arn:aws:states:<region>:<account>,
 * name }.
 */
function splitStateMachineArn(arn: string): { prefix: string; name: string } {
  const marker = ':stateMachine:';
  const at = arn.indexOf(marker);
  if (at < 0) return { prefix: 'arn:aws:states:us-east-1:000000000000', name: arn };
  return { prefix: arn.slice(0, at), name: arn.slice(at + marker.length) };
}

/**
 * Runs one map run. Returns the Map's result, or throws (a StatesError) as the Map state fails.
 * With `memories` (a top-level execution), the run is remembered, and a map run this execution
 * already had is redriven: its succeeded children are kept, the others resumed where they ended.
 */
export async function runDistributedMap(
  plan: DistributedMapPlan,
  call: MapRunCall,
  host: MapRunHost,
  memories?: MapRunMemories,
): Promise<Json> {
  const { prefix, name: parentName } = splitStateMachineArn(call.stateMachineArn);
  const childMachineName = `${parentName}/${plan.label}`;
  const earlier = memories?.get(plan.stateName);
  if (earlier && earlier.redriveCount >= MAX_MAP_RUN_REDRIVES)
    throw new StatesError('States.Runtime', `the map run was redriven ${MAX_MAP_RUN_REDRIVES} times`, {
      terminal: true,
    });
  const mapRunId = earlier?.mapRunId ?? randomUUID();
  const mapRunArn = `${prefix}:mapRun:${childMachineName}:${mapRunId}`;
  const memory: MapRunMemory = earlier
    ? { ...earlier, redriveCount: earlier.redriveCount + 1 }
    : { mapRunId, mapRunArn, children: [], redriveCount: 0 };
  memories?.set(plan.stateName, memory);
  const childStateMachineArn = `${prefix}:stateMachine:${childMachineName}`;
  const history = call.history;
  if (history) {
    await tick(); // after the engine's MapStateEntered
    history.add('MapStateStarted');
    if (earlier) history.add('MapRunRedriven', { mapRunArn, redriveCount: memory.redriveCount });
    else history.add('MapRunStarted', { mapRunArn });
  }
  // Stopping the execution aborts the map run: recorded before the engine's ExecutionAborted.
  const onAbort = () => history?.add('MapRunAborted');
  call.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const output = await mapRun(plan, call, host, {
      mapRunId,
      mapRunArn,
      childMachineName,
      childStateMachineArn,
      prefix,
      memory,
    });
    history?.add('MapRunSucceeded');
    host.mapRuns?.ended(mapRunArn, 'SUCCEEDED', host.now());
    return output;
  } catch (error) {
    const statesError =
      error instanceof StatesError
        ? error
        : new StatesError('States.Runtime', errorMessageOf(error), { terminal: true });
    if (!call.signal.aborted) history?.add('MapRunFailed', { error: statesError.name, cause: statesError.message });
    host.mapRuns?.ended(mapRunArn, call.signal.aborted ? 'ABORTED' : 'FAILED', host.now());
    throw statesError;
  } finally {
    call.signal.removeEventListener('abort', onAbort);
  }
}

interface RunNames {
  mapRunId: string;
  mapRunArn: string;
  childMachineName: string;
  childStateMachineArn: string;
  prefix: string;
  /** The children of this map run so far (all of them on a redrive). */
  memory: MapRunMemory;
}

async function mapRun(plan: DistributedMapPlan, call: MapRunCall, host: MapRunHost, names: RunNames): Promise<Json> {
  const settings = await resolveSettings(plan, call.input, call.context);
  host.mapRuns?.started({
    mapRunArn: names.mapRunArn,
    executionArn: String((call.context.Execution as { Id?: unknown } | undefined)?.Id),
    stateName: plan.stateName,
    stateMachineArn: names.childStateMachineArn,
    startDate: host.now(),
    maxConcurrency: settings.maxConcurrency,
    toleratedFailurePercentage: settings.toleratedPercentage ?? 0,
    toleratedFailureCount: settings.toleratedCount ?? 0,
  });
  const counter = { items: 0 };
  const inputs = childInputs(plan, call, readItems(plan, call, host.readItems, settings.maxItems), settings, counter);

  const outputs: Json[] = [];
  const succeeded: PackedChildResult[] = [];
  const failed: PackedChildResult[] = [];
  const live = new Set<ChildRun>();
  let running = 0;
  let drained = false;
  let failedItems = 0;
  let failedChildren = 0;
  let children = 0;
  let stop: StatesError | undefined;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const abortAll = () => {
    for (const child of live) child.abort();
  };

  /** Failed items over the threshold? A percentage needs the item count, known once the reader is drained. */
  const exceeded = (): boolean => {
    if (failedItems === 0) return false;
    const { toleratedPercentage: percentage, toleratedCount: count } = settings;
    if (percentage === undefined && count === undefined) return true;
    if (count !== undefined && failedItems > count) return true;
    if (percentage !== undefined) {
      if (percentage === 0) return true;
      if (drained) return (failedItems * 100) / counter.items > percentage;
    }
    return false;
  };
  const thresholdError = () =>
    new StatesError(
      'States.ExceedToleratedFailureThreshold',
      `The map run exceeded its tolerated failure threshold: ${failedItems} of ${drained ? counter.items : `${counter.items}+`} items failed, in ${failedChildren} of ${children} child executions (tolerated: ${settings.toleratedPercentage ?? 0}% and ${settings.toleratedCount ?? 0} items)`,
    );
  const stopWith = (error: StatesError) => {
    stop ??= error;
    abortAll();
    wakeUp();
  };
  const onParentAbort = () =>
    stopWith(new StatesError('States.Aborted', 'the execution was stopped', { terminal: true }));
  call.signal.addEventListener('abort', onParentAbort, { once: true });

  /** A child that succeeded before a redrive keeps its result and is not run again. */
  const keep = (index: number, kept: NonNullable<RememberedChild['succeeded']>) => {
    if (kept.result) succeeded.push(kept.result);
    else outputs[index] = kept.output ?? null;
  };

  const startChild = (next: ChildInput, index: number) => {
    const remembered = names.memory.children[index];
    if (remembered?.succeeded) return keep(index, remembered.succeeded);
    const name = randomUUID();
    const identity: ChildIdentity = remembered?.identity ?? {
      name,
      executionArn: `${names.prefix}:execution:${names.childMachineName}:${name}`,
      stateMachineArn: names.childStateMachineArn,
    };
    const startDate = remembered?.startDate ?? host.now();
    host.mapRuns?.childStarted(names.mapRunArn, {
      executionArn: identity.executionArn,
      startDate,
      itemCount: next.itemCount,
    });
    const child = host.startChild(plan, next.input, identity, remembered?.resumeAt);
    running++;
    children++;
    live.add(child);
    void child.result
      .catch((error: unknown): ChildOutcome => ({
        status: 'FAILED',
        error: 'States.Runtime',
        cause: errorMessageOf(error),
      }))
      .then((outcome) => {
        running--;
        live.delete(child);
        host.mapRuns?.childEnded(identity.executionArn, outcome.status, host.now());
        const memory: RememberedChild = { redriveCount: remembered ? remembered.redriveCount + 1 : 0 };
        if (outcome.status !== 'SUCCEEDED') {
          failedItems += next.itemCount;
          failedChildren++;
          Object.assign(memory, { identity, startDate, resumeAt: child.resumeAt() });
        }
        if (settings.writer) {
          const result = packChildResult(childResult(identity, next.input, outcome, startDate, host.now()));
          (outcome.status === 'SUCCEEDED' ? succeeded : failed).push(result);
          if (outcome.status === 'SUCCEEDED') memory.succeeded = { result };
        } else {
          outputs[index] =
            outcome.status === 'SUCCEEDED'
              ? (outcome.output ?? null)
              : { Error: outcome.error ?? null, Cause: outcome.cause ?? null };
          if (outcome.status === 'SUCCEEDED') memory.succeeded = { output: outputs[index] };
        }
        names.memory.children[index] = memory;
        // Once over the threshold no child starts, and the running ones are aborted (as AWS does).
        if (!stop && exceeded()) stopWith(thresholdError());
        wakeUp();
      });
  };

  try {
    let index = 0;
    while (!stop) {
      if (running >= settings.maxConcurrency) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      let next: IteratorResult<ChildInput>;
      try {
        next = await inputs.next();
      } catch (error) {
        stopWith(itemReaderFailed(error));
        break;
      }
      if (next.done) {
        drained = true;
        host.mapRuns?.update(names.mapRunArn, { drained });
        if (!stop && exceeded()) stopWith(thresholdError());
        break;
      }
      if (stop) break;
      startChild(next.value, index++);
    }
    if (!drained) await inputs.return(undefined).catch(() => undefined);
    while (running > 0) await new Promise<void>((resolve) => (wake = resolve));
  } finally {
    call.signal.removeEventListener('abort', onParentAbort);
  }
  if (call.signal.aborted) throw new StatesError('States.Aborted', 'the execution was stopped', { terminal: true });
  if (!stop && exceeded()) stop = thresholdError();

  let result: Json = outputs;
  // The results are written for a failed map run too, as on AWS (not when the reader failed).
  if (settings.writer && (!stop || stop.name === 'States.ExceedToleratedFailureThreshold')) {
    if (!host.writeResults)
      throw new StatesError(
        'States.ResultWriterFailed',
        `"${plan.stateName}" has a ResultWriter but the runtime was given no writeResults`,
      );
    let details: ResultWriterDetails;
    try {
      details = await host.writeResults(settings.writer, {
        mapRunArn: names.mapRunArn,
        mapRunId: names.mapRunId,
        succeeded,
        failed,
      });
    } catch (error) {
      throw new StatesError('States.ResultWriterFailed', errorMessageOf(error), { cause: error });
    }
    host.mapRuns?.update(names.mapRunArn, { resultsWritten: true });
    result = { MapRunArn: names.mapRunArn, ResultWriterDetails: { Bucket: details.Bucket, Key: details.Key } };
  }
  if (stop) throw stop;
  return result;
}
