/** Checks and paging of the Step Functions API's requests, with the errors AWS answers. */
import { StepFunctionsApiError } from './errors.js';
import type { Json } from './json-path.js';

/** AWS: 1-80 characters, no whitespace, brackets, wildcards or special characters. */
export function checkName(name: string): void {
  if (name.length < 1 || name.length > 80 || /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new StepFunctionsApiError('InvalidName', `Invalid Name: '${name}'`);
  }
}

export function parseInput(input: unknown): { text: string; value: Json } {
  if (input === undefined || input === null) return { text: '{}', value: {} };
  if (typeof input === 'string') {
    try {
      return { text: input, value: JSON.parse(input) as Json };
    } catch {
      throw new StepFunctionsApiError(
        'InvalidExecutionInput',
        'Invalid State Machine Execution Input: the input is not JSON',
      );
    }
  }
  const text = JSON.stringify(input);
  return { text, value: JSON.parse(text) as Json };
}

export function sameInput(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

export function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

export function readPageToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64url').toString()) as { offset?: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new StepFunctionsApiError('InvalidToken', 'Invalid Token: the nextToken is not one this endpoint handed out');
}

export function pageSize(maxResults: number | undefined, fallback: number, max: number): number {
  if (maxResults === undefined || maxResults === 0) return fallback;
  if (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > max) {
    throw new StepFunctionsApiError('ValidationException', `maxResults must be an integer from 0 to ${max}`);
  }
  return maxResults;
}
