/** A map run's results as Step Functions' ResultWriter writes them. */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Json } from './json-path.js';

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

/**
 * A child's result, kept deflated until the files are written: each holds its batch's input, so a
 * million-item run kept about 120 MB of them as text, about a sixth of that deflated.
 */
export type PackedChildResult = Buffer;

export function packChildResult(result: MapRunChildResult): PackedChildResult {
  const deflated = deflateRawSync(JSON.stringify(result), { level: 1 });
  // zlib answers with a view on its 64 KiB output chunk: keep a copy of the bytes, not the chunk.
  const packed = Buffer.allocUnsafeSlow(deflated.length);
  deflated.copy(packed);
  return packed;
}

export interface MapRunResults {
  mapRunArn: string;
  /** The id in the map run ARN, and the folder of the result files under the prefix. */
  mapRunId: string;
  succeeded: PackedChildResult[];
  /** Failed, timed out and aborted children. */
  failed: PackedChildResult[];
}

export interface ResultWriterDetails {
  Bucket: string;
  Key: string;
}

/** Writes a map run's results (the files of `writeMapRunResultFiles`) and returns where the manifest is. */
export type WriteResults = (writer: ResultWriterTarget, run: MapRunResults) => Promise<ResultWriterDetails>;

/** Stores one object from its pieces, read once in order (a stream of any length). */
export type PutPieces = (key: string, pieces: Iterable<Buffer>) => Promise<void>;

/**
 * Writes the objects Step Functions writes for a map run through `put`: `<prefix>/<mapRunId>/SUCCEEDED_0.json`,
 * `FAILED_0.json` (each only when it has entries) and `manifest.json`, which lists them with their
 * sizes. A result file goes out one child at a time (inflated as it is read), so writing a
 * million-item run's files holds one child's result, not the file.
 */
export async function writeMapRunResultFiles(
  writer: ResultWriterTarget,
  run: MapRunResults,
  put: PutPieces,
): Promise<ResultWriterDetails> {
  const prefix = writer.prefix.replace(/\/+$/, '');
  const base = prefix ? `${prefix}/${run.mapRunId}` : run.mapRunId;
  const listed: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = {
    FAILED: [],
    PENDING: [],
    SUCCEEDED: [],
  };
  for (const [status, results] of [
    ['SUCCEEDED', run.succeeded],
    ['FAILED', run.failed],
  ] as const) {
    if (results.length === 0) continue;
    const key = `${base}/${status}_0.json`;
    const file = { Key: key, Size: 0 };
    await put(key, countedPieces(resultFilePieces(results), file));
    listed[status].push(file);
  }
  const manifestKey = `${base}/manifest.json`;
  const manifest = { DestinationBucket: writer.bucket, MapRunArn: run.mapRunArn, ResultFiles: listed };
  await put(manifestKey, [Buffer.from(JSON.stringify(manifest))]);
  return { Bucket: writer.bucket, Key: manifestKey };
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/** A result file's JSON array, one child's result at a time. */
function* resultFilePieces(results: readonly PackedChildResult[]): Generator<Buffer> {
  yield OPEN;
  for (const [index, packed] of results.entries()) {
    if (index > 0) yield COMMA;
    yield inflateRawSync(packed);
  }
  yield CLOSE;
}

function* countedPieces(pieces: Iterable<Buffer>, file: { Size: number }): Generator<Buffer> {
  for (const piece of pieces) {
    file.Size += piece.length;
    yield piece;
  }
}

/** Who a child execution is (its name and ARNs). */
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

/** A child execution as it goes into SUCCEEDED_n / FAILED_n. */
export function childResult(
  identity: ChildIdentity,
  input: Json,
  outcome: ChildOutcome,
  startDate: Date,
  stopDate: Date,
): MapRunChildResult {
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
