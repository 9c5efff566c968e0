import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UnknownJobTypeError, ValidationError } from '../../shared/errors.js';
import { checkJob, itemsReadAgain, type CheckedJob } from '../../shared/job-intake.js';
import type { JobType } from '../../shared/job-types/job-type.js';
import type { JobTypeRegistry } from '../../shared/job-types/registry.js';
import { parseJsonlStream, type ManifestLine } from '../../shared/store/object-store.js';
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

/** A checked input file: its items are read again from the file when the job is written. */
export interface CheckedInput extends CheckedJob {
  /** The file's items in order; throws (and nothing is written) when the file changed since it was checked. */
  items(): AsyncGenerator<ManifestLine>;
}

/**
 * Reads and checks the whole input file before anything starts: a bad line is a UsageError
 * naming its line number (exit 2), and no job is created. Only the ids are held while checking,
 * not the items: a million-line file is read twice rather than kept in memory.
 */
export async function readJobInput(
  file: string,
  request: JobRequestOptions,
  jobTypes: JobTypeRegistry,
): Promise<CheckedInput> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new UsageError(`${file}: no such file`);
  const jobType = request.jobType ?? (await detectJobType(file));
  const read = hashedRead(file);
  try {
    const checked = await checkJob({ jobType, options: request.options }, parseJsonlStream(read.stream), jobTypes);
    const digest = read.digest();
    return { ...checked, items: () => readCheckedItems(file, jobTypes.get(jobType), checked.itemCount, digest) };
  } catch (error) {
    read.stream.destroy();
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

/** The file's bytes as a stream, and their SHA-256 once the stream has ended. */
function hashedRead(file: string): { stream: ReadStream; digest(): string } {
  const hash = createHash('sha256');
  const stream = createReadStream(file).on('data', (chunk) => hash.update(chunk));
  return { stream, digest: () => hash.digest('hex') };
}

/** The items of a file that passed `checkJob`, read again; the same bytes, or a UsageError. */
async function* readCheckedItems(
  file: string,
  jobType: JobType,
  itemCount: number,
  digest: string,
): AsyncGenerator<ManifestLine> {
  const changed = () =>
    new UsageError(`${file} changed while llm-batch read it; no job was created: run again once it is written`);
  const read = hashedRead(file);
  try {
    yield* itemsReadAgain(parseJsonlStream(read.stream), jobType, itemCount, changed);
  } finally {
    read.stream.destroy();
  }
  if (read.digest() !== digest) throw changed();
}
