import { randomUUID } from 'node:crypto';
import type { DistributedMapPlan } from './definition.js';
import { errorMessageOf, StatesError, statesRuntimeError } from './errors.js';
import type { ExecutionHistory } from './history.js';
import { evaluateIntegerPath, evaluateNumberPath, evaluatePath, evaluateTemplate, type Json } from './json-path.js';
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

/** Step Functions' hard maximum, used for MaxConcurrency 0 or absent ("as many as possible"). */
export const MAX_MAP_CONCURRENCY = 10_000;
/** A child execution's input limit, used as MaxInputBytesPerBatch when the batcher sets none. */
export const DEFAULT_MAX_BATCH_BYTES = 262_144;

export interface ItemReaderRequest {
  bucket: string;
  key: string;
  inputType: 'JSON' | 'JSONL';
}

/** Reads the items of an ItemReader's object, parsed. */
export type ReadItems = (reader: ItemReaderRequest) => AsyncIterable<unknown> | Iterable<unknown>;

export interface ResultWriterTarget {
  bucket: string;
  prefix: string;
}

/** One child execution as Step Functions writes it in the ResultWriter's SUCCEEDED_n / FAILED_n files. */
export interface MapRunChildResult {
  ExecutionArn: string;
  Name: string;
  StateMachineArn: string;
  Status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  StartDate: string;
  StopDate: string;
  Input: string;
  InputDetails: { Included: true };
  Output?: string;
  OutputDetails?: { Included: true };
  Error?: string;
  Cause?: string;
  RedriveCount: 0;
  RedriveStatus: 'NOT_REDRIVABLE';
  RedriveStatusReason: string;
}

export interface MapRunResults {
  mapRunArn: string;
  /** The id in the map run ARN, and the folder of the result files under the prefix. */
  mapRunId: string;
  succeeded: MapRunChildResult[];
  /** Failed, timed out and aborted children. */
  failed: MapRunChildResult[];
}

export interface ResultWriterDetails {
  Bucket: string;
  Key: string;
}

/** Writes a map run's results (see `mapRunResultFiles` for the files AWS writes) and returns where the manifest is. */
export type WriteResults = (writer: ResultWriterTarget, run: MapRunResults) => Promise<ResultWriterDetails>;

/**
 * The objects Step Functions writes for a map run: `<prefix>/<mapRunId>/SUCCEEDED_0.json`,
 * `FAILED_0.json` (each only when it has entries) and `manifest.json`, which lists them.
 */
export function mapRunResultFiles(writer: ResultWriterTarget, run: MapRunResults): { manifestKey: string; files: { key: string; body: string }[] } {
  const prefix = writer.prefix.replace(/\/+$/, '');
  const base = prefix ? `${prefix}/${run.mapRunId}` : run.mapRunId;
  const files: { key: string; body: string }[] = [];
  const listed: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
  for (const [status, results] of [
    ['SUCCEEDED', run.succeeded],
    ['FAILED', run.failed],
  ] as const) {
    if (results.length === 0) continue;
    const key = `${base}/${status}_0.json`;
    const body = JSON.stringify(results);
    files.push({ key, body });
    listed[status].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${base}/manifest.json`;
  files.push({ key: manifestKey, body: JSON.stringify({ DestinationBucket: writer.bucket, MapRunArn: run.mapRunArn, ResultFiles: listed }) });
  return { manifestKey, files };
}

export interface ChildIdentity {
  name: string;
  executionArn: string;
  stateMachineArn: string;
}

export interface ChildOutcome {
  status: MapRunChildResult['Status'];
  output?: Json;
  error?: string;
  cause?: string;
}

export interface ChildRun {
  /** Never rejects. */
  result: Promise<ChildOutcome>;
  abort(): void;
}

/** What the map handler needs from the runtime. */
export interface MapRunHost {
  readItems: ReadItems;
  writeResults: WriteResults | undefined;
  startChild(plan: DistributedMapPlan, input: Json, identity: ChildIdentity): ChildRun;
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

interface Settings {
  maxConcurrency: number;
  maxItemsPerBatch: number | undefined;
  maxBytesPerBatch: number;
  batchInput: Json | undefined;
  toleratedPercentage: number | undefined;
  toleratedCount: number | undefined;
  maxItems: number | undefined;
  writer: ResultWriterTarget | undefined;
}

async function resolveSettings(plan: DistributedMapPlan, input: Json, context: unknown): Promise<Settings> {
  const maxConcurrency = plan.maxConcurrencyPath ? evaluateIntegerPath(plan.maxConcurrencyPath, input, context, 0) : (plan.maxConcurrency ?? 0);
  const batcher = plan.itemBatcher;
  const maxItemsPerBatch = batcher?.maxItemsPerBatchPath
    ? evaluateIntegerPath(batcher.maxItemsPerBatchPath, input, context, 1)
    : batcher?.maxItemsPerBatch;
  const maxBytesPerBatch = batcher?.maxInputBytesPerBatchPath
    ? evaluateIntegerPath(batcher.maxInputBytesPerBatchPath, input, context, 1)
    : (batcher?.maxInputBytesPerBatch ?? DEFAULT_MAX_BATCH_BYTES);
  const batchInput = batcher?.batchInput === undefined ? undefined : await evaluateTemplate(batcher.batchInput, input, context);
  const toleratedPercentage = plan.toleratedFailurePercentagePath
    ? evaluateNumberPath(plan.toleratedFailurePercentagePath, input, context, 0, 100)
    : plan.toleratedFailurePercentage;
  const toleratedCount = plan.toleratedFailureCountPath
    ? evaluateIntegerPath(plan.toleratedFailureCountPath, input, context, 0)
    : plan.toleratedFailureCount;
  const reader = plan.itemReader;
  const maxItems = reader?.maxItemsPath ? evaluateIntegerPath(reader.maxItemsPath, input, context, 0) : reader?.maxItems;
  let writer: ResultWriterTarget | undefined;
  if (plan.resultWriter) {
    const params = (await evaluateTemplate(plan.resultWriter.parameters, input, context)) as Record<string, Json>;
    if (typeof params.Bucket !== 'string' || !params.Bucket) throw statesRuntimeError(`the ResultWriter Bucket of "${plan.stateName}" is not a bucket name`);
    if (params.Prefix !== undefined && typeof params.Prefix !== 'string') throw statesRuntimeError(`the ResultWriter Prefix of "${plan.stateName}" is not a string`);
    writer = { bucket: params.Bucket, prefix: params.Prefix ?? '' };
  }
  return {
    maxConcurrency: maxConcurrency === 0 ? MAX_MAP_CONCURRENCY : maxConcurrency,
    maxItemsPerBatch,
    maxBytesPerBatch,
    batchInput,
    toleratedPercentage,
    toleratedCount,
    maxItems: maxItems === 0 ? undefined : maxItems,
    writer,
  };
}

function itemReaderFailed(error: unknown): StatesError {
  return error instanceof StatesError ? error : new StatesError('States.ItemReaderFailed', errorMessageOf(error), { cause: error });
}

/** The items, from the reader or ItemsPath, up to MaxItems. */
async function* readItems(plan: DistributedMapPlan, call: MapRunCall, host: MapRunHost, maxItems: number | undefined): AsyncGenerator<unknown> {
  let source: AsyncIterable<unknown> | Iterable<unknown>;
  if (plan.itemReader) {
    const params = (await evaluateTemplate(plan.itemReader.parameters, call.input, call.context)) as Record<string, Json>;
    if (typeof params.Bucket !== 'string' || typeof params.Key !== 'string') {
      throw statesRuntimeError(`the ItemReader of "${plan.stateName}" needs a string Bucket and Key, got ${JSON.stringify(params)}`);
    }
    try {
      source = host.readItems({ bucket: params.Bucket, key: params.Key, inputType: plan.itemReader.inputType });
    } catch (error) {
      throw itemReaderFailed(error);
    }
  } else {
    const items = evaluatePath(plan.itemsPath ?? '$', call.input, call.context);
    if (!Array.isArray(items)) throw statesRuntimeError(`the items of "${plan.stateName}" (${plan.itemsPath ?? '$'}) are not an array`);
    source = items as unknown[];
  }
  let count = 0;
  try {
    for await (const item of source) {
      if (maxItems !== undefined && count >= maxItems) return;
      count++;
      yield item;
    }
  } catch (error) {
    throw itemReaderFailed(error);
  }
}

interface ChildInput {
  input: Json;
  itemCount: number;
}

/** Child inputs: one per item, or `{ Items, BatchInput }` per batch. Counts the items it read. */
async function* childInputs(plan: DistributedMapPlan, call: MapRunCall, items: AsyncIterable<unknown>, settings: Settings, counter: { items: number }): AsyncGenerator<ChildInput> {
  let batch: Json[] = [];
  let bytes = 0;
  const flush = (): ChildInput => {
    const input: Record<string, Json> = { Items: batch };
    if (settings.batchInput !== undefined) input.BatchInput = settings.batchInput;
    const out = { input, itemCount: batch.length };
    batch = [];
    bytes = 0;
    return out;
  };
  for await (const raw of items) {
    const index = counter.items++;
    const item = plan.itemSelector === undefined
      ? (raw as Json)
      : await evaluateTemplate(plan.itemSelector, call.input, { ...call.context, Map: { Item: { Index: index, Value: raw } } });
    if (!plan.itemBatcher) {
      yield { input: item, itemCount: 1 };
      continue;
    }
    // Measured on the JSON of the items: `[a,b,c]`.
    const size = Buffer.byteLength(JSON.stringify(item));
    if (size + 2 > settings.maxBytesPerBatch) {
      throw new StatesError('States.ItemReaderFailed', `item ${index} is ${size} bytes of JSON, more than the batch limit of ${settings.maxBytesPerBatch} bytes`);
    }
    if (batch.length > 0 && bytes + 1 + size + 2 > settings.maxBytesPerBatch) yield flush();
    bytes += (batch.length > 0 ? 1 : 0) + size;
    batch.push(item);
    if (settings.maxItemsPerBatch !== undefined && batch.length >= settings.maxItemsPerBatch) yield flush();
  }
  if (batch.length > 0) yield flush();
}

function childResult(identity: ChildIdentity, input: Json, outcome: ChildOutcome, startDate: Date, stopDate: Date): MapRunChildResult {
  const result: MapRunChildResult = {
    ExecutionArn: identity.executionArn,
    Name: identity.name,
    StateMachineArn: identity.stateMachineArn,
    Status: outcome.status,
    StartDate: startDate.toISOString(),
    StopDate: stopDate.toISOString(),
    Input: JSON.stringify(input),
    InputDetails: { Included: true },
    RedriveCount: 0,
    RedriveStatus: 'NOT_REDRIVABLE',
    RedriveStatusReason: `Execution is ${outcome.status} and cannot be redriven`,
  };
  if (outcome.status === 'SUCCEEDED') {
    result.Output = JSON.stringify(outcome.output ?? null);
    result.OutputDetails = { Included: true };
  } else {
    if (outcome.error !== undefined) result.Error = outcome.error;
    if (outcome.cause !== undefined) result.Cause = outcome.cause;
  }
  return result;
}

/** ARN pieces: arn:aws:states:<region>:<account>:stateMachine:<name> -> { prefix: arn:aws:states:<region>:<account>, name }. */
function splitStateMachineArn(arn: string): { prefix: string; name: string } {
  const marker = ':stateMachine:';
  const at = arn.indexOf(marker);
  if (at < 0) return { prefix: 'arn:aws:states:us-east-1:000000000000', name: arn };
  return { prefix: arn.slice(0, at), name: arn.slice(at + marker.length) };
}

/** Runs one map run. Returns the Map's result, or throws (a StatesError) as the Map state fails. */
export async function runDistributedMap(plan: DistributedMapPlan, call: MapRunCall, host: MapRunHost): Promise<Json> {
  const mapRunId = randomUUID();
  const { prefix, name: parentName } = splitStateMachineArn(call.stateMachineArn);
  const childMachineName = `${parentName}/${plan.label}`;
  const mapRunArn = `${prefix}:mapRun:${childMachineName}:${mapRunId}`;
  const childStateMachineArn = `${prefix}:stateMachine:${childMachineName}`;
  const history = call.history;
  if (history) {
    await tick(); // after the engine's MapStateEntered
    history.add('MapStateStarted');
    history.add('MapRunStarted', { mapRunArn });
  }
  // Stopping the execution aborts the map run: recorded before the engine's ExecutionAborted.
  const onAbort = () => history?.add('MapRunAborted');
  call.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const output = await mapRun(plan, call, host, { mapRunId, mapRunArn, childMachineName, childStateMachineArn, prefix });
    history?.add('MapRunSucceeded');
    return output;
  } catch (error) {
    const statesError = error instanceof StatesError ? error : new StatesError('States.Runtime', errorMessageOf(error), { terminal: true });
    if (!call.signal.aborted) history?.add('MapRunFailed', { error: statesError.name, cause: statesError.message });
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
}

async function mapRun(plan: DistributedMapPlan, call: MapRunCall, host: MapRunHost, names: RunNames): Promise<Json> {
  const settings = await resolveSettings(plan, call.input, call.context);
  const counter = { items: 0 };
  const inputs = childInputs(plan, call, readItems(plan, call, host, settings.maxItems), settings, counter);

  const outputs: Json[] = [];
  const succeeded: MapRunChildResult[] = [];
  const failed: MapRunChildResult[] = [];
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
  const onParentAbort = () => stopWith(new StatesError('States.Aborted', 'the execution was stopped', { terminal: true }));
  call.signal.addEventListener('abort', onParentAbort, { once: true });

  const startChild = (next: ChildInput, index: number) => {
    const name = randomUUID();
    const identity: ChildIdentity = {
      name,
      executionArn: `${names.prefix}:execution:${names.childMachineName}:${name}`,
      stateMachineArn: names.childStateMachineArn,
    };
    const startDate = new Date();
    const child = host.startChild(plan, next.input, identity);
    running++;
    children++;
    live.add(child);
    void child.result
      .catch((error: unknown): ChildOutcome => ({ status: 'FAILED', error: 'States.Runtime', cause: errorMessageOf(error) }))
      .then((outcome) => {
        running--;
        live.delete(child);
        if (outcome.status !== 'SUCCEEDED') {
          failedItems += next.itemCount;
          failedChildren++;
        }
        if (settings.writer) {
          (outcome.status === 'SUCCEEDED' ? succeeded : failed).push(childResult(identity, next.input, outcome, startDate, new Date()));
        } else {
          outputs[index] = outcome.status === 'SUCCEEDED' ? (outcome.output ?? null) : { Error: outcome.error ?? null, Cause: outcome.cause ?? null };
        }
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
    if (!host.writeResults) throw new StatesError('States.ResultWriterFailed', `"${plan.stateName}" has a ResultWriter but the runtime was given no writeResults`);
    let details: ResultWriterDetails;
    try {
      details = await host.writeResults(settings.writer, { mapRunArn: names.mapRunArn, mapRunId: names.mapRunId, succeeded, failed });
    } catch (error) {
      throw new StatesError('States.ResultWriterFailed', errorMessageOf(error), { cause: error });
    }
    result = { MapRunArn: names.mapRunArn, ResultWriterDetails: { Bucket: details.Bucket, Key: details.Key } };
  }
  if (stop) throw stop;
  return result;
}
