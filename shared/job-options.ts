import { ValidationError } from './errors.js';
import type { JobType } from './job-types/job-type.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_TOLERATED_FAILURE_PERCENTAGE,
  MAX_BATCH_SIZE,
  MAX_MAP_CONCURRENCY,
  MAX_MAX_ATTEMPTS,
  MODE_DEFAULTS,
} from './limits.js';
import { PROVIDER_MODES, type JobOptions, type ProviderMode } from './types.js';
import { isRecord } from './is-record.js';

function integerIn(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, where);
  }
  return value;
}

/**
 * Checks a job's options and fills in the defaults. `raw` is what the caller sent (API body,
 * schedule template, CLI flags); errors name the field as `options.<field>`.
 */
export function resolveJobOptions(raw: unknown, jobType: JobType): JobOptions {
  if (raw !== undefined && !isRecord(raw)) throw new ValidationError('must be an object', 'options');
  const input = raw ?? {};
  const known = new Set([
    'mode',
    'model',
    'batchSize',
    'maxConcurrency',
    'toleratedFailurePercentage',
    'maxAttempts',
    'params',
  ]);
  for (const field of Object.keys(input)) {
    if (!known.has(field)) {
      throw new ValidationError(`unknown option; known options: ${[...known].join(', ')}`, `options.${field}`);
    }
  }
  const mode = (input.mode ?? 'responses') as ProviderMode;
  if (!PROVIDER_MODES.includes(mode)) {
    throw new ValidationError(
      `must be one of ${PROVIDER_MODES.join(', ')}, got ${JSON.stringify(input.mode)}`,
      'options.mode',
    );
  }
  if (input.model !== undefined && (typeof input.model !== 'string' || !input.model.trim())) {
    throw new ValidationError('must be a non-empty string', 'options.model');
  }
  if (input.params !== undefined && !isRecord(input.params)) {
    throw new ValidationError('must be an object', 'options.params');
  }
  const defaults = MODE_DEFAULTS[mode];
  const options: JobOptions = {
    mode,
    ...(typeof input.model === 'string' ? { model: input.model } : {}),
    batchSize: integerIn(input.batchSize ?? defaults.batchSize, 'options.batchSize', 1, MAX_BATCH_SIZE),
    maxConcurrency: integerIn(
      input.maxConcurrency ?? defaults.maxConcurrency,
      'options.maxConcurrency',
      1,
      MAX_MAP_CONCURRENCY,
    ),
    toleratedFailurePercentage: integerIn(
      input.toleratedFailurePercentage ?? DEFAULT_TOLERATED_FAILURE_PERCENTAGE,
      'options.toleratedFailurePercentage',
      0,
      100,
    ),
    maxAttempts: integerIn(input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 'options.maxAttempts', 1, MAX_MAX_ATTEMPTS),
    params: input.params ?? {},
  };
  try {
    jobType.compile(options);
  } catch (error) {
    // Job types name their fields relative to the options (`params.labels`); say where they sit.
    if (error instanceof ValidationError)
      throw new ValidationError(error.detail, `options.${error.where ?? jobType.name}`);
    throw error;
  }
  return options;
}

/** The job's attempt bound; jobs created before the option existed get the default. */
export function maxAttemptsOf(options: Pick<JobOptions, 'maxAttempts'>): number {
  return options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
}
