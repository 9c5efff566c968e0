import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { UsageError } from './exit-codes.js';

/** `<input>.results.jsonl` beside the input. */
export function defaultOutPath(file: string): string {
  const extension = extname(file);
  return join(dirname(file), `${basename(file, extension)}.results.jsonl`);
}

/**
 * Checks, before any job starts, that the results file can be written: otherwise the finished
 * results would be lost at the end of the run. A problem is a UsageError naming the path (exit 2).
 */
export async function checkOutPath(outPath: string, inputFile: string): Promise<void> {
  const fail = (reason: string) => new UsageError(`--out ${outPath}: ${reason}; no job was started`);
  const [out, input] = await Promise.all([statOrUndefined(outPath), statOrUndefined(inputFile)]);
  const sameFile = out && input && out.dev === input.dev && out.ino === input.ino;
  if (resolve(outPath) === resolve(inputFile) || sameFile) throw fail('is the input file');
  if (out?.isDirectory()) throw fail('is a directory');
  const directory = dirname(outPath);
  const parent = await statOrUndefined(directory);
  if (!parent) throw fail(`directory ${directory} does not exist`);
  if (!parent.isDirectory()) throw fail(`${directory} is not a directory`);
  const writable = await access(out ? outPath : directory, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!writable) throw fail(out ? 'the file is not writable' : `directory ${directory} is not writable`);
}

function statOrUndefined(path: string) {
  return stat(path).catch(() => undefined);
}
