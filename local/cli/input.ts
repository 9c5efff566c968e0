import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UnknownJobTypeError, ValidationError } from '../../shared/errors.js';
import { checkJob, itemsReadAgain, type CheckedJob } from '../../shared/job-intake.js';
import type { JobTypeRegistry } from '../../shared/job-types/registry.js';
import { parseJsonlStream, type JsonlLine, type ManifestLine } from '../../shared/store/object-store.js';
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
  const changed = () =>
    new UsageError(`${file} changed while llm-batch read it; no job was created: run again once it is written`);
  const readLines = rereadableFile(file, changed);
  try {
    const checked = await checkJob({ jobType, options: request.options }, readLines(), jobTypes);
    const type = jobTypes.get(checked.jobType);
    return { ...checked, items: () => itemsReadAgain(readLines(), type, checked.itemCount, changed) };
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

/**
 * A file's lines, to read more than once: the first read notes the SHA-256 of its bytes, a later
 * one that ends with other bytes throws `changed()` (the file was written in between).
 */
function rereadableFile(file: string, changed: () => Error): () => AsyncGenerator<JsonlLine> {
  let digest: string | undefined;
  return async function* read() {
    const hash = createHash('sha256');
    const stream = createReadStream(file).on('data', (chunk) => hash.update(chunk));
    try {
      yield* parseJsonlStream(stream);
    } finally {
      stream.destroy();
    }
    const read = hash.digest('hex');
    if (digest === undefined) digest = read;
    else if (read !== digest) throw changed();
  };
}
