import { isRecord } from '../../shared/is-record.js';
import type { RequestEndpoint } from './answers.js';
import { badRequest } from './http-error.js';

/** Checking a batch create call and parsing its JSONL input file. */

/** Endpoints a batch may target here. */
export const BATCH_ENDPOINTS: readonly RequestEndpoint[] = ['/v1/responses', '/v1/chat/completions'];

export const MAX_BATCH_LINES = 50_000;
const MAX_METADATA_KEYS = 16;

export interface BatchCreateBody {
  input_file_id?: unknown;
  endpoint?: unknown;
  completion_window?: unknown;
  metadata?: unknown;
}

export interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** The checked fields of POST /v1/batches; a bad call is a 400 at once. */
export function checkCreateBody(body: BatchCreateBody): {
  inputFileId: string;
  endpoint: RequestEndpoint;
  completionWindow: string;
  metadata: Record<string, string> | null;
} {
  const { input_file_id: inputFileId, endpoint, completion_window: completionWindow, metadata } = body;
  if (typeof inputFileId !== 'string' || inputFileId === '') {
    throw badRequest("Missing required parameter: 'input_file_id'.", 'missing_required_parameter', 'input_file_id');
  }
  if (typeof endpoint !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(endpoint)) {
    throw badRequest(
      `Invalid value for 'endpoint': expected one of ${BATCH_ENDPOINTS.join(', ')} (the mock serves these), got ${JSON.stringify(endpoint)}.`,
      'invalid_value',
      'endpoint',
    );
  }
  if (completionWindow !== '24h') {
    throw badRequest(
      `Invalid value for 'completion_window': expected '24h', got ${JSON.stringify(completionWindow)}.`,
      'invalid_value',
      'completion_window',
    );
  }
  if (metadata !== undefined && metadata !== null) {
    const entries = isRecord(metadata) ? Object.entries(metadata) : undefined;
    const valid =
      entries !== undefined &&
      entries.length <= MAX_METADATA_KEYS &&
      entries.every(([key, value]) => key.length <= 64 && typeof value === 'string' && value.length <= 512);
    if (!valid) {
      throw badRequest(
        `Invalid 'metadata': at most ${MAX_METADATA_KEYS} string values, keys up to 64 and values up to 512 characters.`,
        'invalid_value',
        'metadata',
      );
    }
  }
  return {
    inputFileId,
    endpoint: endpoint as RequestEndpoint,
    completionWindow,
    metadata: (metadata as Record<string, string> | null | undefined) ?? null,
  };
}

export interface ParsedLine {
  customId: string;
  body: Record<string, unknown>;
}

/** Parses a batch input file: every non-blank line a request for `endpoint`, custom_ids unique. */
export function parseInput(content: string, endpoint: RequestEndpoint): { lines: ParsedLine[]; errors: BatchError[] } {
  const lines: ParsedLine[] = [];
  const errors: BatchError[] = [];
  const seen = new Set<string>();
  const fail = (code: string, message: string, line: number, param: string | null = null) =>
    errors.push({ code, message, param, line });
  content.split(/\r?\n/).forEach((raw, index) => {
    if (raw.trim() === '') return;
    const lineNumber = index + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      fail('invalid_json_line', `Line ${lineNumber} is not valid JSON.`, lineNumber);
      return;
    }
    if (!isRecord(parsed))
      return void fail('invalid_json_line', `Line ${lineNumber} is not a JSON object.`, lineNumber);
    const { custom_id: customId, method, url, body } = parsed;
    if (typeof customId !== 'string' || customId === '') {
      return void fail('missing_required_parameter', `Line ${lineNumber} has no custom_id.`, lineNumber, 'custom_id');
    }
    if (seen.has(customId)) {
      return void fail(
        'duplicate_custom_id',
        `The custom_id '${customId}' appears more than once.`,
        lineNumber,
        'custom_id',
      );
    }
    seen.add(customId);
    if (method !== 'POST') {
      return void fail('invalid_value', `Line ${lineNumber}: method must be POST.`, lineNumber, 'method');
    }
    if (url !== endpoint) {
      return void fail(
        'mismatched_endpoint',
        `Line ${lineNumber}: url ${JSON.stringify(url)} does not match the batch endpoint ${endpoint}.`,
        lineNumber,
        'url',
      );
    }
    if (!isRecord(body))
      return void fail('invalid_value', `Line ${lineNumber}: body must be an object.`, lineNumber, 'body');
    lines.push({ customId, body });
  });
  if (errors.length === 0 && lines.length === 0) {
    errors.push({ code: 'empty_file', message: 'The input file has no requests.', param: null, line: null });
  }
  if (lines.length > MAX_BATCH_LINES) {
    errors.push({
      code: 'too_many_requests',
      message: `A batch holds at most ${MAX_BATCH_LINES} requests; the file has ${lines.length}.`,
      param: null,
      line: null,
    });
  }
  return { lines, errors };
}
