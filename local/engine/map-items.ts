/** A Distributed Map's settings and items: what it reads, how it batches, what it tolerates. */
import type { DistributedMapPlan } from './definition.js';
import { errorMessageOf, StatesError, statesRuntimeError } from './errors.js';
import { evaluateIntegerPath, evaluateNumberPath, evaluatePath, evaluateTemplate, type Json } from './json-path.js';
import type { ResultWriterTarget } from './map-run-results.js';

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

/** The state's input and the execution's context object, for paths and templates. */
export interface StateCall {
  input: Json;
  context: Record<string, unknown>;
}

export interface Settings {
  maxConcurrency: number;
  maxItemsPerBatch: number | undefined;
  maxBytesPerBatch: number;
  batchInput: Json | undefined;
  toleratedPercentage: number | undefined;
  toleratedCount: number | undefined;
  maxItems: number | undefined;
  writer: ResultWriterTarget | undefined;
}

export async function resolveSettings(plan: DistributedMapPlan, input: Json, context: unknown): Promise<Settings> {
  const maxConcurrency = plan.maxConcurrencyPath
    ? evaluateIntegerPath(plan.maxConcurrencyPath, input, context, 0)
    : (plan.maxConcurrency ?? 0);
  const batcher = plan.itemBatcher;
  const maxItemsPerBatch = batcher?.maxItemsPerBatchPath
    ? evaluateIntegerPath(batcher.maxItemsPerBatchPath, input, context, 1)
    : batcher?.maxItemsPerBatch;
  const maxBytesPerBatch = batcher?.maxInputBytesPerBatchPath
    ? evaluateIntegerPath(batcher.maxInputBytesPerBatchPath, input, context, 1)
    : (batcher?.maxInputBytesPerBatch ?? DEFAULT_MAX_BATCH_BYTES);
  const batchInput =
    batcher?.batchInput === undefined ? undefined : await evaluateTemplate(batcher.batchInput, input, context);
  const toleratedPercentage = plan.toleratedFailurePercentagePath
    ? evaluateNumberPath(plan.toleratedFailurePercentagePath, input, context, 0, 100)
    : plan.toleratedFailurePercentage;
  const toleratedCount = plan.toleratedFailureCountPath
    ? evaluateIntegerPath(plan.toleratedFailureCountPath, input, context, 0)
    : plan.toleratedFailureCount;
  const reader = plan.itemReader;
  const maxItems = reader?.maxItemsPath
    ? evaluateIntegerPath(reader.maxItemsPath, input, context, 0)
    : reader?.maxItems;
  let writer: ResultWriterTarget | undefined;
  if (plan.resultWriter) {
    const params = (await evaluateTemplate(plan.resultWriter.parameters, input, context)) as Record<string, Json>;
    if (typeof params.Bucket !== 'string' || !params.Bucket)
      throw statesRuntimeError(`the ResultWriter Bucket of "${plan.stateName}" is not a bucket name`);
    if (params.Prefix !== undefined && typeof params.Prefix !== 'string')
      throw statesRuntimeError(`the ResultWriter Prefix of "${plan.stateName}" is not a string`);
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

export function itemReaderFailed(error: unknown): StatesError {
  return error instanceof StatesError
    ? error
    : new StatesError('States.ItemReaderFailed', errorMessageOf(error), { cause: error });
}

/** The items, from the reader or ItemsPath, up to MaxItems. */
export async function* readItems(
  plan: DistributedMapPlan,
  call: StateCall,
  read: ReadItems,
  maxItems: number | undefined,
): AsyncGenerator<unknown> {
  let source: AsyncIterable<unknown> | Iterable<unknown>;
  if (plan.itemReader) {
    const params = (await evaluateTemplate(plan.itemReader.parameters, call.input, call.context)) as Record<
      string,
      Json
    >;
    if (typeof params.Bucket !== 'string' || typeof params.Key !== 'string') {
      throw statesRuntimeError(
        `the ItemReader of "${plan.stateName}" needs a string Bucket and Key, got ${JSON.stringify(params)}`,
      );
    }
    try {
      source = read({ bucket: params.Bucket, key: params.Key, inputType: plan.itemReader.inputType });
    } catch (error) {
      throw itemReaderFailed(error);
    }
  } else {
    const items = evaluatePath(plan.itemsPath ?? '$', call.input, call.context);
    if (!Array.isArray(items))
      throw statesRuntimeError(`the items of "${plan.stateName}" (${plan.itemsPath ?? '$'}) are not an array`);
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

export interface ChildInput {
  input: Json;
  itemCount: number;
}

/** Child inputs: one per item, or `{ Items, BatchInput }` per batch. Counts the items it read. */
export async function* childInputs(
  plan: DistributedMapPlan,
  call: StateCall,
  items: AsyncIterable<unknown>,
  settings: Settings,
  counter: { items: number },
): AsyncGenerator<ChildInput> {
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
    const item =
      plan.itemSelector === undefined
        ? (raw as Json)
        : await evaluateTemplate(plan.itemSelector, call.input, {
            ...call.context,
            Map: { Item: { Index: index, Value: raw } },
          });
    if (!plan.itemBatcher) {
      yield { input: item, itemCount: 1 };
      continue;
    }
    // Measured on the JSON of the items: `[a,b,c]`.
    const size = Buffer.byteLength(JSON.stringify(item));
    if (size + 2 > settings.maxBytesPerBatch) {
      throw new StatesError(
        'States.ItemReaderFailed',
        `item ${index} is ${size} bytes of JSON, more than the batch limit of ${settings.maxBytesPerBatch} bytes`,
      );
    }
    if (batch.length > 0 && bytes + 1 + size + 2 > settings.maxBytesPerBatch) yield flush();
    bytes += (batch.length > 0 ? 1 : 0) + size;
    batch.push(item);
    if (settings.maxItemsPerBatch !== undefined && batch.length >= settings.maxItemsPerBatch) yield flush();
  }
  if (batch.length > 0) yield flush();
}
