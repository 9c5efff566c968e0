import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { MAX_ITEMS_PER_REQUEST } from '../shared/limits.js';
import { LAMBDA_EVENT_MAX_BYTES } from '../tasks/api/request-limits.js';

/**
 * Room left in Lambda's 6 MB event for what is not the body: the headers (a SigV4 signature, a
 * token) and API Gateway's request context.
 */
export const EVENT_OVERHEAD_BYTES = 16 * 1024;

/** Whether POST /jobs can carry these items inline: at most 50,000, and a body that fits Lambda's event. */
export function fitsInline(itemCount: number, body: string): boolean {
  // The event carries the body as a JSON string: quotes, backslashes and newlines take two bytes there.
  const eventBytes = Buffer.byteLength(JSON.stringify(body)) + EVENT_OVERHEAD_BYTES;
  return itemCount <= MAX_ITEMS_PER_REQUEST && eventBytes <= LAMBDA_EVENT_MAX_BYTES;
}

/** Bytes to upload: their size up front (it is signed into the URL) and a body that can be read again per attempt. */
export interface UploadSource {
  contentLength: number;
  fileName: string;
  body: () => ReadableStream<Uint8Array>;
}

/** JSONL of `items`, one line each, kept as chunks (a million items may pass V8's largest string). */
export function jsonlSource(items: Iterable<unknown>, fileName = 'items.jsonl'): UploadSource {
  const chunks: Buffer[] = [];
  let contentLength = 0;
  for (const item of items) {
    const line = Buffer.from(`${JSON.stringify(item)}\n`);
    chunks.push(line);
    contentLength += line.length;
  }
  return { contentLength, fileName, body: () => Readable.toWeb(Readable.from(chunks)) as ReadableStream<Uint8Array> };
}

/** Bytes already in memory. */
export function bytesSource(data: string | Uint8Array, fileName = 'items.jsonl'): UploadSource {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return {
    contentLength: bytes.length,
    fileName,
    body: () => Readable.toWeb(Readable.from([bytes])) as ReadableStream<Uint8Array>,
  };
}

/** A file on disk, streamed (never read whole into memory). */
export async function fileSource(path: string): Promise<UploadSource> {
  const info = await stat(path);
  return {
    contentLength: info.size,
    fileName: basename(path),
    body: () => Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
  };
}
