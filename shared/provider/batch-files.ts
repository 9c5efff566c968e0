import { InvalidRequestError, ProviderError, errorMessage } from '../errors.js';
import { isRecord } from '../is-record.js';
import {
  SUPPORTED_URLS,
  type OutputLine,
  type ProviderErrorBody,
  type ProviderRequest,
  type SupportedUrl,
} from '../types.js';
import type { RequestResult } from './provider.js';
import { usageFromBody } from './usage.js';

/**
 * The files of the OpenAI Batch API: the JSONL input file built from a batch's requests, and the
 * output and error files read back into one result per custom_id.
 */

/** OpenAI Batch API limits. */
export const MAX_REQUESTS_PER_BATCH = 50_000;
export const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;

/** A batch's input file (one JSONL line per request) and the one url its requests target. */
export interface BatchInputFile {
  endpoint: SupportedUrl;
  bytes: Buffer;
}

/** Checks a batch against the Batch API's constraints and builds its input file. */
export function batchInputFile(requests: ProviderRequest[]): BatchInputFile {
  const endpoint = batchEndpoint(requests);
  const bytes = Buffer.from(toJsonl(requests), 'utf8');
  if (bytes.length > MAX_BATCH_FILE_BYTES) {
    throw new InvalidRequestError(
      `batch input file is ${bytes.length} bytes; the Batch API accepts at most ${MAX_BATCH_FILE_BYTES}: use smaller batches`,
      'batch_too_large',
    );
  }
  return { endpoint, bytes };
}

/**
 * The results of a finished batch by custom_id: its output file, then its error file (each
 * downloaded only when the batch has it); the first line for a custom_id wins.
 */
export async function resultsByCustomId(
  fileIds: ReadonlyArray<string | null | undefined>,
  download: (fileId: string) => Promise<string>,
): Promise<Map<string, RequestResult>> {
  const results = new Map<string, RequestResult>();
  for (const fileId of fileIds) {
    if (!fileId) continue;
    for (const line of parseOutputFile(await download(fileId), fileId)) {
      if (!results.has(line.custom_id)) results.set(line.custom_id, resultFromLine(line));
    }
  }
  return results;
}

/** The one url every request of a batch targets (an OpenAI constraint), after checking the batch. */
function batchEndpoint(requests: ProviderRequest[]): SupportedUrl {
  const first = requests[0];
  if (first === undefined) {
    throw new InvalidRequestError('a batch needs at least one request', 'empty_batch');
  }
  if (requests.length > MAX_REQUESTS_PER_BATCH) {
    throw new InvalidRequestError(
      `a batch holds at most ${MAX_REQUESTS_PER_BATCH} requests, got ${requests.length}: use smaller batches`,
      'batch_too_large',
    );
  }
  const urls = new Set(requests.map((request) => request.url));
  if (urls.size > 1) {
    throw new InvalidRequestError(
      `all requests in one batch must share one url (an OpenAI Batch API constraint), got ${[...urls].join(', ')}`,
      'mixed_urls',
    );
  }
  if (!(SUPPORTED_URLS as readonly string[]).includes(first.url)) {
    throw new InvalidRequestError(`unsupported url "${first.url}"`, 'unsupported_url');
  }
  const seen = new Set<string>();
  for (const request of requests) {
    if (seen.has(request.custom_id)) {
      throw new InvalidRequestError(
        `custom_id "${request.custom_id}" appears twice in the batch; the Batch API needs unique ids`,
        'duplicate_custom_id',
      );
    }
    seen.add(request.custom_id);
  }
  return first.url;
}

function toJsonl(requests: ProviderRequest[]): string {
  return requests
    .map(({ custom_id, url, body }) => JSON.stringify({ custom_id, method: 'POST', url, body }))
    .join('\n')
    .concat('\n');
}

/** Parses a batch output or error file; blank lines are skipped, a malformed line is a ProviderError. */
function parseOutputFile(text: string, fileId: string): OutputLine[] {
  const lines: OutputLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (raw.trim() === '') return;
    const where = `line ${index + 1} of batch file ${fileId}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new ProviderError(`malformed ${where}: ${errorMessage(error)}`, { cause: error });
    }
    lines.push(toOutputLine(parsed, where));
  });
  return lines;
}

function toOutputLine(value: unknown, where: string): OutputLine {
  const malformed = (reason: string) => new ProviderError(`malformed ${where}: ${reason}`);
  if (!isRecord(value)) throw malformed('not a JSON object');
  const { id, custom_id: customId, response, error } = value;
  if (typeof customId !== 'string' || customId === '') throw malformed('no custom_id');
  if (id !== undefined && id !== null && typeof id !== 'string') throw malformed('id is not a string');

  let outputResponse: OutputLine['response'] = null;
  if (response !== undefined && response !== null) {
    if (!isRecord(response) || typeof response.status_code !== 'number') {
      throw malformed('response has no numeric status_code');
    }
    outputResponse = {
      status_code: response.status_code,
      request_id: typeof response.request_id === 'string' ? response.request_id : '',
      body: response.body,
    };
  }
  let outputError: ProviderErrorBody | null = null;
  if (error !== undefined && error !== null) {
    if (!isRecord(error)) throw malformed('error is not an object');
    outputError = {
      code: typeof error.code === 'string' && error.code !== '' ? error.code : 'request_failed',
      message: typeof error.message === 'string' ? error.message : '',
    };
  }
  if (outputResponse === null && outputError === null) throw malformed('neither response nor error');
  return { id: typeof id === 'string' ? id : '', custom_id: customId, response: outputResponse, error: outputError };
}

/**
 * A line with a 2xx response and no error succeeded; anything else failed. A failed line whose
 * `error` is null (an HTTP error answer) gets one from the response body, so every failed result
 * carries `output.error`.
 */
function resultFromLine(line: OutputLine): RequestResult {
  const usage = usageFromBody(line.response?.body);
  const statusCode = line.response?.status_code;
  if (line.error === null && statusCode !== undefined && statusCode >= 200 && statusCode < 300) {
    return { outcome: 'succeeded', output: line, usage };
  }
  return { outcome: 'failed', output: { ...line, error: line.error ?? errorFromResponse(line) }, usage };
}

function errorFromResponse(line: OutputLine): ProviderErrorBody {
  const statusCode = line.response?.status_code ?? 0;
  const body = line.response?.body;
  const apiError = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const code = apiError?.code;
  const message = apiError?.message;
  return {
    code: typeof code === 'string' && code !== '' ? code : `http_${statusCode}`,
    message: typeof message === 'string' && message !== '' ? message : `the provider answered ${statusCode}`,
  };
}
