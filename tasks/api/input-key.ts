import { ValidationError } from '../../shared/errors.js';

/** Where API callers put input files in the job bucket: the only prefix the API may read. */
export const API_INPUT_PREFIX = 'inputs/';

/**
 * A key is accepted only in the one spelling S3 stores it under, so that the prefix check means
 * what it says: "inputs/../jobs/x" starts with inputs/ but names (after any normalization on the
 * way) another job's files.
 */
const KEY_RULES: readonly { breaks: (key: string) => boolean; message: string }[] = [
  { breaks: (key) => key.startsWith('/'), message: 'must be relative: no leading "/"' },
  { breaks: (key) => key.includes('\\'), message: 'must separate segments with "/", not "\\"' },
  { breaks: (key) => key.includes('%'), message: 'must not be percent-encoded: give the key as it is stored' },
  {
    breaks: (key) => !key.startsWith(API_INPUT_PREFIX),
    message: `must be under ${API_INPUT_PREFIX} in the job bucket`,
  },
  { breaks: (key) => key.split('/').includes(''), message: 'must not have empty segments ("//" or a trailing "/")' },
  {
    breaks: (key) => key.split('/').some((segment) => segment === '.' || segment === '..'),
    message: 'must not have "." or ".." segments',
  },
];

/** input.key as given, if it is a normalized relative key under inputs/; else a 400 saying why not. */
export function checkInputKey(key: unknown): string {
  if (typeof key !== 'string' || !key)
    throw new ValidationError('must be the S3 key of a JSONL file in the job bucket', 'input.key');
  for (const rule of KEY_RULES) {
    if (rule.breaks(key)) throw new ValidationError(`${rule.message}, got ${JSON.stringify(key)}`, 'input.key');
  }
  return key;
}
