import { randomUUID } from 'node:crypto';
import { ValidationError } from '../../shared/errors.js';
import { isRecord } from '../../shared/is-record.js';
import type { ApiDeps } from './api-deps.js';
import { json, parseJsonBody, type HttpEvent, type HttpResult } from './http.js';
import { API_INPUT_PREFIX, checkInputKey } from './input-key.js';

/** Where uploads go: a folder of their own under inputs/, one per upload, so nothing is overwritten. */
export const UPLOAD_PREFIX = `${API_INPUT_PREFIX}uploads/`;
/** The largest input file one upload takes: 1 GiB (a million items of 1 KiB). S3 takes 5 GB in one PUT. */
export const UPLOAD_MAX_BYTES = 1024 ** 3;
/** How long the upload URL is valid: S3 checks it when the PUT starts. */
export const UPLOAD_URL_EXPIRES_SECONDS = 15 * 60;
export const UPLOAD_CONTENT_TYPE = 'application/x-ndjson';
const DEFAULT_FILE_NAME = 'input.jsonl';
const KNOWN_FIELDS = ['contentLength', 'fileName'];

function invalid(where: string, message: string): ValidationError {
  return new ValidationError(message, where);
}

/**
 * POST /uploads `{ "contentLength": <bytes>, "fileName"?: "items.jsonl" }`: a presigned S3 PUT
 * URL for a new key under inputs/uploads/, to pass as input.key to POST /jobs. The size is
 * signed into the URL (Content-Length is a signed header), so S3 refuses a body of another size;
 * the size asked for is checked against UPLOAD_MAX_BYTES here.
 */
export async function createUpload(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const body = parseJsonBody(event);
  if (!isRecord(body)) throw invalid('body', 'must be a JSON object');
  for (const field of Object.keys(body))
    if (!KNOWN_FIELDS.includes(field)) throw invalid(field, `unknown field; known fields: ${KNOWN_FIELDS.join(', ')}`);
  const { contentLength } = body;
  if (typeof contentLength !== 'number' || !Number.isInteger(contentLength) || contentLength < 1) {
    throw invalid('contentLength', 'is required: the size of the file in bytes, a positive integer');
  }
  if (contentLength > UPLOAD_MAX_BYTES) {
    throw invalid('contentLength', `is ${contentLength} bytes; an upload takes at most ${UPLOAD_MAX_BYTES} bytes`);
  }
  const key = uploadKey(body.fileName);
  const url = await deps.objects.presignPut(
    { bucket: deps.objects.bucket, key },
    { contentLength, contentType: UPLOAD_CONTENT_TYPE, expiresInSeconds: UPLOAD_URL_EXPIRES_SECONDS },
  );
  return json(201, {
    key,
    url,
    method: 'PUT',
    headers: { 'content-length': String(contentLength), 'content-type': UPLOAD_CONTENT_TYPE },
    maxBytes: UPLOAD_MAX_BYTES,
    expiresAt: expiresAt(url),
  });
}

/** inputs/uploads/<uuid>/<fileName>, checked as input.key is (one segment, no dots, no encoding). */
function uploadKey(fileName: unknown): string {
  if (fileName !== undefined && (typeof fileName !== 'string' || !fileName || fileName.includes('/'))) {
    throw invalid('fileName', 'must be a file name without "/", e.g. "items.jsonl"');
  }
  try {
    return checkInputKey(`${UPLOAD_PREFIX}${randomUUID()}/${fileName ?? DEFAULT_FILE_NAME}`);
  } catch (error) {
    if (error instanceof ValidationError) throw invalid('fileName', error.detail);
    throw error;
  }
}

/** When the URL stops working, read from the URL itself (S3 counts from its X-Amz-Date). */
function expiresAt(url: string): string | null {
  const query = new URL(url).searchParams;
  const signed = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(query.get('X-Amz-Date') ?? '');
  const seconds = Number(query.get('X-Amz-Expires'));
  if (!signed || !Number.isFinite(seconds)) return null;
  const [, y, mo, d, h, mi, s] = signed;
  return new Date(Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`) + seconds * 1000).toISOString();
}
