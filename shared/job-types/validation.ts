/** Small checks shared by the job types; each throws a ValidationError naming the field. */
import { ValidationError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { JobOptions } from '../types.js';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a value reads in a message: "a number", "an array", "null". */
export function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** An input line must be a JSON object. */
export function requireLineObject(line: unknown): Record<string, unknown> {
  if (!isPlainObject(line)) {
    throw new ValidationError(`each line must be a JSON object, got ${kindOf(line)}`);
  }
  return line;
}

export function requireString(value: unknown, where: string): string {
  if (value === undefined) throw new ValidationError('is required: a non-empty string', where);
  if (typeof value !== 'string') {
    throw new ValidationError(`must be a non-empty string, got ${kindOf(value)}`, where);
  }
  if (value.trim() === '') throw new ValidationError('must be a non-empty string, got an empty one', where);
  return value;
}

export function optionalString(value: unknown, where: string): string | undefined {
  return value === undefined ? undefined : requireString(value, where);
}

export function requireObject(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) throw new ValidationError('is required: a JSON object', where);
  if (!isPlainObject(value)) throw new ValidationError(`must be a JSON object, got ${kindOf(value)}`, where);
  return value;
}

/** Reject keys a job type does not know (a misspelt `temlate` would otherwise be ignored silently). */
export function rejectUnknownKeys(object: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      const expected = known.length > 0 ? `known ones: ${known.join(', ')}` : 'none are accepted here';
      throw new ValidationError(`"${key}" is not a known setting; ${expected}`, `${where}.${key}`);
    }
  }
}

/** The job's model, for job types that build the request themselves. */
export function requireModel(options: JobOptions, jobType: string): string {
  if (options.model === undefined) {
    throw new ValidationError(`is required for ${jobType} jobs: set the job's model option`, 'model');
  }
  return requireString(options.model, 'model');
}

/** The job's params, which must be an object. */
export function paramsOf(options: JobOptions): Record<string, unknown> {
  return requireObject(options.params, 'params');
}

/** OpenAI's limit on custom_id length, in characters (code points), also for ids that become custom_ids. */
export const MAX_CUSTOM_ID_LENGTH = 512;

/**
 * An item's record is keyed `ITEM#<id>`, and a DynamoDB sort key holds at most 1,024 bytes of
 * UTF-8: 512 CJK characters (1,536 bytes) would pass the character limit and fail mid-run.
 */
export const MAX_CUSTOM_ID_BYTES = 1024 - Buffer.byteLength(keys.itemPrefix);

/** In a `u` regex a surrogate pair is one code point, so \p{Cs} matches only unpaired halves (as isWellFormed). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * An item id: any Unicode text that round-trips exactly through JSON, UTF-8 and the store. A lone
 * surrogate has no UTF-8 form (it would come back as U+FFFD), so it is refused here, by line.
 */
export function requireItemId(value: unknown, where: string): string {
  const id = requireString(value, where);
  const surrogate = LONE_SURROGATE.exec(id);
  if (surrogate) {
    const at = [...id.slice(0, surrogate.index)].length + 1;
    const code = surrogate[0].charCodeAt(0).toString(16).toUpperCase();
    throw new ValidationError(
      `has a lone surrogate (U+${code}) at character ${at}, which has no UTF-8 form; ids must be valid Unicode`,
      where,
    );
  }
  const characters = [...id].length;
  if (characters > MAX_CUSTOM_ID_LENGTH) {
    throw new ValidationError(`is ${characters} characters long; at most ${MAX_CUSTOM_ID_LENGTH} are allowed`, where);
  }
  const bytes = Buffer.byteLength(id);
  if (bytes > MAX_CUSTOM_ID_BYTES) {
    throw new ValidationError(`is ${bytes} bytes in UTF-8; at most ${MAX_CUSTOM_ID_BYTES} are allowed`, where);
  }
  return id;
}
