import { access, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { cli } from '../support/cli.js';

async function inputFile(): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-cli-'));
  const file = join(dir, 'items.jsonl');
  await writeFile(file, `${JSON.stringify({ id: 'a', prompt: 'hello' })}\n`);
  return { dir, file };
}

/** A port nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('llm-batch run: --out is checked before the job starts', () => {
  test.each([
    [
      'in a missing directory',
      (dir: string) => join(dir, 'missing', 'out.jsonl'),
      /directory .*missing does not exist/,
    ],
    ['a directory', (dir: string) => join(dir, 'results'), /is a directory/],
    ['the input file', (dir: string) => join(dir, 'items.jsonl'), /is the input file/],
  ])('GIVEN --out %s WHEN run THEN it exits 2 with the reason and runs no job', async (_, outOf, reason) => {
    // Arrange
    const { dir, file } = await inputFile();
    await mkdir(join(dir, 'results'));
    const out = outOf(dir);

    // Act
    const result = await cli(['run', file, '--out', out]);

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(reason);
    expect(result.stderr).toContain(`--out ${out}:`);
    expect(result.stderr).not.toMatch(/job job-\S+ started/);
    expect(result.stdout).toBe('');
    expect(await exists(join(dir, 'items.results.jsonl'))).toBe(false);
  });
});

describe('llm-batch --api: a bad or silent address is one line', () => {
  test('GIVEN --api not-a-url WHEN status or run THEN it exits 2 saying what --api must be', async () => {
    // Arrange
    const { file } = await inputFile();

    // Act
    const status = await cli(['status', 'job-x', '--api', 'not-a-url']);
    const run = await cli(['run', file, '--api', 'not-a-url']);

    // Assert
    for (const result of [status, run]) {
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        'llm-batch: --api must be an http(s) URL such as http://127.0.0.1:3000, got "not-a-url"\n',
      );
    }
  });

  test('GIVEN no server at --api WHEN status THEN one line names the URL, without a stack trace', async () => {
    // Arrange
    const api = `http://127.0.0.1:${await closedPort()}`;

    // Act
    const result = await cli(['status', 'job-x', '--api', api]);

    // Assert
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `llm-batch: no answer from ${api}/jobs/job-x (connection refused); is the API running there?\n`,
    );
  });
});
