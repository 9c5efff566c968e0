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

/** Writes a map run's results (see `mapRunResultFiles` for the files AWS writes) and returns where the manifest is. */
export type WriteResults = (writer: ResultWriterTarget, run: MapRunResults) => Promise<ResultWriterDetails>;

/**
 * The objects Step Functions writes for a map run: `<prefix>/<mapRunId>/SUCCEEDED_0.json`,
 * `FAILED_0.json` (each only when it has entries) and `manifest.json`, which lists them.
 */
export function mapRunResultFiles(
  writer: ResultWriterTarget,
  run: MapRunResults,
): { manifestKey: string; files: { key: string; body: string }[] } {
  const prefix = writer.prefix.replace(/\/+$/, '');
  const base = prefix ? `${prefix}/${run.mapRunId}` : run.mapRunId;
  const files: { key: string; body: string }[] = [];
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
    const body = `[${results.map((packed) => inflateRawSync(packed).toString('utf8')).join(',')}]`;
    files.push({ key, body });
    listed[status].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${base}/manifest.json`;
  files.push({
    key: manifestKey,
    body: JSON.stringify({ DestinationBucket: writer.bucket, MapRunArn: run.mapRunArn, ResultFiles: listed }),
  });
  return { manifestKey, files };
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
