import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UnknownJobTypeError, ValidationError } from '../../shared/errors.js';
import { validateJob, type ValidatedJob } from '../../shared/job-intake.js';
import type { JobTypeRegistry } from '../../shared/job-types/registry.js';
import { parseJsonlStream } from '../../shared/store/object-store.js';
import { UsageError } from './exit-codes.js';

export interface JobRequestOptions {
  jobType?: string;
  options: Record<string, unknown>;
}

/** Guesses the job type from the first parsable line: OpenAI Batch request lines or {"id","prompt"}. */
export async function detectJobType(file: string): Promise<string> {
  for await (const entry of parseJsonlStream(createReadStream(file))) {
    if (entry.error !== undefined || typeof entry.value !== 'object' || entry.value === null) continue;
    const line = entry.value as Record<string, unknown>;
    if ('custom_id' in line) return 'openai-batch';
    if ('prompt' in line) return 'prompt';
    if ('text' in line) return 'classify';
    break;
  }
  return 'openai-batch';
}

/**
 * Reads and checks the whole input file before anything starts: a bad line is a UsageError
 * naming its line number (exit 2), and no job is created.
 */
export async function readJobInput(
  file: string,
  request: JobRequestOptions,
  jobTypes: JobTypeRegistry,
): Promise<ValidatedJob> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new UsageError(`${file}: no such file`);
  const jobType = request.jobType ?? (await detectJobType(file));
  try {
    return await validateJob({ jobType, options: request.options }, parseJsonlStream(createReadStream(file)), jobTypes);
  } catch (error) {
    if (error instanceof ValidationError) {
      const details = error.issues.length
        ? error.issues.map((issue) => `  ${file}: ${issue.where}: ${issue.message}`).join('\n')
        : `  ${error.message}`;
      throw new UsageError(`invalid input, no job was created:\n${details}`);
    }
    if (error instanceof UnknownJobTypeError) throw new UsageError(error.message);
    throw error;
  }
}
