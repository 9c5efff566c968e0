/**
 * The mock's two transports, the HTTP server and the in-process fetch, as one request and answer
 * shape: reading bodies (with the size limit), headers, and the JSON and multipart parsers.
 */
import type { IncomingMessage } from 'node:http';
import { isRecord } from '../../shared/is-record.js';
import { HttpError, badRequest } from './http-error.js';
import { apiError } from './shapes.js';

/** Largest request body accepted (a 200 MB batch file plus multipart framing). */
const MAX_BODY_BYTES = 210 * 1024 * 1024;

export interface RequestContext {
  url: URL;
  /** A request header, or null. */
  header(name: string): string | null;
  json(): Promise<Record<string, unknown>>;
  form(): Promise<FormData>;
}

/** One request, from either transport (the HTTP server or the in-process fetch). */
export interface MockRequest {
  method: string;
  url: URL;
  authorization: string | null;
  headers(): Headers;
  body(): Promise<Buffer>;
}

/** One answer, for either transport. */
export interface MockAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function hasBearer(header: string | null): boolean {
  return typeof header === 'string' && /^Bearer\s+\S+/.test(header);
}

export function contextFor(request: MockRequest): RequestContext {
  const { url } = request;
  return {
    url,
    header: (name) => request.headers().get(name),
    async json() {
      const raw = (await request.body()).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw === '' ? '{}' : raw);
      } catch {
        throw badRequest('We could not parse the JSON body of your request.', 'invalid_json');
      }
      if (!isRecord(parsed)) throw badRequest('The request body must be a JSON object.', 'invalid_json');
      return parsed;
    },
    async form() {
      const body = await request.body();
      try {
        return await new Request(url, { method: 'POST', headers: request.headers(), body }).formData();
      } catch (error) {
        throw badRequest(`Could not parse the multipart form: ${String(error)}`, 'invalid_multipart');
      }
    },
  };
}

export function headersOf(request: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  }
  return headers;
}

function tooLarge(): HttpError {
  return new HttpError(413, apiError('Request body too large.', 'invalid_request_error'));
}

/**
 * A fetch call as a MockRequest. A string or byte body (every JSON call of the SDK) is used as
 * is; anything else (a multipart upload) goes through a Request, which encodes it.
 */
export async function fetchRequest(
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<MockRequest & { signal: AbortSignal | undefined }> {
  if (
    input instanceof Request ||
    !(init.body === undefined || init.body === null || typeof init.body === 'string' || init.body instanceof Uint8Array)
  ) {
    const request = new Request(input, init);
    const body = Buffer.from(await request.arrayBuffer());
    return {
      method: request.method,
      url: new URL(request.url),
      authorization: request.headers.get('authorization'),
      headers: () => request.headers,
      body: () => (body.length > MAX_BODY_BYTES ? Promise.reject(tooLarge()) : Promise.resolve(body)),
      signal: request.signal,
    };
  }
  const headers = new Headers(init.headers);
  const raw = init.body;
  const body =
    raw === undefined || raw === null
      ? Buffer.alloc(0)
      : typeof raw === 'string'
        ? Buffer.from(raw, 'utf8')
        : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    method: (init.method ?? 'GET').toUpperCase(),
    url: new URL(input),
    authorization: headers.get('authorization'),
    headers: () => headers,
    body: () => (body.length > MAX_BODY_BYTES ? Promise.reject(tooLarge()) : Promise.resolve(body)),
    signal: init.signal ?? undefined,
  };
}

export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
