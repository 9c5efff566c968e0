import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJobInput } from '../../local/cli/input.js';
import { UsageError } from '../../local/cli/exit-codes.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { validateJob } from '../../shared/job-intake.js';
import { parseJsonlStream, type ManifestLine } from '../../shared/store/object-store.js';
import { createReadStream } from 'node:fs';

const request = { jobType: 'prompt', options: { model: 'gpt-4.1-mini' } };

function lines(count: number): string {
  return Array.from({ length: count }, (_, i) => JSON.stringify({ id: `p-${i}`, prompt: `About ${i}` })).join('\n');
}

async function collect(items: AsyncIterable<ManifestLine>): Promise<ManifestLine[]> {
  const all: ManifestLine[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** `llm-batch run <file>` checks the file in one read and reads its items again when the job is written. */
describe('reading a run input file', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-batch-input-'));
    file = join(dir, 'items.jsonl');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('GIVEN a valid file with blank lines WHEN read THEN the count and items are those validateJob keeps in memory', async () => {
    await writeFile(file, `${lines(3)}\n\n${JSON.stringify({ id: 'p-3', prompt: 'Ünïcode 例' })}\n`);

    const input = await readJobInput(file, request, createDefaultRegistry());

    const inMemory = await validateJob(request, parseJsonlStream(createReadStream(file)), createDefaultRegistry());
    expect(input.itemCount).toBe(4);
    expect(input.jobType).toBe('prompt');
    expect(await collect(input.items())).toEqual(inMemory.items);
    // Each call reads the file again.
    expect(await collect(input.items())).toHaveLength(4);
  });

  test.each([
    ['a line is appended', (path: string) => appendFile(path, `\n${JSON.stringify({ id: 'p-9', prompt: 'x' })}\n`)],
    ['a line is edited in place', (path: string) => writeFile(path, lines(3).replace('About 1', 'About 7'))],
    ['a line is removed', (path: string) => writeFile(path, lines(2))],
    ['a line turns invalid', (path: string) => writeFile(path, lines(2) + '\n{"id": 3}')],
  ])(
    'GIVEN a checked file WHEN %s before the job is written THEN its items throw a UsageError',
    async (_what, change) => {
      await writeFile(file, lines(3));
      const input = await readJobInput(file, request, createDefaultRegistry());

      await change(file);

      const error = await collect(input.items()).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `${file} changed while llm-batch read it; no job was created: run again once it is written`,
      );
    },
  );

  test('GIVEN a file with a duplicate id WHEN read THEN the error names both lines and no items are offered', async () => {
    await writeFile(file, `${lines(2)}\n${JSON.stringify({ id: 'p-0', prompt: 'again' })}\n`);

    await expect(readJobInput(file, request, createDefaultRegistry())).rejects.toThrow(
      `${file}: line 3: duplicate id "p-0" (first seen at line 1)`,
    );
  });
});
